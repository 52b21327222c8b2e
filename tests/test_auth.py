# tests/test_auth.py - auth(8): brute-force throttling seen through pop3d (growing
# delays, then refusal even of the right password, per client IP and per user), the
# fail2ban-shaped log line, passwords never logged, yescrypt and SHA-512-crypt hashes,
# and the private socket protocol (auth, lookup, malformed requests and garbage frames).
import crypt  # noqa: F401  (deprecated in 3.11, still the simplest yescrypt source)
import os
import re
import socket
import struct
import sys
import time
import unittest
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from dns import pstipc  # noqa: E402
from test_pop3d import MailHost, Raw, require_programs, USER, PASSWORD, VUID, VGID  # noqa: E402

# The filter a fail2ban jail would use (<HOST> as fail2ban writes it).
FAIL2BAN = r"postilion/auth\[\d+\]: warning: authentication failed: user=<[^>]*>, service=\S+, rip=<HOST>(,|$)"


def fail2ban_hosts(text):
    rx = re.compile(FAIL2BAN.replace("<HOST>", r"(?P<host>[0-9a-fA-F.:]+)"), re.M)
    return [m.group("host") for m in rx.finditer(text)]


def yescrypt(password):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import crypt as c
        h = c.crypt(password, "$y$j9T$F5Jx5fExrKuPp53xLKQ..1")
    assert h and h.startswith("$y$"), h
    return h


class AuthTest(harness.LogsOnFailure):
    def setUp(self):
        require_programs()
        self.bob_pw = "bob's yescrypt password"
        self.host = MailHost(
            auth_params={"auth_failure_delay": "1s", "auth_failure_max_delay": "3s",
                         "auth_failure_limit": "3", "auth_failure_window": "60s"},
            users={USER: PASSWORD, "bob@example.test": self.bob_pw},
            hashes={"bob@example.test": yescrypt(self.bob_pw)})
        self.addCleanup(self.host.stop)
        self.host.start_auth()
        self.port = self.host.start_pop3d("pop3d_auth_failure_limit=5")
        self.socket = os.path.join(self.host.spool, "private", "auth")
        # Two client addresses on loopback.
        self.ip1 = self.host.addr
        self.ip2 = harness.address()

    def on_failure(self):
        if hasattr(self, "host"):
            sys.stderr.write(self.host.log_text())

    def log(self):
        with open(self.host.maillog, errors="replace") as f:
            return f.read()

    def test_brute_force_is_delayed_then_refused(self):
        r = Raw(self.host.addr, self.port, source=self.ip1, timeout=30)
        self.assertTrue(r.cmd("USER " + USER).startswith("+OK"))
        delays = []
        for i in range(3):
            start = time.monotonic()
            got = r.cmd("PASS guess-%d" % i)
            delays.append(time.monotonic() - start)
            self.assertEqual("-ERR [AUTH] authentication failed", got)
            r.cmd("USER " + USER)
        # 1s, 2s, 3s (auth_failure_delay times the failures, at most 3s).
        self.assertGreaterEqual(delays[0], 0.9)
        self.assertGreaterEqual(delays[1], 1.9)
        self.assertGreaterEqual(delays[2], 2.9)
        # Past the limit the right password is refused too, at once.
        start = time.monotonic()
        got = r.cmd("PASS " + PASSWORD)
        self.assertTrue(got.startswith("-ERR [SYS/TEMP]"), got)
        self.assertLess(time.monotonic() - start, 0.9)
        r.close()
        # Another client address is refused for this user...
        r2 = Raw(self.host.addr, self.port, source=self.ip2)
        r2.cmd("USER " + USER)
        self.assertTrue(r2.cmd("PASS " + PASSWORD).startswith("-ERR [SYS/TEMP]"))
        # ...but may log in as another user; the guessing address may not.
        r2.cmd("USER bob@example.test")
        self.assertTrue(r2.cmd("PASS " + self.bob_pw).startswith("+OK logged in"))
        r2.cmd("QUIT")
        r3 = Raw(self.host.addr, self.port, source=self.ip1)
        r3.cmd("USER bob@example.test")
        self.assertTrue(r3.cmd("PASS " + self.bob_pw).startswith("-ERR [SYS/TEMP]"))
        r3.close()

        text = self.log()
        hosts = fail2ban_hosts(text)
        self.assertEqual([self.ip1] * 3, hosts[:3])
        self.assertIn(self.ip2, hosts)
        self.assertIn("warning: authentication failed: user=<%s>, service=pop3d, rip=%s, reason=bad password"
                      % (USER, self.ip1), text)
        self.assertIn("reason=too many failures", text)
        for secret in (PASSWORD, self.bob_pw, "guess-0", "guess-2"):
            self.assertNotIn(secret, text)

    def test_socket_protocol(self):
        ok = pstipc.call(self.socket, [("cmd", "auth"), ("service", "imapd"), ("user", "bob@example.test"),
                                       ("password", self.bob_pw), ("client", "192.0.2.9")])
        self.assertEqual("ok", pstipc.get(ok, "status"))
        self.assertEqual(str(VUID), pstipc.get(ok, "uid"))
        self.assertEqual(str(VGID), pstipc.get(ok, "gid"))
        self.assertEqual(self.host.maildir("bob@example.test") + "/", pstipc.get(ok, "maildir"))
        self.assertIsNone(pstipc.get(ok, "password"))
        look = pstipc.call(self.socket, [("cmd", "lookup"), ("user", USER)])
        self.assertEqual("ok", pstipc.get(look, "status"))
        self.assertEqual(self.host.maildir(USER) + "/", pstipc.get(look, "maildir"))
        rows = [
            ([("cmd", "lookup"), ("user", "nobody@example.test")], "fail"),
            ([("cmd", "auth"), ("service", "pop3d"), ("user", USER), ("client", "192.0.2.9")], "fail"),
            ([("cmd", "auth"), ("service", "telnetd"), ("user", USER), ("password", PASSWORD),
              ("client", "192.0.2.9")], "fail"),
            ([("cmd", "shutdown"), ("user", USER)], "fail"),
            ([("user", USER)], "fail"),
            ([("cmd", "lookup"), ("user", "../../etc/passwd")], "fail"),
        ]
        for attrs, want in rows:
            self.assertEqual(want, pstipc.get(pstipc.call(self.socket, attrs), "status"), attrs)
        # Garbage frames end that connection; the daemon keeps answering others.
        for junk in (b"\xff\xff\xff\xff" + b"x" * 100, struct.pack(">I", 5) + b"\x00\x09abc",
                     b"GET / HTTP/1.0\r\n\r\n"):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(10)
            s.connect(self.socket)
            s.sendall(junk)
            if junk.startswith(struct.pack(">I", 5)):
                s.shutdown(socket.SHUT_WR)
            self.assertEqual(b"", s.recv(100))
            s.close()
        again = pstipc.call(self.socket, [("cmd", "lookup"), ("user", USER)])
        self.assertEqual("ok", pstipc.get(again, "status"))
        self.assertIn("auth client:", self.log())

    def test_unknown_user_costs_like_a_wrong_password(self):
        def timed(user):
            start = time.monotonic()
            rep = pstipc.call(self.socket, [("cmd", "auth"), ("service", "smtpd"), ("user", user),
                                            ("password", "nope"), ("client", "198.51.100.%d" % len(user))])
            return pstipc.get(rep, "status"), time.monotonic() - start
        st1, t1 = timed(USER)
        st2, t2 = timed("ghost@example.test")
        self.assertEqual(("fail", "fail"), (st1, st2))
        self.assertGreaterEqual(t1, 0.9)
        self.assertGreaterEqual(t2, 0.9)
        self.assertIn("user=<ghost@example.test>, service=smtpd, rip=198.51.100.18, reason=unknown user", self.log())


if __name__ == "__main__":
    harness.main()
