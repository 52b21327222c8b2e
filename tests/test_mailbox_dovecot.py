# tests/test_mailbox_dovecot.py - a Maildir that Dovecot served keeps its numbering:
# a private Dovecot instance (the Debian package on this machine) delivers four
# messages with dovecot-lda, expunges one (a gap in the UIDs) and sets keywords; then
# pop3d serves the same Maildir, and every UIDL must carry exactly Dovecot's UID and
# UIDVALIDITY, the keyword letters keep their names, and the next message gets
# Dovecot's next UID.
import os
import re
import shutil
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
import test_pop3d as t  # noqa: E402

LDA = "/usr/lib/dovecot/dovecot-lda"


class Dovecot:
    """A private Dovecot (no listeners: auth for dovecot-lda and doveadm only)."""

    def __init__(self, base, maildir):
        self.dir = os.path.join(base, "dovecot")
        os.makedirs(os.path.join(self.dir, "run"))
        self.conf = os.path.join(self.dir, "dovecot.conf")
        with open(self.conf, "w") as f:
            f.write("""base_dir = %(d)s/run
state_dir = %(d)s/run
log_path = %(d)s/dovecot.log
protocols =
ssl = no
mail_location = maildir:%(md)s
first_valid_uid = 1
first_valid_gid = 1
default_internal_user = nobody
default_login_user = nobody
passdb {
  driver = static
  args = nopassword=y
}
userdb {
  driver = static
  args = uid=%(uid)d gid=%(gid)d home=%(home)s
}
""" % {"d": self.dir, "md": maildir, "uid": t.VUID, "gid": t.VGID, "home": os.path.dirname(maildir)})
        subprocess.run(["dovecot", "-c", self.conf], check=True)
        sock = os.path.join(self.dir, "run", "auth-userdb")
        harness.wait_for(lambda: os.path.exists(sock), what="dovecot auth socket")

    def deliver(self, text):
        subprocess.run([LDA, "-c", self.conf, "-d", "alice", "-f", "a@example.test"],
                       input=text.encode(), check=True)

    def doveadm(self, *args):
        r = subprocess.run(["doveadm", "-c", self.conf] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            raise AssertionError("doveadm %s: %s" % (" ".join(args), r.stdout))
        return r.stdout

    def stop(self):
        subprocess.run(["doveadm", "-c", self.conf, "stop"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)

    def log(self):
        try:
            with open(os.path.join(self.dir, "dovecot.log"), errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""


@unittest.skipUnless(t.ROOT, "a private Dovecot instance needs root here")
class DovecotMigrationTest(harness.LogsOnFailure):
    def setUp(self):
        t.require_programs()
        self.host = t.MailHost()
        self.addCleanup(self.host.stop)
        self.md = self.host.maildir(t.USER)
        shutil.rmtree(self.md)  # Dovecot makes its own
        self.dovecot = Dovecot(self.host.base, self.md)
        self.addCleanup(self.dovecot.stop)

    def on_failure(self):
        if hasattr(self, "host"):
            sys.stderr.write(self.host.log_text())
            sys.stderr.write("---- dovecot ----\n" + self.dovecot.log())

    def test_takes_dovecots_uids(self):
        d = self.dovecot
        for i in range(1, 6):
            d.deliver("From: a@example.test\nSubject: m%d\n\nbody %d\n" % (i, i))
        d.doveadm("expunge", "-u", "alice", "mailbox", "INBOX", "uid", "2")
        d.doveadm("flags", "add", "-u", "alice", "\\Seen $Label1 Work", "mailbox", "INBOX", "uid", "3")
        d.doveadm("flags", "add", "-u", "alice", "Work", "mailbox", "INBOX", "uid", "5")
        status = d.doveadm("mailbox", "status", "-u", "alice", "uidvalidity uidnext", "INBOX")
        validity = int(re.search(r"uidvalidity=(\d+)", status).group(1))
        uidnext = int(re.search(r"uidnext=(\d+)", status).group(1))
        fetched = d.doveadm("fetch", "-u", "alice", "uid hdr.subject", "mailbox", "INBOX")
        dove = {}  # subject -> uid
        uid = None
        for line in fetched.splitlines():
            line = line.strip("\f")
            if line.startswith("uid: "):
                uid = int(line[5:])
            elif line.startswith("hdr.subject: "):
                dove[line[len("hdr.subject: "):]] = uid
        self.assertEqual({"m1": 1, "m3": 3, "m4": 4, "m5": 5}, dove)  # the gap at 2
        d.stop()
        with open(os.path.join(self.md, "dovecot-keywords")) as f:
            dove_keywords = f.read()

        self.host.start_auth()
        port = self.host.start_pop3d()
        p = self.host_login(port)
        listing = [l.decode().split() for l in p.uidl()[1]]
        ours = {}
        for num, uidl in listing:
            subject = [l.decode() for l in p.top(int(num), 0)[1] if l.startswith(b"Subject: ")][0]
            ours[subject[len("Subject: "):]] = uidl
        p.quit()
        self.assertEqual({s: "%08X%08X" % (u, validity) for s, u in dove.items()}, ours)
        # The keyword letters Dovecot wrote into the file names keep their names.
        with open(os.path.join(self.md, "postilion-keywords")) as f:
            self.assertEqual(dove_keywords, f.read())
        # The next message gets Dovecot's next UID.
        self.host.add_messages(t.USER, ["Subject: m6\n\nx\n"])
        p = self.host_login(port)
        last = p.uidl()[1][-1].decode().split()[1]
        p.quit()
        self.assertEqual("%08X%08X" % (uidnext, validity), last)

    def host_login(self, port):
        import poplib
        p = poplib.POP3(self.host.addr, port, timeout=20)
        p.user(t.USER)
        p.pass_(t.PASSWORD)
        return p


if __name__ == "__main__":
    unittest.main()
