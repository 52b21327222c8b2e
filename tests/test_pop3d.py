# tests/test_pop3d.py - pop3d(8) with auth(8) from the build tree: poplib with STLS,
# UIDL, TOP, RETR, DELE then QUIT, a dropped session that keeps its mail, implicit TLS,
# AUTH PLAIN, plaintext refused without TLS, malformed and oversized commands, idle
# timeout, a 10,000-message mailbox, two sessions of one mailbox at once (and with
# pop3d_lock_session two clients racing for it), privilege
# separation, and fetchmail pulling a mailbox over STLS.
# The mailboxes are written as Maildir files directly. MailHost is shared with
# tests/test_auth.py.
import os
import poplib
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402

ROOT = os.geteuid() == 0
# Virtual users own their mail as this uid (a number without a passwd entry, so the
# test shows the session really switched to it); a non-root run uses its own uid.
VUID = 12345 if ROOT else os.getuid()
VGID = 12345 if ROOT else os.getgid()
USER = "alice@example.test"
PASSWORD = "correct horse battery"


def require_programs():
    for name in ("pop3d", "auth", "postilionctl"):
        harness.require_program(name)


def sha512_crypt(password):
    r = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=password, text=True,
                       stdout=subprocess.PIPE, check=True)
    return r.stdout.strip()


class MailHost:
    """auth + pop3d on a private config and spool, started and stopped by PID."""

    def __init__(self, auth_params=None, users=None, hashes=None):
        self.base = tempfile.mkdtemp(prefix="pop3-", dir=harness.tmp_root())
        os.chmod(self.base, 0o755)
        self.etc = os.path.join(self.base, "etc")
        self.spool = os.path.join(self.base, "spool")
        self.mail = os.path.join(self.base, "mail")
        self.maillog = os.path.join(self.base, "maillog")
        for d in (self.etc, os.path.join(self.spool, "private"), self.mail):
            os.makedirs(d)
        os.chmod(self.mail, 0o755)
        os.chmod(os.path.join(self.spool, "private"), 0o700)
        self.addr = harness.address()
        self.procs = []
        self.users = users or {USER: PASSWORD}
        self.cert = os.path.join(self.etc, "cert.pem")
        self.key = os.path.join(self.etc, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=mail.example.test", "-keyout", self.key, "-out", self.cert],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        conf = {
            "queue_directory": self.spool,
            "mail_owner": "nobody" if ROOT else harness_user(),
            "maillog_file": self.maillog,
            "auth_backends": "virtual",
            "auth_virtual_users": "hash:" + os.path.join(self.etc, "users"),
            "pop3d_tls_cert_file": self.cert,
            "pop3d_tls_key_file": self.key,
        }
        conf.update(auth_params or {})
        with open(os.path.join(self.etc, "main.conf"), "w") as f:
            for k, v in conf.items():
                f.write("%s = %s\n" % (k, v))
        open(os.path.join(self.etc, "master.conf"), "w").close()
        with open(os.path.join(self.etc, "users"), "w") as f:
            for user, pw in self.users.items():
                h = (hashes or {}).get(user) or sha512_crypt(pw)
                f.write("%s %s:%d:%d:%s/\n" % (user, h, VUID, VGID, self.maildir(user)))
        r = subprocess.run([harness.program("postilionctl"), "-c", self.etc, "map", "build",
                            os.path.join(self.etc, "users")], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            raise AssertionError("map build: " + r.stdout)
        for user in self.users:
            self.make_maildir(user)

    # ---- mailboxes -------------------------------------------------------------
    def maildir(self, user):
        return os.path.join(self.mail, user.split("@")[0], "Maildir")

    def make_maildir(self, user):
        md = self.maildir(user)
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(md, sub), exist_ok=True)
        self.chown_tree(os.path.dirname(md))

    def chown_tree(self, path):
        if not ROOT:
            return
        for dirpath, dirnames, filenames in os.walk(path):
            os.chown(dirpath, VUID, VGID)
            for n in filenames:
                os.chown(os.path.join(dirpath, n), VUID, VGID)

    def add_messages(self, user, texts, where="new"):
        """Writes each text as a Maildir message; returns the file names in order."""
        md = self.maildir(user)
        names = []
        for i, text in enumerate(texts):
            name = "%d.M%dP%d.test" % (1700000000 + i, i, os.getpid())
            path = os.path.join(md, where, name + (":2,S" if where == "cur" else ""))
            with open(path, "wb") as f:
                f.write(text.encode() if isinstance(text, str) else text)
            # Distinct times give a defined delivery order (UIDs follow it).
            os.utime(path, (1700000000 + i, 1700000000 + i))
            if ROOT:
                os.chown(path, VUID, VGID)
            names.append(name)
        return names

    def messages(self, user):
        md = self.maildir(user)
        return sorted(os.listdir(os.path.join(md, "new")) + os.listdir(os.path.join(md, "cur")))

    # ---- processes -----------------------------------------------------------------
    def _spawn(self, args, logname):
        logf = open(os.path.join(self.base, logname), "a")
        p = subprocess.Popen(args, stdout=logf, stderr=subprocess.STDOUT)
        logf.close()
        self.procs.append(p)
        return p

    def start_auth(self, *overrides):
        args = [harness.program("auth"), "--standalone", "-c", self.etc]
        for o in overrides:
            args += ["-o", o]
        p = self._spawn(args, "auth.out")
        harness.wait_socket(os.path.join(self.spool, "private", "auth"), p, what="auth", log=self.log_text)
        return p

    def start_pop3d(self, *overrides):
        """Starts a pop3d listener on a new port; returns the port."""
        port = harness.port()
        args = [harness.program("pop3d"), "--standalone", "-c", self.etc, "-l", "%s:%d" % (self.addr, port)]
        for o in overrides:
            args += ["-o", o]
        p = self._spawn(args, "pop3d.out")
        harness.wait_listening(self.addr, port, p, what="pop3d", log=self.log_text)
        return port

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    os.kill(p.pid, signal.SIGKILL)
                    p.wait(5)

    def log_text(self):
        out = ""
        for n in ("maillog", "auth.out", "pop3d.out"):
            try:
                with open(os.path.join(self.base, n), errors="replace") as f:
                    out += "---- %s ----\n%s" % (n, f.read()[-8000:])
            except OSError:
                pass
        return out


def harness_user():
    import pwd
    return pwd.getpwuid(os.getuid()).pw_name


tls_context = harness.tls_client_context


class Raw:
    """A line-level POP3 client for hostile input."""

    def __init__(self, addr, port, timeout=10, source=None):
        self.s = socket.create_connection((addr, port), timeout=timeout,
                                          source_address=(source, 0) if source else None)
        self.buf = b""
        self.greeting = self.line()

    def send(self, data):
        self.s.sendall(data if isinstance(data, bytes) else data.encode())

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError("closed; buffered %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("latin-1")

    def cmd(self, text):
        self.send(text + "\r\n")
        return self.line()

    def multiline(self):
        lines = []
        while True:
            l = self.line()
            if l == ".":
                return lines
            lines.append(l[1:] if l.startswith("..") else l)

    def closed(self, timeout=10):
        """True when the server closes the connection (after any pending lines)."""
        self.s.settimeout(timeout)
        try:
            while True:
                chunk = self.s.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except socket.timeout:
            return False

    def close(self):
        self.s.close()


MSG1 = "From: a@example.test\nSubject: first\n\nline one\n.starts with a dot\nline three\n"
MSG2 = "From: b@example.test\r\nSubject: second\r\n\r\nbody two\r\n"
MSG3 = "From: c@example.test\nSubject: third\n\n" + "".join("line %d\n" % i for i in range(50))


class Pop3Test(harness.LogsOnFailure):
    def setUp(self):
        require_programs()
        self.host = MailHost()
        self.addCleanup(self.host.stop)
        self.host.start_auth()
        self.port = self.host.start_pop3d()

    def on_failure(self):
        if hasattr(self, "host"):
            sys.stderr.write(self.host.log_text())

    def login(self, stls=True, port=None):
        p = poplib.POP3(self.host.addr, port or self.port, timeout=20)
        if stls:
            p.stls(tls_context())
        p.user(USER)
        p.pass_(PASSWORD)
        return p

    def test_poplib_stls_uidl_top_retr_dele_quit(self):
        self.host.add_messages(USER, [MSG1, MSG2, MSG3])
        p = poplib.POP3(self.host.addr, self.port, timeout=20)
        caps = p.capa()
        self.assertIn("STLS", caps)
        self.assertIn("UIDL", caps)
        p.stls(tls_context())
        self.assertNotIn("STLS", p.capa())  # not twice
        p.user(USER)
        p.pass_(PASSWORD)
        count, size = p.stat()
        self.assertEqual(3, count)
        sizes = [int(l.split()[1]) for l in p.list()[1]]
        crlf = [len(m.replace("\r\n", "\n").replace("\n", "\r\n")) for m in (MSG1, MSG2, MSG3)]
        self.assertEqual(crlf, sizes)
        self.assertEqual(sum(crlf), size)
        uidls = [l.split()[1] for l in p.uidl()[1]]
        self.assertEqual(3, len(set(uidls)))
        resp, lines, octets = p.retr(1)
        self.assertEqual(MSG1.rstrip("\n").split("\n"), [l.decode() for l in lines])
        resp, lines, _ = p.top(3, 5)
        self.assertEqual(["From: c@example.test", "Subject: third", ""] + ["line %d" % i for i in range(5)],
                         [l.decode() for l in lines])
        self.assertTrue(p.dele(2).startswith(b"+OK"))
        self.assertRaises(poplib.error_proto, p.retr, 2)
        self.assertEqual(2, p.stat()[0])
        p.quit()
        self.assertEqual(2, len(self.host.messages(USER)))

        # A session that marks everything deleted and then drops the connection
        # deletes nothing; UIDLs are the same in every session.
        p = self.login()
        self.assertEqual([uidls[0], uidls[2]], [l.split()[1] for l in p.uidl()[1]])
        p.dele(1)
        p.dele(2)
        # Drop the connection without QUIT (poplib's file object holds the socket too).
        p.sock.shutdown(socket.SHUT_RDWR)
        p.file.close()
        p.sock.close()
        harness.wait_for(lambda: self.login_possible(), what="mailbox unlocked after the drop")
        self.assertEqual(2, len(self.host.messages(USER)))
        p = self.login()
        self.assertEqual([uidls[0], uidls[2]], [l.split()[1] for l in p.uidl()[1]])
        p.quit()
        self.assertIn("disconnect: user=<%s>" % USER, open(self.host.maillog).read())

    def login_possible(self):
        try:
            p = self.login(stls=False)
        except poplib.error_proto:
            return False
        p.quit()
        return True

    def test_uidl_stable_when_imap_moves_message(self):
        # The same numbering IMAP uses: a message moved to cur/ with flags keeps its UIDL.
        names = self.host.add_messages(USER, [MSG1, MSG2])
        p = self.login()
        before = p.uidl()[1]
        p.quit()
        md = self.host.maildir(USER)
        os.rename(os.path.join(md, "new", names[0]), os.path.join(md, "cur", names[0] + ":2,S"))
        p = self.login()
        self.assertEqual(before, p.uidl()[1])
        self.assertEqual(MSG1.rstrip("\n").split("\n"), [l.decode() for l in p.retr(1)[1]])
        p.quit()

    def test_implicit_tls(self):
        self.host.add_messages(USER, [MSG2])
        port = self.host.start_pop3d("pop3d_tls_wrappermode=yes", "pop3d_plaintext_auth=no")
        p = poplib.POP3_SSL(self.host.addr, port, context=tls_context(), timeout=20)
        self.assertNotIn("STLS", p.capa())
        self.assertIn("USER", p.capa())
        p.user(USER)
        p.pass_(PASSWORD)
        self.assertEqual(1, p.stat()[0])
        p.quit()
        self.assertIn("tls=yes", open(self.host.maillog).read())

    def test_plaintext_login_refused_without_tls(self):
        port = self.host.start_pop3d("pop3d_plaintext_auth=no")
        r = Raw(self.host.addr, port)
        capa = (r.cmd("CAPA"), r.multiline())
        self.assertIn("STLS", capa[1])
        self.assertNotIn("USER", capa[1])
        self.assertTrue(r.cmd("USER " + USER).startswith("-ERR [AUTH] plaintext authentication disallowed"))
        self.assertTrue(r.cmd("AUTH PLAIN AGFsaWNlAHg=").startswith("-ERR [AUTH]"))
        r.close()
        # Over STLS the same login works.
        p = self.login(port=port)
        p.quit()

    def test_auth_plain(self):
        import base64
        self.host.add_messages(USER, [MSG1])
        cred = base64.b64encode(("\0%s\0%s" % (USER, PASSWORD)).encode()).decode()
        r = Raw(self.host.addr, self.port)
        self.assertEqual("+OK", r.cmd("AUTH")[:3])
        self.assertEqual(["PLAIN"], r.multiline())
        self.assertTrue(r.cmd("AUTH LOGIN").startswith("-ERR"))
        self.assertEqual("+ ", r.cmd("AUTH PLAIN"))
        self.assertTrue(r.cmd("*").startswith("-ERR authentication cancelled"))
        self.assertEqual("+ ", r.cmd("AUTH PLAIN"))
        self.assertTrue(r.cmd("not base64!").startswith("-ERR"))
        bad = base64.b64encode(("\0%s\0wrong" % USER).encode()).decode()
        self.assertTrue(r.cmd("AUTH PLAIN " + bad).startswith("-ERR [AUTH] authentication failed"))
        self.assertEqual("+ ", r.cmd("AUTH PLAIN"))
        self.assertTrue(r.cmd(cred).startswith("+OK logged in, 1 messages"))
        self.assertTrue(r.cmd("STAT").startswith("+OK 1 "))
        self.assertTrue(r.cmd("QUIT").startswith("+OK"))
        self.assertTrue(r.closed())

    def test_malformed_and_oversized_commands(self):
        self.host.add_messages(USER, [MSG1])
        r = Raw(self.host.addr, self.port)
        rows = [
            ("", "-ERR empty command"),
            ("XYZZY", "-ERR unknown command"),
            ("STAT", "-ERR command not valid before login"),
            ("RETR 1", "-ERR command not valid before login"),
            ("PASS x", "-ERR USER first"),
            ("USER a b", "-ERR syntax error"),
            ("GET / HTTP/1.1", "-ERR unknown command"),
            ("USER \x01\x02", "-ERR syntax error"),
            ("A" * 5000, "-ERR line too long"),
            ("NOOP" + " " * 400 + "x", "-ERR line too long"),
        ]
        for line, want in rows:
            got = r.cmd(line)
            self.assertTrue(got.startswith(want), "%r -> %r" % (line[:40], got))
        # Binary junk with a NUL: a clear -ERR, and the session goes on.
        self.assertTrue(r.cmd("\x00\xff\xfe").startswith("-ERR"))
        # A line sent a byte at a time is one command.
        for ch in "CAPA\r\n":
            r.send(ch)
        self.assertTrue(r.line().startswith("+OK"))
        self.assertIn("UIDL", r.multiline())
        # Pipelined: USER, PASS and STAT in one packet.
        r.send("USER %s\r\nPASS %s\r\nSTAT\r\nLIST 0\r\nRETR 99\r\nTOP 1\r\nDELE 1 2\r\n" % (USER, PASSWORD))
        self.assertTrue(r.line().startswith("+OK"))
        self.assertTrue(r.line().startswith("+OK logged in"))
        self.assertTrue(r.line().startswith("+OK 1 "))
        self.assertEqual("-ERR invalid message number", r.line())
        self.assertEqual("-ERR no such message", r.line())
        self.assertTrue(r.line().startswith("-ERR syntax error"))
        self.assertTrue(r.line().startswith("-ERR syntax error"))
        self.assertTrue(r.cmd("B" * 100000).startswith("-ERR line too long"))
        self.assertTrue(r.cmd("NOOP").startswith("+OK"))
        r.close()
        # Too many errors end the session.
        r = Raw(self.host.addr, self.port)
        r.send("BOGUS\r\n" * 25)
        self.assertTrue(r.closed())
        self.assertIn("-ERR too many errors", r.buf.decode())
        self.assertEqual(1, len(self.host.messages(USER)))

    def test_idle_timeout(self):
        port = self.host.start_pop3d("pop3d_timeout=2s")
        r = Raw(self.host.addr, port)
        start = time.monotonic()
        self.assertTrue(r.closed(timeout=15))
        self.assertLess(time.monotonic() - start, 12)
        self.assertIn("-ERR idle timeout", r.buf.decode())
        # After login too: the relay closes and nothing is deleted.
        self.host.add_messages(USER, [MSG1])
        r = Raw(self.host.addr, port)
        r.cmd("USER " + USER)
        self.assertTrue(r.cmd("PASS " + PASSWORD).startswith("+OK"))
        self.assertTrue(r.cmd("DELE 1").startswith("+OK"))
        self.assertTrue(r.closed(timeout=15))
        self.assertEqual(1, len(self.host.messages(USER)))

    def test_ten_thousand_messages(self):
        n = 10000
        self.host.add_messages(USER, ["Subject: m%d\n\nbody %d\n" % (i, i) for i in range(n)])
        start = time.monotonic()
        p = self.login(stls=False)
        self.assertEqual(n, p.stat()[0])
        listing = p.list()[1]
        self.assertEqual(n, len(listing))
        uidls = [l.split()[1] for l in p.uidl()[1]]
        self.assertEqual(n, len(set(uidls)))
        self.assertEqual(["Subject: m9999", "", "body 9999"], [l.decode() for l in p.retr(n)[1]])
        p.dele(1)
        p.quit()
        first = time.monotonic() - start
        # Second session: the index is already there.
        start = time.monotonic()
        p = self.login(stls=False)
        self.assertEqual(n - 1, p.stat()[0])
        self.assertEqual(uidls[1:], [l.split()[1] for l in p.uidl()[1]])
        p.quit()
        second = time.monotonic() - start
        sys.stderr.write("\n10000 messages: first session %.2fs, second %.2fs\n" % (first, second))
        self.assertLess(second, 20)

    def test_two_clients_race_for_one_mailbox_with_lock(self):
        port = self.host.start_pop3d("pop3d_lock_session=yes")
        self.host.add_messages(USER, [MSG1, MSG2])
        results = []
        barrier = threading.Barrier(2)

        def client():
            r = Raw(self.host.addr, port)
            r.cmd("USER " + USER)
            barrier.wait(10)
            results.append((r.cmd("PASS " + PASSWORD), r))

        threads = [threading.Thread(target=client) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        answers = sorted(a for a, _ in results)
        self.assertEqual(2, len(answers))
        self.assertTrue(answers[0].startswith("+OK logged in"), answers)
        self.assertEqual("-ERR [IN-USE] mailbox is locked by another POP3 session", answers[1])
        winner = [r for a, r in results if a.startswith("+OK")][0]
        loser = [r for a, r in results if a.startswith("-ERR")][0]
        self.assertTrue(loser.closed())
        self.assertTrue(winner.cmd("DELE 1").startswith("+OK"))
        self.assertTrue(winner.cmd("QUIT").startswith("+OK"))
        # Once the winner is done the mailbox is free again.
        p = self.login(stls=False, port=port)
        self.assertEqual(1, p.stat()[0])
        p.quit()

    def test_two_sessions_at_once_without_lock(self):
        # The default (pop3d_lock_session=no): both log in; deletions by one are no
        # error for the other, and UIDLs stay the same for both.
        self.host.add_messages(USER, [MSG1, MSG2, MSG3])
        a = Raw(self.host.addr, self.port)
        b = Raw(self.host.addr, self.port)
        for r in (a, b):
            r.cmd("USER " + USER)
            self.assertTrue(r.cmd("PASS " + PASSWORD).startswith("+OK logged in, 3 messages"))
        self.assertTrue(a.cmd("UIDL").startswith("+OK"))
        uidl_a = a.multiline()
        self.assertTrue(b.cmd("UIDL").startswith("+OK"))
        self.assertEqual(uidl_a, b.multiline())
        self.assertTrue(a.cmd("DELE 1").startswith("+OK"))
        self.assertTrue(a.cmd("DELE 2").startswith("+OK"))
        self.assertEqual("+OK bye (2 messages deleted)", a.cmd("QUIT"))
        self.assertTrue(a.closed())
        # b's view is the one it logged in with: message 1 is gone from disk.
        self.assertEqual("-ERR message was removed by another session", b.cmd("RETR 1"))
        self.assertTrue(b.cmd("RETR 3").startswith("+OK"))
        self.assertIn("Subject: third", "\n".join(b.multiline()))
        self.assertTrue(b.cmd("DELE 1").startswith("+OK"))
        self.assertTrue(b.cmd("DELE 3").startswith("+OK"))
        self.assertEqual("+OK bye (2 messages deleted)", b.cmd("QUIT"))
        self.assertTrue(b.closed())
        self.assertEqual([], self.host.messages(USER))
        # A new delivery after all that gets a new UIDL, never one used before.
        self.host.add_messages(USER, ["Subject: later\n\nx\n"])
        p = self.login(stls=False)
        later = [l.split()[1] for l in p.uidl()[1]]
        p.quit()
        self.assertEqual(1, len(later))
        self.assertNotIn(later[0], [l.split()[1].encode() for l in uidl_a])

    @unittest.skipUnless(ROOT, "privilege separation needs root")
    def test_privilege_separation(self):
        self.host.add_messages(USER, [MSG1])
        r = Raw(self.host.addr, self.port)

        def pop3d_uids():
            uids = {}
            for d in os.listdir("/proc"):
                if not d.isdigit():
                    continue
                try:
                    with open("/proc/%s/status" % d) as f:
                        st = f.read()
                    with open("/proc/%s/cmdline" % d, "rb") as f:
                        cmd = f.read().split(b"\0")
                except OSError:
                    continue
                if cmd and cmd[0].endswith(b"/pop3d") and b"--session" in cmd and self.host.etc.encode() in cmd:
                    uid = int([l for l in st.splitlines() if l.startswith("Uid:")][0].split()[1])
                    uids[int(d)] = uid
            return uids
        import pwd
        nobody = pwd.getpwnam("nobody").pw_uid
        # Before login: the session process is root and talks only to the login process,
        # which runs as mail_owner and is the one reading the client.
        before = harness.wait_for(lambda: (lambda u: u if len(u) == 2 else None)(pop3d_uids()),
                                  what="two pop3d processes")
        self.assertEqual(sorted([0, nobody]), sorted(before.values()))
        r.cmd("USER " + USER)
        self.assertTrue(r.cmd("PASS " + PASSWORD).startswith("+OK"))
        after = pop3d_uids()
        self.assertEqual(sorted([VUID, nobody]), sorted(after.values()))
        self.assertTrue(r.cmd("QUIT").startswith("+OK"))

    def test_fetchmail_over_stls(self):
        texts = [MSG1, MSG2, MSG3]
        self.host.add_messages(USER, texts)
        home = os.path.join(self.host.base, "fetchhome")
        os.makedirs(home)
        out = os.path.join(home, "delivered")
        rc = os.path.join(home, "fetchmailrc")
        with open(rc, "w") as f:
            f.write('set no bouncemail\n'
                    'poll %s port %d protocol pop3 uidl timeout 30\n'
                    '  user "%s" there with password "%s" is "%s" here\n'
                    "  sslproto 'TLS1.2+' no sslcertck\n"
                    '  mda "/bin/sh -c \'cat >> %s; echo ===END=== >> %s\'"\n'
                    '  fetchall nokeep\n' % (self.host.addr, self.port, USER, PASSWORD,
                                            harness_user(), out, out))
        os.chmod(rc, 0o600)
        env = dict(os.environ, HOME=home, FETCHMAILHOME=home)
        r = subprocess.run(["fetchmail", "-f", rc, "-v", "--nodetach", "--pidfile",
                            os.path.join(home, "pid")], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=120)
        self.assertIn(r.returncode, (0,), r.stdout)
        self.assertIn("STLS", r.stdout)
        with open(out) as f:
            got = f.read()
        self.assertEqual(3, got.count("===END==="), got)
        for t in texts:
            self.assertIn(t.splitlines()[1].replace("\r", ""), got)
        self.assertEqual([], self.host.messages(USER))  # nokeep: deleted at QUIT
        self.assertIn("tls=yes", open(self.host.maillog).read())


if __name__ == "__main__":
    harness.main()
