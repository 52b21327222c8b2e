# tests/test_slow_clients.py - slow clients ("slowloris") on the SMTP, IMAP and POP3
# ports, in clear text and TLS from the first byte, each never silent long enough for an
# idle timeout: on IMAP and POP3 a client that never logs in but keeps the connection
# busy - one byte of a command line at a time, or NOOP after NOOP - is disconnected when
# imapd_login_timeout / pop3d_login_timeout (3 s here) is over; on SMTP a command line
# trickled byte by byte is timed out by smtpd_per_request_deadline (smtpd_timeout 3 s),
# and NOOP after NOOP reaches the error limit through smtpd_junk_command_limit. A client
# that logs in in time keeps its session.
import os
import poplib
import pwd
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from test_pop3d import sha512_crypt  # noqa: E402

PASSWORD = "slow client's password"
LOGIN_TIMEOUT = 3
BYE = {"imap": b"* BYE login timeout", "imaps": b"* BYE login timeout",
       "pop3": b"-ERR login timeout", "pop3s": b"-ERR login timeout"}
# SMTP: what ends each kind of slow client
SMTP_END = {"trickle": b"421 4.4.2", "noop": b"421 4.7.0"}
JUNK_LIMIT, HARD_ERROR_LIMIT = 4, 3


class SlowClientTest(harness.InstanceTestCase):
    @classmethod
    def setUpClass(cls):
        cls.services = ("imap", "imaps", "pop3", "pop3s")

    def start(self):
        for d in ("master", "imapd", "pop3d", "auth"):
            harness.require_daemon(self, d)
        inst = self.make_instance(ports=("smtp", "smtps") + self.services, tls=True)
        inst.init()
        # Sessions run as the mailbox owner, never as root.
        owner = pwd.getpwnam("nobody") if os.geteuid() == 0 else pwd.getpwuid(os.getuid())
        mail = os.path.join(inst.base, "mail")
        os.makedirs(mail, mode=0o755)
        os.chown(mail, owner.pw_uid, owner.pw_gid)
        maildir = os.path.join(mail, "slow")
        users = os.path.join(inst.config_dir, "users")
        with open(users, "w") as f:
            f.write("slow %s:%d:%d:%s/\n" % (sha512_crypt(PASSWORD), owner.pw_uid, owner.pw_gid, maildir))
        inst.ctl("map", "build", users, check=True)
        with open(inst.main_conf(), "a") as f:
            f.write("auth_backends = virtual\nauth_virtual_users = hash:%s\n" % users)
            for d in ("imapd", "pop3d"):
                f.write("%s_login_timeout = %ds\n%s_timeout = 60s\n" % (d, LOGIN_TIMEOUT, d))
                f.write("%s_client_connection_count_limit = 0\n" % d)
            f.write("smtpd_timeout = %ds\nsmtpd_junk_command_limit = %d\nsmtpd_hard_error_limit = %d\n"
                    "smtpd_client_connection_count_limit = 0\n" % (LOGIN_TIMEOUT, JUNK_LIMIT, HARD_ERROR_LIMIT))
        inst.start()
        inst.wait_ready()
        return inst

    def connect(self, inst, service):
        raw = socket.create_connection((inst.addr, inst.ports[service]), timeout=20)
        if service.endswith("s"):
            return harness.tls_client_context().wrap_socket(raw)
        return raw

    def drip(self, inst, service, chunks):
        """Sends chunks one every 0.4 s until the server closes; returns (seconds from
        connecting to the close, everything the server sent)."""
        s = self.connect(inst, service)
        t0 = time.monotonic()
        got = b""
        s.settimeout(0.4)
        try:
            for chunk in chunks:
                if time.monotonic() - t0 > 30:
                    break
                try:
                    s.sendall(chunk)
                except OSError:
                    break
                pause = time.monotonic() + 0.4
                closed = False
                while not closed and time.monotonic() < pause:
                    try:
                        data = s.recv(4096)
                        closed = not data
                        got += data
                    except socket.timeout:
                        pass
                    except OSError:
                        closed = True
                if closed:
                    break
        finally:
            s.close()
        return time.monotonic() - t0, got

    def test_trickling_and_busy_clients_are_disconnected(self):
        inst = self.start()

        def trickle():
            while True:
                yield b"a"  # one byte of a command line that never ends

        def noops(service):
            n = 0
            while True:
                n += 1
                yield (b"a%d NOOP\r\n" % n) if service.startswith("imap") else b"NOOP\r\n"

        for service in self.services:
            for kind, chunks in (("trickle", trickle()), ("noop", noops(service))):
                took, got = self.drip(inst, service, chunks)
                self.assertIn(BYE[service], got[-200:], "%s %s: %r" % (service, kind, got[-200:]))
                self.assertGreaterEqual(took, LOGIN_TIMEOUT - 0.5, "%s %s" % (service, kind))
                self.assertLess(took, LOGIN_TIMEOUT + 10, "%s %s" % (service, kind))
        inst.wait_log("login timeout from [127.0.0.1]")

    def test_slow_smtp_clients_are_disconnected(self):
        inst = self.start()

        def trickle():
            yield b"EHLO slow.test\r\n"
            while True:
                yield b"M"  # a MAIL command that never ends

        def noops():
            while True:
                yield b"NOOP\r\n"

        for service in ("smtp", "smtps"):
            took, got = self.drip(inst, service, trickle())
            self.assertIn(SMTP_END["trickle"], got[-200:], "%s trickle: %r" % (service, got[-200:]))
            self.assertGreaterEqual(took, LOGIN_TIMEOUT - 0.5, service)
            self.assertLess(took, LOGIN_TIMEOUT + 10, service)
            took, got = self.drip(inst, service, noops())
            self.assertIn(SMTP_END["noop"], got[-200:], "%s noop: %r" % (service, got[-200:]))
            # The junk limit, then the hard error limit: not one NOOP more.
            self.assertEqual(JUNK_LIMIT + HARD_ERROR_LIMIT, got.count(b"250 2.0.0 Ok\r\n"), service)
        inst.wait_log("timeout after EHLO from")
        inst.wait_log("too many errors after NOOP from")

    def test_a_client_that_logs_in_keeps_its_session(self):
        inst = self.start()
        c = poplib.POP3(inst.addr, inst.ports["pop3"], timeout=20)
        c.user("slow")
        c.pass_(PASSWORD)
        time.sleep(LOGIN_TIMEOUT + 1.5)
        self.assertEqual(b"+OK", c.noop()[:3])
        c.quit()


if __name__ == "__main__":
    harness.main()
