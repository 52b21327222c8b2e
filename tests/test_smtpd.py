# tests/test_smtpd.py - smtpd(8) over raw sockets: protocol order, PIPELINING batches,
# DATA framing (dot-stuffing, bare LF/CR, NUL, SMTP smuggling), BDAT, limits (line
# length, SIZE, recipients, errors, timeouts), the open-relay set, queue files after
# 250 and the qmgr wake-up. smtpd runs standalone (`smtpd -l addr:port`) from $BUILD_DIR
# or the installed tree, with a fake auth and qmgr service on its private/ sockets.
import os
import resource
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from dns import pstipc  # noqa: E402

USERS = {"alice": "s3cret pass"}


class FakeService(threading.Thread):
    """A lib/ipc server on a Unix socket answering each request with handler(msg)."""

    def __init__(self, path, handler):
        super().__init__(daemon=True)
        self.path = path
        self.handler = handler
        self.requests = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.stopping = False

    def run(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                c.settimeout(5)
                msg = pstipc.read(c)
                self.requests.append(msg)
                c.sendall(pstipc.encode(self.handler(msg)))
            except Exception:
                pass
            finally:
                c.close()

    def stop(self):
        self.stopping = True
        self.sock.close()


def auth_handler(msg):
    user, pw = pstipc.get(msg, "user"), pstipc.get(msg, "password")
    if pstipc.get(msg, "cmd") != "auth" or pstipc.get(msg, "service") != "smtpd":
        return [("status", "fail"), ("text", "bad request")]
    if user == "tempfail":
        return [("status", "tempfail"), ("text", "database down")]
    if USERS.get(user) == pw:
        return [("status", "ok"), ("user", user)]
    return [("status", "fail"), ("text", "wrong password")]


class Smtpd:
    """One smtpd process with its own config dir, spool and log, on an address of its own."""

    def __init__(self, options=None, tls=True, fake_auth=True, fake_qmgr=True, preexec=None, before=None):
        self.base = tempfile.mkdtemp(prefix="smtpd-", dir=harness.tmp_root())
        self.extra = []
        self.options = dict(options or {})
        self.etc = os.path.join(self.base, "etc")
        self.spool = os.path.join(self.base, "spool")
        self.maillog = os.path.join(self.base, "maillog")
        for d in (self.etc, self.spool + "/incoming", self.spool + "/private"):
            os.makedirs(d)
        self.addr = harness.address()
        self.port = harness.port()
        self.cert = os.path.join(self.etc, "cert.pem")
        self.key = os.path.join(self.etc, "key.pem")
        conf = {
            "myhostname": "mail.ours.test", "mydomain": "ours.test",
            "mydestination": "$myhostname, $mydomain, localhost",
            "relay_domains": "relayed.test", "queue_directory": self.spool,
            "maillog_file": self.maillog, "alias_maps": "inline:{postmaster=root, list=root}",
            "mynetworks": "192.0.2.0/24",
        }
        if tls:
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:P-256", "-nodes", "-keyout", self.key, "-out",
                            self.cert, "-days", "1", "-subj", "/CN=mail.ours.test"],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            conf["smtpd_tls_cert_file"] = self.cert
            conf["smtpd_tls_key_file"] = self.key
        else:
            conf["smtpd_tls_security_level"] = "none"
        with open(os.path.join(self.etc, "main.conf"), "w") as f:
            for k, v in conf.items():
                f.write("%s = %s\n" % (k, v))
        self.auth = FakeService(os.path.join(self.spool, "private", "auth"), auth_handler) if fake_auth else None
        self.qmgr = FakeService(os.path.join(self.spool, "private", "qmgr"),
                                lambda m: [("status", "ok")]) if fake_qmgr else None
        for s in (self.auth, self.qmgr):
            if s:
                s.start()
        if before:  # helpers that must run before smtpd starts (anvil, resolver)
            before(self)
        args = [harness.program("smtpd"), "--standalone", "-c", self.etc, "-l", "%s:%d" % (self.addr, self.port)]
        for k, v in (options or {}).items():
            args += ["-o", "%s=%s" % (k, v)]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     preexec_fn=preexec)
        harness.wait_listening(self.addr, self.port, self.proc, 10, "smtpd",
                               log=lambda: self.proc.stderr.read().decode())

    def start_extra(self, args):
        """Another process on this instance's config and spool (a second smtpd, anvil,
        the resolver); stopped with the instance. Returns the Popen."""
        log = os.path.join(self.base, "%s-%d.log" % (os.path.basename(args[0]), len(self.extra)))
        with open(log, "w") as f:
            p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=f)
        p.log = log
        self.extra.append(p)
        return p

    def start_smtpd(self, port, options=None):
        """A second smtpd process on another port, same config and spool."""
        args = [harness.program("smtpd"), "--standalone", "-c", self.etc, "-l", "%s:%d" % (self.addr, port)]
        for k, v in (options or self.options).items():
            args += ["-o", "%s=%s" % (k, v)]
        p = self.start_extra(args)
        harness.wait_listening(self.addr, port, p, 10, "second smtpd", log=lambda: open(p.log).read())
        return p

    def stop_extra(self, p):
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)

    def stop(self):
        for p in self.extra:
            self.stop_extra(p)
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        for s in (self.auth, self.qmgr):
            if s:
                s.stop()

    def log(self):
        try:
            with open(self.maillog, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def queue_ids(self):
        return sorted(n for n in os.listdir(os.path.join(self.spool, "incoming")) if not n.startswith("."))

    def temp_files(self):
        return [n for n in os.listdir(os.path.join(self.spool, "incoming")) if n.startswith(".")]

    def queue_file(self, qid):
        with open(os.path.join(self.spool, "incoming", qid), "rb") as f:
            return f.read()


class Client:
    """A raw SMTP connection that reads whole replies (multi-line aware)."""

    def __init__(self, srv, timeout=10, wrap=False, port=None, source=None):
        self.sock = socket.create_connection((srv.addr, port or srv.port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        if wrap:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            self.sock = ctx.wrap_socket(self.sock)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def reply(self):
        """(code, [lines]) of the next reply; (None, []) at EOF."""
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return (None, lines)
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            text = line.decode("utf-8", "replace")
            lines.append(text)
            if len(text) < 4 or text[3] != "-":
                return (int(text[:3]), lines)

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def replies(self, n):
        return [self.reply()[0] for _ in range(n)]

    def closed(self):
        try:
            return self.sock.recv(1) == b""
        except (ConnectionResetError, socket.timeout):
            return True

    def close(self):
        self.sock.close()

    def starttls(self):
        code, _ = self.cmd("STARTTLS")
        if code != 220:
            raise AssertionError("STARTTLS answered %s" % code)
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.sock = ctx.wrap_socket(self.sock)


MSG = "From: a@b.test\r\nTo: root@ours.test\r\nSubject: t\r\n\r\nhello\r\n"


class SmtpdTestBase(unittest.TestCase):
    options = {}
    tls = True
    preexec = None
    before = None  # fn(Smtpd) run before smtpd starts: helper services

    @classmethod
    def setUpClass(cls):
        if not os.access(harness.program("smtpd"), os.X_OK):
            raise AssertionError("smtpd not built: %s" % harness.program("smtpd"))
        cls.srv = Smtpd(cls.options, tls=cls.tls, preexec=cls.preexec,
                        before=cls.before)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def connect(self, **kw):
        c = Client(self.srv, **kw)
        code, lines = c.reply()
        self.assertEqual(220, code, lines)
        self.addCleanup(c.close)
        return c

    def ehlo(self, c):
        code, lines = c.cmd("EHLO client.test")
        self.assertEqual(250, code)
        return lines


class ProtocolTest(SmtpdTestBase):
    def test_greeting_and_ehlo_keywords(self):
        c = self.connect()
        lines = self.ehlo(c)
        kws = [l[4:].split()[0] for l in lines[1:]]
        for k in ("PIPELINING", "SIZE", "STARTTLS", "ENHANCEDSTATUSCODES", "8BITMIME", "DSN",
                  "SMTPUTF8", "CHUNKING"):
            self.assertIn(k, kws)
        self.assertNotIn("AUTH", kws)  # not without TLS, and not enabled here
        self.assertEqual((221, ["221 2.0.0 Bye"]), c.cmd("QUIT"))

    def test_every_reply_has_an_enhanced_code(self):
        c = self.connect()
        self.ehlo(c)
        for line in ("NOOP", "RSET", "VRFY root", "HELP", "XYZZY", "RCPT TO:<root@ours.test>",
                     "MAIL FROM:<a@b.test>", "MAIL FROM:<a@b.test>", "DATA", "EXPN x"):
            code, lines = c.cmd(line)
            self.assertRegex(lines[-1], r"^\d{3} [245]\.\d{1,3}\.\d{1,3} ", line)
        self.assertEqual(252, c.cmd("VRFY root")[0])

    def test_wrong_order(self):
        c = self.connect()
        self.ehlo(c)
        self.assertEqual(503, c.cmd("RCPT TO:<root@ours.test>")[0])
        self.assertEqual(503, c.cmd("DATA")[0])
        self.assertEqual(250, c.cmd("MAIL FROM:<a@b.test>")[0])
        self.assertEqual(503, c.cmd("MAIL FROM:<a@b.test>")[0])
        self.assertEqual(554, c.cmd("DATA")[0])  # no valid recipients
        self.assertEqual(250, c.cmd("RSET")[0])
        self.assertEqual(503, c.cmd("RCPT TO:<root@ours.test>")[0])

    def test_bad_syntax_and_addresses(self):
        c = self.connect()
        self.ehlo(c)
        self.assertEqual(501, c.cmd("MAIL FROM:a@b c@d")[0])
        self.assertEqual(501, c.cmd("MAIL FROM:<a@b")[0])
        self.assertEqual(555, c.cmd("MAIL FROM:<a@b.test> XFOO=1")[0])
        self.assertEqual(501, c.cmd("MAIL FROM:<a@b.test> SIZE=abc")[0])
        self.assertEqual(553, c.cmd("MAIL FROM:<j\u00f6rg@b.test>")[0])
        self.assertEqual(250, c.cmd("MAIL FROM:<a@b.test>")[0])
        for bad in ("<>", "<a b@ours.test>", "<a@@ours.test>", "<a..b@ours.test>", "root@ours.test>",
                    "<root@ours..test>", "<root@[999.1.1.1]>"):
            self.assertEqual(501, c.cmd("RCPT TO:" + bad)[0], bad)
        self.assertEqual(500, c.cmd("NOOP \x01")[0])
        self.assertEqual(502, c.cmd("FOO")[0])

    def test_overlong_command_line(self):
        c = self.connect()
        self.ehlo(c)
        c.send("NOOP " + "x" * 5000 + "\r\nNOOP\r\n")
        code, lines = c.reply()
        self.assertEqual(500, code)
        self.assertIn("too long", lines[0])
        self.assertEqual(250, c.reply()[0])
        c.send("MAIL FROM:<" + "a" * 100000 + "@b.test>\r\n")
        self.assertEqual(500, c.reply()[0])
        self.assertEqual(250, c.cmd("NOOP")[0])

    def test_http_client_is_dropped(self):
        c = self.connect()
        c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(221, c.reply()[0])
        self.assertTrue(c.closed())

    def test_pipelined_transaction_replies_in_order(self):
        c = self.connect()
        self.ehlo(c)
        c.send("MAIL FROM:<a@b.test>\r\nRCPT TO:<root@ours.test>\r\nRCPT TO:<nosuchuser@ours.test>\r\n"
               "RCPT TO:<victim@elsewhere.test>\r\nDATA\r\n")
        self.assertEqual([250, 250, 550, 554, 354], c.replies(5))
        c.send(MSG + ".\r\nRSET\r\nNOOP\r\nQUIT\r\n")
        code, lines = c.reply()
        self.assertEqual(250, code)
        self.assertRegex(lines[0], r"queued as [0-9A-Za-z]+")
        self.assertEqual([250, 250, 221], c.replies(3))

    def test_pipelined_replies_come_in_one_batch(self):
        c = self.connect()
        self.ehlo(c)
        c.send("MAIL FROM:<a@b.test>\r\nRCPT TO:<root@ours.test>\r\nRSET\r\nNOOP\r\n")
        # All four replies were written at once: one recv takes them all.
        deadline = time.monotonic() + 5
        while c.buf.count(b"\r\n") < 4 and time.monotonic() < deadline:
            chunk = c.sock.recv(65536)
            if not chunk:
                break
            c.buf += chunk
            if c.buf.count(b"\r\n") < 4:
                self.fail("replies to one pipelined group arrived in pieces: %r" % c.buf)
        self.assertEqual(4, c.buf.count(b"\r\n"))

    def send_message(self, c, body, rcpt="root@ours.test"):
        c.send("MAIL FROM:<a@b.test>\r\nRCPT TO:<%s>\r\nDATA\r\n" % rcpt)
        self.assertEqual([250, 250, 354], c.replies(3))
        c.send(body)
        return c.reply()

    def test_queue_file_present_after_250_and_qmgr_woken(self):
        c = self.connect()
        self.ehlo(c)
        code, lines = self.send_message(c, MSG + "..dotted\r\n.\r\n")
        self.assertEqual(250, code)
        qid = lines[0].split()[-1]
        self.assertIn(qid, self.srv.queue_ids())
        data = self.srv.queue_file(qid)
        self.assertIn(b"\r\n.dotted\r\n", data)
        self.assertNotIn(b"\r\n..dotted", data)
        self.assertIn(b"Received: from client.test (unknown [", data)
        self.assertIn(b"root@ours.test", data)
        harness.wait_for(lambda: any(pstipc.get(m, "id") == qid for m in self.srv.qmgr.requests), 10,
                         "qmgr wakeup for " + qid)
        harness.wait_for(lambda: "%s: from=<a@b.test>, size=" % qid in self.srv.log(), 10, "from= log line")
        self.assertIn("%s: client=unknown[" % qid, self.srv.log())

    def test_dsn_parameters_recorded(self):
        c = self.connect()
        self.ehlo(c)
        c.send("MAIL FROM:<a@b.test> RET=HDRS ENVID=env+2B1\r\n"
               "RCPT TO:<root@ours.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;orig+40ours.test\r\nDATA\r\n")
        self.assertEqual([250, 250, 354], c.replies(3))
        c.send(MSG + ".\r\n")
        code, lines = c.reply()
        self.assertEqual(250, code)
        data = self.srv.queue_file(lines[0].split()[-1])
        self.assertIn(b"ret=HDRS", data)
        self.assertIn(b"envid=env+1", data)
        self.assertIn(b"rfc822;orig@ours.test", data)

    def test_smuggling_and_bad_line_ends(self):
        cases = [
            ("bare LF", "hello\n.\nMAIL FROM:<evil@x.test>\r\n.\r\n", 550),
            ("bare CR", "hello\r.\rMAIL FROM:<evil@x.test>\r\n.\r\n", 550),
            ("bare LF dot CRLF", "hello\n.\r\nMAIL FROM:<evil@x.test>\r\n.\r\n", 550),
            ("NUL", "hel\x00lo\r\n.\r\n", 550),
            ("long line", "x" * 1200 + "\r\n.\r\n", 550),
        ]
        for name, body, want in cases:
            before = self.srv.queue_ids()
            c = self.connect()
            self.ehlo(c)
            code, _ = self.send_message(c, body)
            self.assertEqual(want, code, name)
            # The smuggled MAIL was message text, and the session goes on normally.
            self.assertEqual(250, c.cmd("NOOP")[0], name)
            self.assertEqual(before, self.srv.queue_ids(), name)
        harness.wait_for(lambda: not self.srv.temp_files(), 5, "no temporary files left")

    def test_byte_at_a_time_data(self):
        c = self.connect()
        self.ehlo(c)
        c.send("MAIL FROM:<a@b.test>\r\nRCPT TO:<root@ours.test>\r\nDATA\r\n")
        self.assertEqual([250, 250, 354], c.replies(3))
        for ch in (MSG + ".\r\n").encode():
            c.send(bytes([ch]))
        self.assertEqual(250, c.reply()[0])

    def test_bdat(self):
        c = self.connect()
        self.ehlo(c)
        part1 = "From: a@b.test\r\nSubject: chunked\r\n\r\n"
        part2 = "line one\r\n.\r\nnot the end\r\n"
        c.send("MAIL FROM:<a@b.test>\r\nRCPT TO:<root@ours.test>\r\nBDAT %d\r\n%s" % (len(part1), part1))
        self.assertEqual([250, 250, 250], c.replies(3))
        c.send("BDAT %d LAST\r\n%s" % (len(part2), part2))
        code, lines = c.reply()
        self.assertEqual(250, code, lines)
        data = self.srv.queue_file(lines[0].split()[-1])
        self.assertIn((part1 + part2).encode(), data)
        # BDAT without a transaction still consumes its chunk.
        c.send("BDAT 12\r\nQUIT\r\nQUIT\r\nNOOP\r\n")
        self.assertEqual([503, 250], c.replies(2))
        # DATA after BDAT is refused; BDAT 0 LAST ends a message.
        c.send("MAIL FROM:<a@b.test>\r\nRCPT TO:<root@ours.test>\r\nBDAT 3\r\nabcDATA\r\nBDAT 0 LAST\r\n")
        r = c.replies(5)
        self.assertEqual([250, 250, 250, 503, 250], r)

    def test_open_relay_set_refused(self):
        c = self.connect()
        self.ehlo(c)
        self.assertEqual(250, c.cmd("MAIL FROM:<a@b.test>")[0])
        for rcpt in ("<victim@elsewhere.test>", "<victim%elsewhere.test@ours.test>",
                     "<elsewhere.test!victim@ours.test>", '<"victim@elsewhere.test"@ours.test>',
                     "<@ours.test:victim@elsewhere.test>", "<@ours.test,@x.test:victim@elsewhere.test>",
                     "<victim@[127.0.0.1]>", "<victim%elsewhere.test@[127.0.0.1]>",
                     "<victim@elsewhere.test.>", "<victim@ours.test.elsewhere.test>"):
            code, lines = c.cmd("RCPT TO:" + rcpt)
            self.assertIn(code, (554, 501), rcpt)
            if code == 554:
                self.assertIn("5.7.1", lines[0])
                self.assertIn("Relay access denied", lines[0])
        self.assertEqual(554, c.cmd("DATA")[0])
        self.assertIn("NOQUEUE: reject: RCPT from unknown[", self.srv.log())
        # Our domains and relay_domains are accepted from anyone; unknown users are not.
        self.assertEqual(250, c.cmd("RCPT TO:<root@ours.test>")[0])
        self.assertEqual(250, c.cmd("RCPT TO:<postmaster>")[0])
        self.assertEqual(250, c.cmd("RCPT TO:<list@mail.ours.test>")[0])
        self.assertEqual(250, c.cmd("RCPT TO:<anyone@relayed.test>")[0])
        code, lines = c.cmd("RCPT TO:<nosuchuser@ours.test>")
        self.assertEqual(550, code)
        self.assertIn("5.1.1", lines[0])

    def test_smtputf8(self):
        c = self.connect()
        self.ehlo(c)
        c.send("MAIL FROM:<j\u00f6rg@b\u00fc.test> SMTPUTF8\r\nRCPT TO:<root@ours.test>\r\nDATA\r\n")
        self.assertEqual([250, 250, 354], c.replies(3))
        c.send("Subject: gr\u00fc\u00dfe\r\n\r\nk\u00e4se\r\n.\r\n")
        code, lines = c.reply()
        self.assertEqual(250, code)
        data = self.srv.queue_file(lines[0].split()[-1])
        self.assertIn("j\u00f6rg@b\u00fc.test".encode(), data)
        self.assertIn(b"smtputf8=yes", data)
        self.assertIn(b"with UTF8SMTP", data)

    def test_hard_error_limit(self):
        c = self.connect()
        codes = [c.cmd("FOO")[0] for _ in range(19)]
        self.assertEqual([502] * 19, codes)
        c.send("FOO\r\n")
        self.assertEqual([502, 421], c.replies(2))
        self.assertTrue(c.closed())


class LimitsTest(SmtpdTestBase):
    options = {"message_size_limit": "20000", "smtpd_recipient_limit": "100",
               "smtpd_timeout": "2s"}

    def test_size_announced_and_enforced(self):
        c = self.connect()
        lines = self.ehlo(c)
        self.assertIn("250-SIZE 20000", lines)
        code, lines = c.cmd("MAIL FROM:<a@b.test> SIZE=20001")
        self.assertEqual(552, code)
        self.assertIn("5.3.4", lines[0])
        c.send("MAIL FROM:<a@b.test> SIZE=100\r\nRCPT TO:<root@ours.test>\r\nDATA\r\n")
        self.assertEqual([250, 250, 354], c.replies(3))
        before = self.srv.queue_ids()
        c.send(("x" * 70 + "\r\n") * 400 + ".\r\n")
        code, lines = c.reply()
        self.assertEqual(552, code)
        self.assertEqual(before, self.srv.queue_ids())
        self.assertEqual(250, c.cmd("NOOP")[0])

    def test_ten_thousand_recipients(self):
        c = self.connect(timeout=30)
        self.ehlo(c)
        self.assertEqual(250, c.cmd("MAIL FROM:<a@b.test>")[0])
        c.send("".join("RCPT TO:<root@ours.test>\r\n" for _ in range(10000)))
        codes = c.replies(10000)
        self.assertEqual([250] * 100, codes[:100])
        self.assertEqual({452}, set(codes[100:]))
        c.send("DATA\r\n")
        self.assertEqual(354, c.reply()[0])
        c.send(MSG + ".\r\n")
        code, lines = c.reply()
        self.assertEqual(250, code)
        harness.wait_for(lambda: ", nrcpt=100\n" in self.srv.log(), 5, "nrcpt=100 log line")

    def test_slow_client_times_out(self):
        c = self.connect()
        self.ehlo(c)
        c.send("MAIL FROM:<a@b.test>\r\nRCPT TO:<root@ours.test>\r\nDATA\r\n")
        self.assertEqual([250, 250, 354], c.replies(3))
        c.send("Subject: slow\r\n")
        start = time.monotonic()
        code, lines = c.reply()
        self.assertEqual(421, code)
        self.assertIn("4.4.2", lines[0])
        self.assertLess(time.monotonic() - start, 10)
        self.assertTrue(c.closed())
        harness.wait_for(lambda: "timeout after" in self.srv.log(), 5, "timeout log line")
        harness.wait_for(lambda: not self.srv.temp_files(), 5, "no temporary files left")


class ConnectionCountTest(SmtpdTestBase):
    # A fixture of its own: with LimitsTest's 2 s smtpd_timeout, the first of the 30
    # sessions could time out on a loaded machine before the 31st came, and sessions
    # other tests left open could still count.
    options = {"smtpd_client_connection_count_limit": "30"}

    def test_connection_count_limit(self):
        # Sessions before this one (the fixture's readiness probe) must have left the count.
        harness.wait_for(lambda: self.srv.log().count(": connect from") == self.srv.log().count(": disconnect from"),
                         10, "earlier sessions ended")
        clients = [self.connect() for _ in range(30)]
        extra = Client(self.srv)
        self.addCleanup(extra.close)
        code, lines = extra.reply()
        self.assertEqual(421, code)
        self.assertIn("too many connections", lines[0])
        for c in clients:
            c.cmd("QUIT")
        harness.wait_for(lambda: self.srv.log().count("disconnect from") >= 30, 10, "disconnects")


class RateLimitTest(SmtpdTestBase):
    options = {"smtpd_client_connection_rate_limit": "10", "anvil_rate_time_unit": "60s"}

    def test_connection_rate_limit(self):
        # The fixture's readiness probe was the first connection of this minute.
        accepted, refused = 0, None
        for _ in range(12):
            c = Client(self.srv)
            self.addCleanup(c.close)
            code, lines = c.reply()
            if code != 220:
                refused = (code, lines)
                break
            accepted += 1
            c.cmd("QUIT")
        self.assertIsNotNone(refused)
        self.assertEqual(421, refused[0])
        self.assertIn("4.7.0", refused[1][0])
        # Every connection logs "connect from", the refused one too.
        probes = self.srv.log().count(": connect from") - accepted - 1
        self.assertEqual(10, accepted + probes)
        harness.wait_for(lambda: "Connection rate limit exceeded: 11 from unknown[" in self.srv.log(), 5,
                         "rate limit log line")


class NoTlsTest(SmtpdTestBase):
    """smtpd_tls_security_level = none: no STARTTLS even with a certificate."""
    options = {"smtpd_tls_security_level": "none"}

    def test_starttls_not_offered(self):
        c = self.connect()
        self.assertNotIn("250-STARTTLS", self.ehlo(c))
        self.assertEqual(502, c.cmd("STARTTLS")[0])


def limit_file_size():
    resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))


class WriteErrorTest(SmtpdTestBase):
    """A queue file that cannot be written (here: RLIMIT_FSIZE, EFBIG) gives 452 4.3.1
    after the message, and no file - complete or temporary - stays behind."""
    preexec = staticmethod(limit_file_size)
    options = {"message_size_limit": "0", "smtpd_fsync_group_delay": "1000"}

    def test_write_error_is_452_and_leaves_nothing(self):
        c = self.connect(timeout=30)
        self.ehlo(c)
        code, _ = self.send_message(c, "Subject: big\r\n\r\n" + ("y" * 78 + "\r\n") * 8000 + ".\r\n")
        self.assertEqual(452, code)
        self.assertEqual([], self.srv.queue_ids())
        self.assertEqual([], self.srv.temp_files())
        # The session and the server go on; a small message still gets through.
        code, lines = self.send_message(c, MSG + ".\r\n")
        self.assertEqual(250, code)
        self.assertEqual([lines[0].split()[-1]], self.srv.queue_ids())

    send_message = ProtocolTest.send_message


class ErrorDelayTest(SmtpdTestBase):
    """Past smtpd_soft_error_limit each error reply waits smtpd_error_sleep_time - on a
    timer: the process keeps serving other sessions meanwhile."""
    options = {"smtpd_soft_error_limit": "3", "smtpd_error_sleep_time": "2s",
               "smtpd_hard_error_limit": "6"}

    def timed(self, c, line):
        t = time.monotonic()
        code = c.cmd(line)[0]
        return code, time.monotonic() - t

    def test_errors_past_the_soft_limit_wait(self):
        c = self.connect()
        for _ in range(3):
            code, took = self.timed(c, "FOO")
            self.assertEqual(502, code)
            self.assertLess(took, 1.0)
        start = time.monotonic()
        c.send("FOO\r\n")  # the fourth error: delayed
        other = self.connect()  # ... while another session is served at once
        code, took = self.timed(other, "NOOP")
        self.assertEqual(250, code)
        self.assertLess(took, 1.0)
        self.assertEqual(502, c.reply()[0])
        self.assertGreaterEqual(time.monotonic() - start, 1.9)
        code, took = self.timed(c, "NOOP")  # good replies are not delayed
        self.assertEqual(250, code)
        self.assertLess(took, 1.0)
        # Errors five and six, pipelined: each waits, then the hard limit ends it all.
        start = time.monotonic()
        c.send("FOO\r\nFOO\r\nNOOP\r\n")
        code5, _ = c.reply()
        code6, _ = c.reply()
        code, lines = c.reply()
        self.assertEqual([502, 502, 421], [code5, code6, code])
        self.assertIn("4.7.0", lines[0])
        self.assertGreaterEqual(time.monotonic() - start, 3.8)
        self.assertTrue(c.closed())
        harness.wait_for(lambda: "too many errors after" in self.srv.log(), 5, "too many errors log line")


class VrfyTest(SmtpdTestBase):
    """disable_vrfy_command = no: VRFY gives RCPT's verdict."""
    options = {"disable_vrfy_command": "no"}

    def test_vrfy_answers_from_the_recipient_check(self):
        c = self.connect()
        self.ehlo(c)
        for arg in ("root", "<root@ours.test>", "Root User <root@ours.test>", "postmaster@ours.test"):
            code, lines = c.cmd("VRFY " + arg)
            self.assertEqual(250, code, arg)
            self.assertRegex(lines[0], r"^250 2\.0\.0 <(root|postmaster)@", arg)
        code, lines = c.cmd("VRFY nosuchuser@ours.test")
        self.assertEqual(550, code)
        self.assertIn("5.1.1", lines[0])
        self.assertEqual(550, c.cmd("VRFY nosuchuser")[0])
        self.assertEqual(554, c.cmd("VRFY victim@elsewhere.test")[0])  # the relay rule too
        self.assertEqual(501, c.cmd("VRFY")[0])
        self.assertEqual(501, c.cmd("VRFY <a b@ours.test>")[0])
        harness.wait_for(lambda: "reject: VRFY from" in self.srv.log(), 5, "VRFY reject log line")


class VrfyDefaultTest(SmtpdTestBase):
    def test_vrfy_is_off_by_default(self):
        c = self.connect()
        self.ehlo(c)
        # Known, unknown and foreign addresses get the same answer: nothing to harvest.
        for arg in ("root", "nosuchuser@ours.test", "victim@elsewhere.test"):
            code, lines = c.cmd("VRFY " + arg)
            self.assertEqual(252, code, arg)
            self.assertIn("252 2.0.0 ", lines[0])


class LineLimitTest(SmtpdTestBase):
    """smtpd_line_limit (octets incl. CRLF) is the DATA reader's limit."""
    options = {"smtpd_line_limit": "2000"}

    def test_data_line_limit_follows_the_parameter(self):
        c = self.connect()
        self.ehlo(c)
        send = ProtocolTest.send_message
        code, _ = send(self, c, "Subject: l\r\n\r\n" + "x" * 1998 + "\r\n.\r\n")
        self.assertEqual(250, code)
        code, lines = send(self, c, "Subject: l\r\n\r\n" + "x" * 1999 + "\r\n.\r\n")
        self.assertEqual(550, code)
        self.assertIn("line too long", lines[0])

    def test_default_limit_is_rfc5321(self):
        srv = Smtpd({}, tls=False)
        self.addCleanup(srv.stop)
        c = Client(srv)
        self.addCleanup(c.close)
        self.assertEqual(220, c.reply()[0])
        self.ehlo(c)
        send = ProtocolTest.send_message
        self.assertEqual(250, send(self, c, "Subject: l\r\n\r\n" + "x" * 998 + "\r\n.\r\n")[0])
        self.assertEqual(550, send(self, c, "Subject: l\r\n\r\n" + "x" * 999 + "\r\n.\r\n")[0])


class MailAuthParameterTest(SmtpdTestBase):
    """MAIL FROM ... AUTH=<mailbox> is recorded only from a trusted client (RFC 4954 5);
    from anyone else it is recorded as AUTH=<>."""
    options = {"smtpd_sasl_auth_enable": "yes"}

    def send(self, c):
        c.send("MAIL FROM:<alice@ours.test> AUTH=alice+2Bx@ours.test\r\nRCPT TO:<root@ours.test>\r\nDATA\r\n")
        self.assertEqual([250, 250, 354], c.replies(3))
        c.send(MSG + ".\r\n")
        code, lines = c.reply()
        self.assertEqual(250, code)
        return self.srv.queue_file(lines[0].split()[-1])

    def test_untrusted_client_is_recorded_as_empty(self):
        c = self.connect()
        self.ehlo(c)
        data = self.send(c)
        self.assertIn(b"auth=<>", data)
        self.assertNotIn(b"alice+x@ours.test", data)

    def test_authenticated_client_is_recorded(self):
        import base64
        c = self.connect()
        self.ehlo(c)
        c.starttls()
        self.ehlo(c)
        token = base64.b64encode(b"\0alice\0" + USERS["alice"].encode()).decode()
        self.assertEqual(235, c.cmd("AUTH PLAIN " + token)[0])
        data = self.send(c)
        self.assertIn(b"auth=alice+x@ours.test", data)


def start_anvil(srv):
    srv.anvil = srv.start_extra([harness.program("anvil"), "--standalone", "-c", srv.etc])
    sock = os.path.join(srv.spool, "private", "anvil")
    harness.wait_for(lambda: os.path.exists(sock) or srv.anvil.poll() is not None, 10, "anvil socket")
    if srv.anvil.poll() is not None:
        raise AssertionError("anvil exited: " + open(srv.anvil.log).read())


class AnvilCountTest(SmtpdTestBase):
    """The connection count limit holds over two smtpd processes sharing anvil."""
    options = {"smtpd_client_connection_count_limit": "4"}
    before = staticmethod(start_anvil)

    def test_count_limit_across_processes(self):
        port2 = harness.port()
        self.srv.start_smtpd(port2)
        harness.wait_for(lambda: self.srv.log().count("disconnect from") >= 2, 5, "probe disconnects")
        a = [Client(self.srv) for _ in range(2)]
        b = [Client(self.srv, port=port2) for _ in range(2)]
        for c in a + b:
            self.addCleanup(c.close)
            self.assertEqual(220, c.reply()[0])
        # Each process has only two: per process, both would take more.
        for port in (self.srv.port, port2):
            extra = Client(self.srv, port=port)
            self.addCleanup(extra.close)
            code, lines = extra.reply()
            self.assertEqual(421, code, port)
            self.assertIn("4.7.0", lines[0])
            self.assertIn("too many connections", lines[0])
        harness.wait_for(lambda: "Connection concurrency limit exceeded: 5 from unknown[" in self.srv.log(), 5,
                         "concurrency log line")
        # One ends in process A; process B may take one again.
        self.assertEqual(221, a[0].cmd("QUIT")[0])
        self.assertTrue(a[0].closed())

        def admitted():
            c = Client(self.srv, port=port2)
            self.addCleanup(c.close)
            return c.reply()[0] == 220
        harness.wait_for(admitted, 5, "a free slot after a disconnect")

    def test_anvil_down_falls_back_to_per_process_counts(self):
        srv = Smtpd({"smtpd_client_connection_count_limit": "2"}, tls=False, before=start_anvil)
        self.addCleanup(srv.stop)
        # The readiness probe must be over, or it would count as one of the two.
        harness.wait_for(lambda: "disconnect from" in srv.log(), 5, "probe disconnect")
        clients = [Client(srv) for _ in range(2)]
        for c in clients:
            self.addCleanup(c.close)
            self.assertEqual(220, c.reply()[0])
        srv.stop_extra(srv.anvil)
        # anvil is gone: this process still counts its own two sessions.
        extra = Client(srv)
        self.addCleanup(extra.close)
        self.assertEqual(421, extra.reply()[0])
        for c in clients:
            c.cmd("QUIT")
        harness.wait_for(lambda: srv.log().count("disconnect from") >= 4, 5, "disconnects")
        ok = Client(srv)
        self.addCleanup(ok.close)
        self.assertEqual(220, ok.reply()[0])
        log = srv.log()
        self.assertEqual(1, log.count("warning: anvil"), log)


class AnvilRateTest(SmtpdTestBase):
    options = {"smtpd_client_connection_rate_limit": "3", "anvil_rate_time_unit": "60s"}
    before = staticmethod(start_anvil)

    def test_rate_limit_across_processes(self):
        port2 = harness.port()
        self.srv.start_smtpd(port2)
        # The readiness probes of both processes were the first two of this minute.
        c = Client(self.srv)
        self.addCleanup(c.close)
        self.assertEqual(220, c.reply()[0])
        c.cmd("QUIT")
        d = Client(self.srv, port=port2)
        self.addCleanup(d.close)
        code, lines = d.reply()
        self.assertEqual(421, code)
        self.assertIn("4.7.0", lines[0])
        harness.wait_for(lambda: "Connection rate limit exceeded: 4 from unknown[" in self.srv.log(), 5,
                         "rate limit log line")


# Client addresses (tests/harness.py's): GOOD's name is confirmed, LIAR's name resolves
# to another address, NOPTR and UNCACHED have no name, LATE meets a resolver that is slow.
GOOD, LIAR, LIAR_A, NOPTR, UNCACHED, LATE = (harness.address() for _ in range(6))


def reverse_name(addr):
    return ".".join(reversed(addr.split("."))) + ".in-addr.arpa."


PTR_ZONES = {
    ".".join(reversed(GOOD.split(".")[:2])) + ".in-addr.arpa": [
        reverse_name(GOOD) + " PTR good.ptr.tst.",
        reverse_name(LIAR) + " PTR liar.ptr.tst.",
    ],
    "ptr.tst": ["good.ptr.tst. A " + GOOD, "liar.ptr.tst. A " + LIAR_A],
}


def start_resolver(srv):
    from dns import unbound
    srv.dns = unbound.Unbound(os.path.join(srv.base, "dns"), PTR_ZONES)
    srv.dns.start()
    srv.extra.append(srv.dns.proc)
    sock = os.path.join(srv.spool, "private", "resolver")
    srv.resolver = srv.start_extra([harness.program("resolver"), "--standalone", "-c", srv.etc,
                                    "-s", sock, "-o", "dns_servers=" + srv.dns.server,
                                    "-o", "resolver_query_timeout=3"])
    harness.wait_for(lambda: os.path.exists(sock) or srv.resolver.poll() is not None, 10, "resolver socket")


class ClientNameTest(SmtpdTestBase):
    """Client names: PTR through resolver(8) against a real unbound, forward-confirmed."""
    before = staticmethod(start_resolver)

    def message(self, source):
        c = Client(self.srv, source=source)
        self.addCleanup(c.close)
        self.assertEqual(220, c.reply()[0])
        self.ehlo(c)
        code, lines = ProtocolTest.send_message(self, c, MSG + ".\r\n")
        self.assertEqual(250, code)
        qid = lines[0].split()[-1]
        return qid, self.srv.queue_file(qid)

    def test_confirmed_name(self):
        qid, data = self.message(GOOD)
        self.assertIn(b"Received: from client.test (good.ptr.tst [%s])" % GOOD.encode(), data)
        harness.wait_for(lambda: "%s: client=good.ptr.tst[%s]" % (qid, GOOD) in self.srv.log(), 5, "client= line")
        self.assertIn("connect from good.ptr.tst[%s]" % GOOD, self.srv.log())
        self.assertIn(b"client_name=good.ptr.tst", data)

    def test_unconfirmed_name_is_unknown(self):
        qid, data = self.message(LIAR)
        self.assertIn(b"(unknown [%s])" % LIAR.encode(), data)
        harness.wait_for(lambda: "%s: client=unknown[%s]" % (qid, LIAR) in self.srv.log(), 5, "client= line")
        self.assertIn("hostname liar.ptr.tst does not resolve to address %s" % LIAR, self.srv.log())

    def test_no_ptr_is_unknown(self):
        qid, data = self.message(NOPTR)
        self.assertIn(b"(unknown [%s])" % NOPTR.encode(), data)

    def test_zz_names_are_cached_and_resolver_loss_is_harmless(self):
        # Runs last in this class (it stops the resolver).
        self.message(GOOD)
        self.srv.stop_extra(self.srv.resolver)
        qid, data = self.message(GOOD)  # from smtpd's own cache
        self.assertIn(b"(good.ptr.tst [%s])" % GOOD.encode(), data)
        start = time.monotonic()
        qid, data = self.message(UNCACHED)  # not cached, no resolver: unknown at once
        self.assertIn(b"(unknown [%s])" % UNCACHED.encode(), data)
        self.assertLess(time.monotonic() - start, 2)


def start_silent_resolver(srv):
    def slow(msg):
        time.sleep(3)
        return [("status", "ok"), ("name", "late.ptr.tst")]
    srv.fake_resolver = FakeService(os.path.join(srv.spool, "private", "resolver"), slow)
    srv.fake_resolver.start()


class NameTimeoutTest(SmtpdTestBase):
    """A resolver that does not answer in smtpd_peername_timeout: the greeting goes out
    then, with the client unknown, and one warning says why."""
    options = {"smtpd_peername_timeout": "1s"}
    before = staticmethod(start_silent_resolver)

    def test_greeting_after_the_timeout(self):
        harness.wait_for(lambda: "disconnect from" in self.srv.log(), 10, "probe disconnect")
        start = time.monotonic()
        c = Client(self.srv, source=LATE)
        self.addCleanup(c.close)
        self.assertEqual(220, c.reply()[0])
        took = time.monotonic() - start
        self.assertGreaterEqual(took, 0.8)
        self.assertLess(took, 3.5)
        self.assertIn("connect from unknown[%s]" % LATE, self.srv.log())
        self.assertIn("warning: resolver: timeout", self.srv.log())
        self.assertEqual(250, c.cmd("NOOP")[0])


class MasterAnvilTest(harness.InstanceTestCase):
    """An instance from postilionctl init runs anvil under master, and smtpd uses it."""

    def test_anvil_under_master(self):
        harness.require_daemon(self, "anvil")
        inst = self.make_instance()
        inst.init()
        inst.ctl("config", "mynetworks=192.0.2.0/24", check=True)
        inst.ctl("config", "smtpd_client_connection_count_limit=3", check=True)
        with open(inst.master_conf()) as f:
            self.assertRegex(f.read(), r"(?m)^anvil\s+unix\s")
        inst.start()
        inst.wait_ready()
        harness.wait_for(lambda: "anvil" in inst.children().values(), 10, "anvil process")
        target = type("Target", (), {"addr": inst.addr, "port": inst.ports["smtp"]})
        clients = [Client(target) for _ in range(3)]
        for c in clients:
            self.addCleanup(c.close)
            self.assertEqual(220, c.reply()[0])
        extra = Client(target)
        self.addCleanup(extra.close)
        self.assertEqual(421, extra.reply()[0])
        inst.wait_log("Connection concurrency limit exceeded: 4 from ")
        self.assertNotIn("warning: anvil", inst.log_text())


if __name__ == "__main__":
    unittest.main()
