#!/usr/bin/env python3
# tests/test_scanners.py - real scanners as smtpd's mail filters (smtpd_milters), each
# run privately by the test on loopback ports, no system service touched:
#  - SpamAssassin: spamd (-L: no network tests) behind spamass-milter, once with -r 15
#    (GTUBE refused with spamass-milter's 5.7.1) and once marking only (GTUBE kept with
#    X-Spam-Flag: YES); a clean message passes both;
#  - ClamAV: clamd with a private DatabaseDirectory holding only a signature file
#    written here (no signature download is possible: an .ndb body signature for the
#    EICAR test string and one for a test pattern) behind clamav-milter (OnInfected
#    Reject): the infected message is refused, a clean one passes with its header.
# smtpd runs standalone (test_smtpd.Smtpd), as in test_smtpd_milter.py.
import base64
import os
import shutil
import signal
import smtplib
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from test_smtpd import Smtpd  # noqa: E402
from test_smtpd_milter import GTUBE, data, parse_queue_file  # noqa: E402

EICAR = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
PATTERN = "POSTILION-CLAMAV-TEST-PATTERN-7d3f"


def have(*programs):
    return all(shutil.which(p) or os.access("/usr/sbin/" + p, os.X_OK) for p in programs)


def stop(proc):
    """Stops a process this test started, by its PID (its own session: only its children)."""
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


class ScannerCase(unittest.TestCase):
    """Shared: the smtpd in front of the scanner, a message sent, the queue file read."""
    srv = None
    logs = ()

    def run(self, result=None):
        before = (len(result.failures) + len(result.errors)) if result else 0
        r = super().run(result)
        res = result or r
        if res is not None and len(res.failures) + len(res.errors) > before:
            for srv in self.servers():
                sys.stderr.write("---- smtpd log ----\n" + srv.log()[-6000:] + "\n")
            for path in self.logs:
                sys.stderr.write("---- %s ----\n%s\n" % (path, harness.read_tail(path, 4000)))
        return r

    def servers(self):
        return [self.srv]

    def send(self, srv, subject, body):
        before = set(srv.queue_ids())
        msg = ("From: sender@client.test\r\nTo: root@ours.test\r\nSubject: %s\r\n"
               "Message-ID: <s%d@client.test>\r\nDate: Mon, 7 Dec 2026 10:00:00 +0000\r\n\r\n%s\r\n" %
               (subject, time.time_ns(), body))
        with smtplib.SMTP(srv.addr, srv.port, timeout=120) as s:
            s.ehlo("client.test")
            self.assertEqual(250, s.mail("sender@client.test")[0])
            self.assertEqual(250, s.rcpt("root@ours.test")[0])
            code, text = data(s, msg.encode())
        return code, text.decode(), sorted(set(srv.queue_ids()) - before)

    def header(self, srv, qid):
        with open(os.path.join(srv.spool, "incoming", qid), "rb") as f:
            _, _, content = parse_queue_file(f.read())
        return content.split(b"\r\n\r\n", 1)[0]


@unittest.skipUnless(have("spamd", "spamass-milter", "spamc"), "spamd or spamass-milter not installed")
class SpamAssassinTest(ScannerCase):

    @classmethod
    def setUpClass(cls):
        cls.dir = os.path.join(harness.tmp_root(), "spamassassin-%d" % os.getpid())
        os.makedirs(cls.dir, exist_ok=True)
        os.chmod(cls.dir, 0o755)
        cls.procs = []
        cls.logs = [os.path.join(cls.dir, n) for n in ("spamd.log", "milter-reject.log", "milter-mark.log")]
        cls.addr, cls.spamd_port = harness.address(), harness.port()
        # -L: local tests only (no DNS lists, no network); no per-user configuration.
        args = ["spamd", "--listen=%s:%d" % (cls.addr, cls.spamd_port), "--allowed-ips=127.0.0.0/8", "-L",
                "--nouser-config", "--max-children=2", "--min-children=1", "-s", cls.logs[0],
                "--pidfile=" + os.path.join(cls.dir, "spamd.pid")]
        if os.geteuid() == 0:
            args.append("--username=nobody")  # spamd refuses to scan as root
        try:
            cls.procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                              start_new_session=True))
            harness.wait_listening(cls.addr, cls.spamd_port, cls.procs[0], 120, "spamd",
                                   log=lambda: harness.read_tail(cls.logs[0], 4000))
            cls.reject_port = cls.milter(["-r", "15"], cls.logs[1])
            cls.mark_port = cls.milter([], cls.logs[2])
            opts = {"milter_content_timeout": "120s", "milter_default_action": "tempfail"}
            cls.srv = Smtpd(dict(opts, smtpd_milters="inet:%s:%d" % (cls.addr, cls.reject_port)), tls=False)
            cls.marker = Smtpd(dict(opts, smtpd_milters="inet:%s:%d" % (cls.addr, cls.mark_port)), tls=False)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def milter(cls, options, log):
        port = harness.port()
        with open(log, "w") as f:
            p = subprocess.Popen(["spamass-milter", "-p", "inet:%d@%s" % (port, cls.addr)] + options +
                                 ["--", "-d", cls.addr, "-p", str(cls.spamd_port)],
                                 stdout=f, stderr=f, start_new_session=True)
        cls.procs.append(p)
        harness.wait_listening(cls.addr, port, p, 20, "spamass-milter", log=lambda: harness.read_tail(log, 2000))
        return port

    @classmethod
    def tearDownClass(cls):
        for srv in (getattr(cls, "srv", None), getattr(cls, "marker", None)):
            if srv:
                srv.stop()
        for p in reversed(cls.procs):
            stop(p)

    def servers(self):
        return [self.srv, self.marker]

    def test_gtube_is_rejected(self):
        code, text, new = self.send(self.srv, "spam test", "This is spam.\r\n" + GTUBE)
        self.assertEqual(550, code, text)
        self.assertIn("5.7.1", text)
        self.assertIn("Blocked by SpamAssassin", text)
        self.assertEqual([], new)
        self.assertIn("milter-reject: END-OF-MESSAGE", self.srv.log())

    def test_clean_message_passes(self):
        code, text, new = self.send(self.srv, "meeting", "Just a short note about the meeting tomorrow.")
        self.assertEqual(250, code, text)
        self.assertEqual(1, len(new))
        head = self.header(self.srv, new[0])
        self.assertIn(b"\r\nX-Spam-Status: No, score=", head)
        self.assertNotIn(b"X-Spam-Flag: YES", head)

    def test_gtube_is_marked_without_reject(self):
        code, text, new = self.send(self.marker, "spam test", "This is spam.\r\n" + GTUBE)
        self.assertEqual(250, code, text)
        self.assertEqual(1, len(new))
        head = self.header(self.marker, new[0])
        self.assertIn(b"\r\nX-Spam-Flag: YES", head)
        self.assertIn(b"\r\nX-Spam-Status: Yes, score=", head)
        self.assertIn(b"GTUBE", head)


CLAMD_CONF = """Foreground yes
TCPSocket %(clamd_port)d
TCPAddr %(addr)s
DatabaseDirectory %(dir)s/db
LogFile %(dir)s/clamd.log
PidFile %(dir)s/clamd.pid
TemporaryDirectory %(dir)s/tmp
"""

CLAMAV_MILTER_CONF = """Foreground yes
MilterSocket inet:%(milter_port)d@%(addr)s
ClamdSocket tcp:%(addr)s:%(clamd_port)d
OnInfected Reject
OnFail Defer
RejectMsg Rejected: virus %%v found
AddHeader Replace
LogFile %(dir)s/clamav-milter.log
LogInfected Basic
PidFile %(dir)s/clamav-milter.pid
"""


@unittest.skipUnless(have("clamd", "clamav-milter"), "clamav-daemon or clamav-milter not installed")
class ClamavTest(ScannerCase):

    @classmethod
    def setUpClass(cls):
        cls.dir = os.path.join(harness.tmp_root(), "clamav-%d" % os.getpid())
        for d in ("db", "tmp"):
            os.makedirs(os.path.join(cls.dir, d), exist_ok=True)
        os.chmod(cls.dir, 0o755)
        # The only database: body signatures (.ndb, target 0 = any file) for the EICAR
        # test string and a test pattern of our own.
        with open(os.path.join(cls.dir, "db", "postilion-test.ndb"), "w") as f:
            f.write("Postilion.Test.Eicar:0:*:%s\n" % EICAR.encode().hex())
            f.write("Postilion.Test.Pattern:0:*:%s\n" % PATTERN.encode().hex())
        cls.addr, cls.clamd_port, cls.milter_port = harness.address(), harness.port(), harness.port()
        values = {"addr": cls.addr, "clamd_port": cls.clamd_port, "milter_port": cls.milter_port, "dir": cls.dir}
        conf = {}
        for name, text in (("clamd.conf", CLAMD_CONF), ("clamav-milter.conf", CLAMAV_MILTER_CONF)):
            conf[name] = os.path.join(cls.dir, name)
            with open(conf[name], "w") as f:
                f.write(text % values)
                if os.geteuid() == 0:
                    f.write("User root\n" if name == "clamav-milter.conf" else "")
        cls.logs = [os.path.join(cls.dir, n) for n in ("clamd.log", "clamav-milter.log", "clamd.out")]
        cls.procs = []
        try:
            with open(cls.logs[2], "w") as out:
                cls.procs.append(subprocess.Popen(["clamd", "-c", conf["clamd.conf"]], stdout=out, stderr=out,
                                                  start_new_session=True))
            harness.wait_listening(cls.addr, cls.clamd_port, cls.procs[0], 120, "clamd",
                                   log=lambda: harness.read_tail(cls.logs[2], 4000))
            with open(cls.logs[2], "a") as out:
                cls.procs.append(subprocess.Popen(["clamav-milter", "-c", conf["clamav-milter.conf"]], stdout=out,
                                                  stderr=out, start_new_session=True))
            harness.wait_listening(cls.addr, cls.milter_port, cls.procs[1], 30, "clamav-milter",
                                   log=lambda: harness.read_tail(cls.logs[2], 4000))
            cls.srv = Smtpd({"smtpd_milters": "inet:%s:%d" % (cls.addr, cls.milter_port),
                             "milter_content_timeout": "120s"}, tls=False)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "srv", None):
            cls.srv.stop()
        for p in reversed(cls.procs):
            stop(p)

    def test_eicar_is_rejected(self):
        code, text, new = self.send(self.srv, "eicar", "The test string follows.\r\n" + EICAR)
        self.assertEqual(550, code, text)
        self.assertIn("Postilion.Test.Eicar", text)
        self.assertEqual([], new)
        self.assertIn("milter-reject: END-OF-MESSAGE", self.srv.log())

    def test_pattern_in_attachment_is_rejected(self):
        body = ("This is a multi-part message.\r\n--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
                "--b1\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=x.bin\r\n"
                "Content-Transfer-Encoding: base64\r\n\r\n%s\r\n--b1--" %
                base64.b64encode(("junk " + PATTERN + " junk").encode()).decode())
        before = set(self.srv.queue_ids())
        msg = ("From: sender@client.test\r\nTo: root@ours.test\r\nSubject: attachment\r\nMIME-Version: 1.0\r\n"
               "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n" + body + "\r\n")
        with smtplib.SMTP(self.srv.addr, self.srv.port, timeout=120) as s:
            s.ehlo("client.test")
            s.mail("sender@client.test")
            s.rcpt("root@ours.test")
            code, text = data(s, msg.encode())
        self.assertEqual(550, code, text)
        self.assertIn("Postilion.Test.Pattern", text.decode())
        self.assertEqual(set(), set(self.srv.queue_ids()) - before)

    def test_clean_message_passes(self):
        code, text, new = self.send(self.srv, "clean", "Nothing to see here.")
        self.assertEqual(250, code, text)
        self.assertEqual(1, len(new))
        head = self.header(self.srv, new[0])
        self.assertIn(b"\r\nX-Virus-Status: Clean", head)
        self.assertIn(b"\r\nX-Virus-Scanned: clamav-milter ", head)


if __name__ == "__main__":
    harness.main()
