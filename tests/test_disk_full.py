#!/usr/bin/env python3
# tests/test_disk_full.py - full file systems (as root): the spool and the mailboxes each
# on a small tmpfs of their own (size= and nr_inodes= limits, mounted by the test and
# unmounted at its end). A full spool - no block, or no inode left - gets 452 4.3.1 at
# MAIL FROM (queue_minfree, as Postfix) and at the end of DATA when a write fails, smtpd
# keeps running and takes mail again once there is room; a full mailbox file system
# makes local defer (status=deferred, "No space left on device") while POP3 and IMAP
# keep reading what is there; nothing in the spool is corrupt (`postilionctl queue`
# lists and shows every file); when room comes back a flush delivers every message
# exactly once. An mbox over mailbox_size_limit bounces with 5.2.2, as in Postfix.
import imaplib
import json
import os
import poplib
import smtplib
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from test_pop3d import sha512_crypt  # noqa: E402

PASSWORD = "disk full pass 1"
SPOOL_SIZE = "6m"


def mount_tmpfs(test, path, size, inodes, before_umount=None):
    """A tmpfs of its own at path (made if missing), unmounted when the test ends (after
    before_umount(), which stops what uses it)."""
    os.makedirs(path, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,nr_inodes=%d,mode=0755" % (size, inodes),
                        "pst-disk-full", path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        test.skipTest("cannot mount a tmpfs: " + r.stdout.strip())

    def umount():
        if before_umount:
            before_umount()
        subprocess.run(["umount", "-l", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    test.addCleanup(umount)


def fill_blocks(folder, name="filler"):
    """Writes folder/name until the file system has no block left; returns its path."""
    path = os.path.join(folder, name)
    chunk = b"\0" * 65536
    with open(path, "wb", buffering=0) as f:
        for _ in range(1 << 16):  # bounded: 4 GiB at most
            try:
                f.write(chunk)
            except OSError:
                break
    # The last partial block too, a byte at a time.
    with open(path, "ab", buffering=0) as f:
        for _ in range(65536):
            try:
                f.write(b"\0")
            except OSError:
                break
    return path


def fill_inodes(folder, name="inodes"):
    """Creates empty files in folder/name until no inode is left; returns the folder."""
    d = os.path.join(folder, name)
    os.mkdir(d)
    for i in range(1 << 20):
        try:
            open(os.path.join(d, str(i)), "w").close()
        except OSError:
            break
    return d


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


@unittest.skipUnless(os.geteuid() == 0, "mounts file systems of its own: root only")
class DiskFullTest(harness.InstanceTestCase):

    def setUp(self):
        super().setUp()
        for d in ("master", "smtpd", "qmgr", "local", "auth", "pop3d", "imapd"):
            harness.require_daemon(self, d)
        if not harness.user_exists("postilion"):
            self.skipTest("mail_owner postilion does not exist")

    def start(self, spool_inodes=4096, home_size="2m", home_inodes=4096, extra=""):
        inst = self.make_instance(ports=("smtp", "pop3", "imap"), tls=True)
        self.inst = inst
        mount_tmpfs(self, inst.spool, SPOOL_SIZE, spool_inodes, inst.stop)
        homes = os.path.join(inst.base, "home")
        mount_tmpfs(self, homes, home_size, home_inodes, inst.stop)
        inst.init("--user", "postilion")
        self.pw = harness.add_system_user(self, "pstdf", homes)
        self.homes = homes
        self.maildir = os.path.join(self.pw.pw_dir, "Maildir")
        users = os.path.join(inst.config_dir, "users")
        with open(users, "w") as f:
            f.write("%s %s:%d:%d:%s/\n" % (self.pw.pw_name, sha512_crypt(PASSWORD), self.pw.pw_uid,
                                           self.pw.pw_gid, self.maildir))
        inst.ctl("map", "build", users, check=True)
        # Notices for postmaster and root go to the test's user, never to the host's root.
        with open(os.path.join(inst.config_dir, "aliases"), "w") as f:
            f.write("postmaster: %s\nroot: %s\n" % (self.pw.pw_name, self.pw.pw_name))
        r = subprocess.run([harness.sbin("sendmail"), "-C", inst.config_dir, "-bi"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=60)
        self.assertEqual(0, r.returncode, r.stdout)
        with open(inst.main_conf(), "a") as f:
            f.write("auth_backends = virtual\nauth_virtual_users = hash:%s\n" % users)
            # Only a flush brings deferred mail back soon.
            f.write("minimal_backoff_time = 3600s\nmaximal_backoff_time = 7200s\nqueue_run_delay = 3600s\n")
            f.write(extra)
        inst.start()
        inst.wait_ready()
        self.rcpt = "%s@%s" % (self.pw.pw_name, inst.domain)
        return inst

    # ---- helpers ------------------------------------------------------------------------
    def smtp(self):
        s = smtplib.SMTP(self.inst.addr, self.inst.ports["smtp"], timeout=60)
        s.ehlo("client.test")
        return s

    def message(self, subject, body="hello\r\n"):
        return "From: a@remote.test\r\nTo: %s\r\nSubject: %s\r\n\r\n%s" % (self.rcpt, subject, body)

    def send(self, subject, body="hello\r\n"):
        with self.smtp() as s:
            s.sendmail("a@remote.test", [self.rcpt], self.message(subject, body))

    def subjects(self):
        """The Subject of every message in the Maildir (new/ and cur/), a list."""
        out = []
        for sub in ("new", "cur"):
            d = os.path.join(self.maildir, sub)
            for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
                with open(os.path.join(d, name), errors="replace") as f:
                    for line in f:
                        if line.startswith("Subject: "):
                            out.append(line[9:].strip())
                            break
        return out

    def wait_delivered(self, subject, timeout=30):
        harness.wait_for(lambda: subject in self.subjects(), timeout, "delivery of %r" % subject)

    def queue_ids(self):
        ids = []
        for q in ("incoming", "active", "deferred", "hold", "maildrop"):
            d = os.path.join(self.inst.spool, q)
            ids += [f for f in os.listdir(d) if not f.startswith(".")] if os.path.isdir(d) else []
        return ids

    def assert_spool_sound(self):
        """Nothing in corrupt/, no temporary file left in incoming/, and `postilionctl
        queue` lists (and shows) every queue file there is."""
        self.assertEqual([], os.listdir(os.path.join(self.inst.spool, "corrupt")))
        incoming = os.path.join(self.inst.spool, "incoming")
        self.assertEqual([], [f for f in os.listdir(incoming) if f.startswith(".")])
        out = self.inst.ctl("queue", "-j", check=True).stdout
        listing = [json.loads(line) for line in out.splitlines() if line.strip()]
        listed = sorted(m["queue_id"] for m in listing)
        self.assertEqual(sorted(i for i in self.queue_ids()), listed)
        for qid in listed:
            self.inst.ctl("queue", "show", qid, check=True)
        return listed

    def pop3_subjects(self):
        p = poplib.POP3(self.inst.addr, self.inst.ports["pop3"], timeout=30)
        try:
            p.stls(harness.tls_client_context())
            p.user(self.pw.pw_name)
            p.pass_(PASSWORD)
            out = []
            for i in range(1, p.stat()[0] + 1):
                lines = [l.decode(errors="replace") for l in p.retr(i)[1]]
                out += [l[9:] for l in lines if l.startswith("Subject: ")]
            p.quit()
            return out
        finally:
            p.close()

    def imap_subjects(self):
        m = imaplib.IMAP4(self.inst.addr, self.inst.ports["imap"], timeout=30)
        try:
            m.starttls(harness.tls_client_context())
            m.login(self.pw.pw_name, PASSWORD)
            typ, _ = m.select("INBOX")
            self.assertEqual("OK", typ)
            typ, data = m.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            self.assertEqual("OK", typ)
            out = [part[1].decode().strip()[9:] for part in data if isinstance(part, tuple)]
            m.logout()
            return out
        finally:
            try:
                m.shutdown()
            except OSError:
                pass

    def flush_and_wait(self, subjects, timeout=60):
        self.inst.ctl("queue", "flush", check=True)
        harness.wait_for(lambda: all(s in self.subjects() for s in subjects) and harness.queue_empty(self.inst.spool),
                         timeout, "delivery of %s after the flush" % subjects)
        got = self.subjects()
        for s in subjects:
            self.assertEqual(1, got.count(s), "%r delivered %d times" % (s, got.count(s)))

    def smtpd_pids(self):
        return sorted(p for p, (pp, comm) in harness.process_table().items() if comm == "smtpd")

    # ---- tests --------------------------------------------------------------------------
    def test_full_spool_blocks(self):
        inst = self.start()
        self.send("before")
        self.wait_delivered("before")
        reserve = os.path.join(inst.spool, "reserve")
        with open(reserve, "wb") as f:
            f.write(b"\0" * 256 * 1024)
        filler = fill_blocks(inst.spool)
        self.assertEqual(0, free_bytes(inst.spool))
        log_at = len(inst.log_text())
        # Full: MAIL FROM is refused at once (queue_minfree 0: nothing left at all).
        with self.smtp() as s:
            code, text = s.mail("a@remote.test")
            self.assertEqual((452, b"4.3.1 Insufficient system storage"), (code, text))
            self.assertEqual(250, s.noop()[0])
        inst.wait_log("NOQUEUE: reject: MAIL from", start=log_at)
        # A little room (the reserve): MAIL passes, but a message too big for it fails
        # while it is written: 452 4.3.1 after the data, and no file stays behind.
        os.unlink(reserve)
        with self.smtp() as s:
            big = self.message("too big", ("z" * 998 + "\r\n") * 1024)
            self.assertEqual(250, s.mail("a@remote.test")[0])  # no SIZE: the write decides
            self.assertEqual(250, s.rcpt(self.rcpt)[0])
            code, text = s.data(big)
            self.assertEqual(452, code, text)
            self.assertIn(b"4.3.1", text)
            self.assertEqual(250, s.rset()[0])
            # With SIZE, more than half of what is free is refused at MAIL FROM.
            code, text = s.mail("a@remote.test", ["SIZE=%d" % len(big)])
            self.assertEqual((452, b"4.3.1 Insufficient system storage"), (code, text))
        self.assertEqual([], self.queue_ids())
        self.assert_spool_sound()
        # Room again: the same smtpd processes (or new ones) take mail, delivered once.
        os.unlink(filler)
        self.send("after", ("z" * 998 + "\r\n") * 1024)
        self.wait_delivered("after")
        self.assertEqual(1, self.subjects().count("after"))
        self.assertNotIn("too big", self.subjects())
        self.assertEqual(0, len([l for l in inst.log_text().splitlines() if "panic:" in l or "fatal:" in l]))

    def test_queue_minfree(self):
        # The spool has some 6 MB; keeping 100 MB free refuses every MAIL FROM, and the
        # session goes on (RSET, NOOP, QUIT).
        inst = self.start(extra="queue_minfree = 100m\n")
        self.assertLess(free_bytes(inst.spool), 100 * 1024 * 1024)
        with self.smtp() as s:
            self.assertEqual((452, b"4.3.1 Insufficient system storage"), s.mail("a@remote.test"))
            self.assertEqual(250, s.noop()[0])
        self.assertEqual([], self.queue_ids())

    def test_full_spool_inodes(self):
        inst = self.start(spool_inodes=400)
        self.send("before")
        self.wait_delivered("before")
        taken = fill_inodes(inst.spool)
        self.assertEqual(0, os.statvfs(inst.spool).f_favail)
        with self.smtp() as s:
            code, text = s.mail("a@remote.test")
            self.assertEqual((452, b"4.3.1 Insufficient system storage"), (code, text))
        self.assert_spool_sound()
        subprocess.run(["rm", "-rf", taken], check=True)
        self.send("after")
        self.wait_delivered("after")
        self.assertEqual(1, self.subjects().count("after"))

    def check_full_mailbox(self, fill):
        inst = self.start()
        self.send("first")
        self.wait_delivered("first")
        self.assertEqual(["first"], self.pop3_subjects())
        taken = fill(self.homes)
        log_at = len(inst.log_text())
        self.send("second")
        self.send("third")
        harness.wait_for(lambda: inst.log_text()[log_at:].count("status=deferred") >= 2, 30,
                         "both deliveries deferred")
        deferred = [l for l in inst.log_text()[log_at:].splitlines() if "status=deferred" in l]
        for line in deferred:
            self.assertIn("to=<%s>" % self.rcpt, line)
            self.assertIn("dsn=4.3.0", line)
            self.assertIn("No space left on device", line)
        # The mailbox as it was: readable over POP3 and IMAP, nothing half-written in it.
        self.assertEqual(["first"], self.subjects())
        self.assertEqual([], os.listdir(os.path.join(self.maildir, "tmp")))
        self.assertEqual(["first"], self.imap_subjects())
        self.assertEqual(["first"], self.pop3_subjects())
        self.assertEqual(2, len(self.assert_spool_sound()))
        subprocess.run(["rm", "-rf", taken], check=True)
        self.flush_and_wait(["second", "third"])
        self.assertEqual(["first", "second", "third"], sorted(self.imap_subjects()))

    def test_full_mailbox_blocks(self):
        self.check_full_mailbox(fill_blocks)

    def test_full_mailbox_inodes(self):
        self.check_full_mailbox(fill_inodes)

    def test_mailbox_size_limit_bounces(self):
        inst = self.start(extra="home_mailbox = mbox\nmailbox_size_limit = 20000\n")
        mbox = os.path.join(self.pw.pw_dir, "mbox")
        with self.smtp() as s:
            s.sendmail("", [self.rcpt], self.message("small"))
        harness.wait_for(lambda: os.path.exists(mbox) and "Subject: small" in open(mbox).read(), 30,
                         "delivery into " + mbox)
        size = os.path.getsize(mbox)
        log_at = len(inst.log_text())
        with self.smtp() as s:
            s.sendmail("", [self.rcpt], self.message("large", ("y" * 78 + "\r\n") * 300))
        inst.wait_log("status=bounced", 30, start=log_at)
        line = [l for l in inst.log_text()[log_at:].splitlines() if "status=bounced" in l][0]
        self.assertIn("dsn=5.2.2", line)
        self.assertIn("mailbox_size_limit", line)
        self.assertEqual(size, os.path.getsize(mbox))
        harness.wait_for(lambda: harness.queue_empty(inst.spool), 30, "an empty queue")


if __name__ == "__main__":
    harness.main()
