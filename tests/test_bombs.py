#!/usr/bin/env python3
# tests/test_bombs.py - hostile messages through the whole path, with each daemon's peak
# memory (VmHWM from /proc/PID/status) held to the bounds the man pages state (LIMITS of
# smtpd(8), qmgr(8), local(8), imapd(8); MEMORY of pop3d(8)): a header of 100,000 lines, one header
# field of 1 MB, MIME nested 1,000 deep, MIME of 100,000 parts - each in over SMTP
# (smtpd), queued (qmgr), delivered (local) and read back whole over IMAP (FETCH
# BODYSTRUCTURE, BODY[]) and POP3 (RETR); and 100,000 RCPT commands, of which smtpd takes
# smtpd_recipient_limit (1000) and answers the rest 452 4.5.3, and the 1000 are
# delivered. Root only (a system user reads its mail).
import imaplib
import os
import poplib
import smtplib
import socket
import sys
import threading
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from test_pop3d import sha512_crypt  # noqa: E402

PASSWORD = "bombs pass 1"
MiB = 1024 * 1024
# The bounds the man pages give (LIMITS), in kB of VmHWM: each daemon's peak resident
# memory with the default message_size_limit (10240000 bytes), whatever the message.
MSL_KB = 10240000 // 1024
BOUNDS_KB = {
    "smtpd": 64 * 1024,                # smtpd(8): streams the message to the queue file
    "qmgr": 64 * 1024,                 # qmgr(8): envelope records only, never the text
    "local": 32 * 1024 + 3 * MSL_KB,   # local(8): one message in memory, with its copy
    "imapd": 32 * 1024 + 4 * MSL_KB,   # imapd(8): one message and its bounded MIME tree
    "pop3d": 32 * 1024 + 3 * MSL_KB,   # pop3d(8): one message at a time
}


def vm_hwm_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class PeakWatcher:
    """Samples VmHWM of every descendant of a master every 50 ms (a bounded loop, stopped
    by stop()) and keeps each daemon name's highest figure: {comm: kB}."""

    def __init__(self, master_pid):
        self.master = master_pid
        self.peak = {}
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def sample(self):
        table = harness.process_table()
        mine = {self.master}
        changed = True
        while changed:
            changed = False
            for pid, (ppid, comm) in table.items():
                if ppid in mine and pid not in mine:
                    mine.add(pid)
                    changed = True
        for pid in mine - {self.master}:
            kb = vm_hwm_kb(pid)
            if kb is not None:
                comm = table[pid][1]
                self.peak[comm] = max(self.peak.get(comm, 0), kb)

    def run(self):
        for _ in range(20 * 60 * 10):  # ten minutes at most
            if self.done.wait(0.05):
                break
            self.sample()

    def stop(self):
        self.done.set()
        self.thread.join(10)
        self.sample()
        return self.peak


@unittest.skipUnless(os.geteuid() == 0, "creates a system user: root only")
class BombsTest(harness.InstanceTestCase):

    @classmethod
    def setUpClass(cls):
        cls.peaks = {}

    @classmethod
    def tearDownClass(cls):
        if cls.peaks:
            sys.stderr.write("\n  peak VmHWM (kB) per test:\n")
            for test, peak in sorted(cls.peaks.items()):
                sys.stderr.write("    %-28s %s\n" % (test, ", ".join("%s %d" % kv for kv in sorted(peak.items()))))

    def setUp(self):
        super().setUp()
        for d in ("master", "smtpd", "qmgr", "local", "auth", "pop3d", "imapd"):
            harness.require_daemon(self, d)
        inst = self.make_instance(ports=("smtp", "pop3", "imap"), tls=True)
        inst.init("--user", "postilion")
        self.pw = harness.add_system_user(self, "pstbo", os.path.join(inst.base, "home"))
        self.maildir = os.path.join(self.pw.pw_dir, "Maildir")
        users = os.path.join(inst.config_dir, "users")
        with open(users, "w") as f:
            f.write("%s %s:%d:%d:%s/\n" % (self.pw.pw_name, sha512_crypt(PASSWORD), self.pw.pw_uid,
                                           self.pw.pw_gid, self.maildir))
        inst.ctl("map", "build", users, check=True)
        with open(inst.main_conf(), "a") as f:
            f.write("auth_backends = virtual\nauth_virtual_users = hash:%s\n" % users)
        inst.start()
        inst.wait_ready()
        self.inst = inst
        self.rcpt = "%s@%s" % (self.pw.pw_name, inst.domain)
        self.watch = PeakWatcher(inst.master_pid())
        self.addCleanup(self.watch.stop)

    def check_peaks(self, daemons):
        peak = self.watch.stop()
        self.peaks[self._testMethodName] = peak
        for d in daemons:
            self.assertIn(d, peak, "no %s process was seen" % d)
            self.assertLess(peak[d], BOUNDS_KB[d], "%s peaked at %d kB" % (d, peak[d]))

    def count(self):
        return sum(len(os.listdir(os.path.join(self.maildir, d)))
                   for d in ("new", "cur") if os.path.isdir(os.path.join(self.maildir, d)))

    def send_and_read(self, subject, header, body):
        """Sends one message (header lines without the Subject, body text), waits for its
        delivery, reads it back over IMAP and POP3; returns the size IMAP reported."""
        text = "From: a@remote.test\r\nTo: %s\r\nSubject: %s\r\n%s\r\n%s" % (self.rcpt, subject, header, body)
        with smtplib.SMTP(self.inst.addr, self.inst.ports["smtp"], timeout=120) as s:
            s.sendmail("a@remote.test", [self.rcpt], text)
        harness.wait_for(lambda: self.count() == 1, 60, "delivery of " + subject)
        m = imaplib.IMAP4(self.inst.addr, self.inst.ports["imap"], timeout=120)
        try:
            m.starttls(harness.tls_client_context())
            m.login(self.pw.pw_name, PASSWORD)
            self.assertEqual("OK", m.select("INBOX")[0])
            typ, data = m.fetch("1", "(RFC822.SIZE BODYSTRUCTURE)")
            self.assertEqual("OK", typ, data)
            typ, data = m.fetch("1", "(BODY.PEEK[])")
            self.assertEqual("OK", typ)
            got = data[0][1]
            self.assertIn(("Subject: %s" % subject).encode(), got)
            self.sample_now()
            m.logout()
        finally:
            if m.sock:
                m.sock.close()
        p = poplib.POP3(self.inst.addr, self.inst.ports["pop3"], timeout=120)
        try:
            p.stls(harness.tls_client_context())
            p.user(self.pw.pw_name)
            p.pass_(PASSWORD)
            lines = p.retr(1)[1]
            self.assertIn(("Subject: %s" % subject).encode(), lines)
            self.sample_now()
            p.quit()
        finally:
            p.close()
        return len(got)

    def sample_now(self):
        self.watch.sample()  # a session process may end before the next tick

    # ---- header bombs -------------------------------------------------------------------
    def test_header_of_100000_lines(self):
        header = "".join("X-Bomb-%d: line %d\r\n" % (i, i) for i in range(100000))
        size = self.send_and_read("many lines", header, "body\r\n")
        self.assertGreater(size, 2 * MiB)
        self.check_peaks(["smtpd", "qmgr", "local", "imapd", "pop3d"])

    def test_one_header_of_1mb(self):
        folded = "X-Huge: " + "\r\n ".join("w" * 70 for _ in range(MiB // 73)) + "\r\n"
        size = self.send_and_read("one huge field", folded, "body\r\n")
        self.assertGreater(size, MiB)
        self.check_peaks(["smtpd", "qmgr", "local", "imapd", "pop3d"])

    def test_largest_message(self):
        # Just under message_size_limit (10240000): the figure the per-message bounds
        # scale with.
        line = "l" * 76 + "\r\n"
        body = line * ((10240000 - 4096) // len(line))
        size = self.send_and_read("largest", "", body)
        self.assertGreater(size, 10000000)
        self.check_peaks(["smtpd", "qmgr", "local", "imapd", "pop3d"])

    # ---- MIME bombs ---------------------------------------------------------------------
    def test_mime_nested_1000_deep(self):
        depth = 1000
        header = "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b0\"\r\n"
        body = []
        for i in range(depth):
            body.append("--b%d\r\nContent-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n" % (i, i + 1))
        body.append("--b%d\r\nContent-Type: text/plain\r\n\r\ndeep inside\r\n--b%d--\r\n" % (depth, depth))
        for i in range(depth - 1, -1, -1):
            body.append("--b%d--\r\n" % i)
        self.send_and_read("nested", header, "".join(body))
        self.check_peaks(["smtpd", "qmgr", "local", "imapd", "pop3d"])

    def test_mime_of_100000_parts(self):
        header = "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"p\"\r\n"
        body = "".join("--p\r\n\r\n%d\r\n" % i for i in range(100000)) + "--p--\r\n"
        self.send_and_read("many parts", header, body)
        self.check_peaks(["smtpd", "qmgr", "local", "imapd", "pop3d"])

    # ---- recipients ---------------------------------------------------------------------
    def test_100000_recipients(self):
        n, limit = 100000, 1000
        s = socket.create_connection((self.inst.addr, self.inst.ports["smtp"]), timeout=120)
        f = s.makefile("rb")

        def reply():
            lines = []
            while True:
                line = f.readline()
                self.assertTrue(line, "connection closed")
                lines.append(line)
                if line[3:4] != b"-":
                    return int(line[:3]), lines

        self.assertEqual(220, reply()[0])
        s.sendall(b"EHLO client.test\r\nMAIL FROM:<a@remote.test>\r\n")
        self.assertEqual(250, reply()[0])
        self.assertEqual(250, reply()[0])
        codes = {}
        # Pipelined in batches of 1000 (each batch read back before the next is sent).
        for start in range(0, n, 1000):
            s.sendall(b"".join(b"RCPT TO:<%s+%d@%s>\r\n" % (self.pw.pw_name.encode(), i, self.inst.domain.encode())
                               for i in range(start, start + 1000)))
            for i in range(start, start + 1000):
                code, lines = reply()
                codes[code] = codes.get(code, 0) + 1
                if i >= limit:
                    self.assertEqual(452, code)
                    self.assertIn(b"4.5.3", lines[0])
        self.assertEqual({250: limit, 452: n - limit}, codes)
        s.sendall(b"DATA\r\n")
        self.assertEqual(354, reply()[0])
        s.sendall(b"Subject: many recipients\r\n\r\nhello\r\n.\r\nQUIT\r\n")
        self.assertEqual(250, reply()[0])
        s.close()
        harness.wait_for(lambda: self.count() == limit and harness.queue_empty(self.inst.spool), 180,
                         "%d deliveries" % limit)
        self.check_peaks(["smtpd", "qmgr", "local"])


if __name__ == "__main__":
    harness.main()
