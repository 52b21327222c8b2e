#!/usr/bin/env python3
# tests/test_privileges.py - who may do what, on a root instance (root only: it starts
# master as root and creates system users).
#   - Every process's Uid/Gid/Groups/CapEff (from /proc/PID/status) against DESIGN.md:
#     master, local, virtual and auth root; smtpd, qmgr, smtp, resolver, anvil and showq
#     mail_owner with its own group only and no capability; the imapd/pop3d listener root
#     (it becomes the mailbox owner), their login process mail_owner, their session
#     process the mailbox owner, neither with any capability.
#   - A local user cannot list or read the queue (queued mail, maildrop/), another
#     user's Maildir or its index, and nothing in the spool is readable by the setgid
#     drop group or by everyone.
#   - local refuses link tricks: a Maildir, or its new/, that is a symbolic link to
#     another user's; an mbox that is a symbolic link or has a second hard link.
#   - The setgid postdrop (and mailq through it) takes no configuration from a user and
#     shows the envelope only, never a message's text.
import grp
import os
import poplib
import imaplib
import pwd
import smtplib
import stat
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from test_pop3d import sha512_crypt  # noqa: E402

PASSWORD = "privileges pass 1"
SECRET = "the-secret-body-text-4711"


def proc_status(pid):
    """{field: value} of /proc/PID/status, or None when the process is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            return {l.split(":", 1)[0]: l.split(":", 1)[1].strip() for l in f if ":" in l}
    except OSError:
        return None


def descendants(pid):
    """[(pid, comm, depth)] of every live descendant of pid, depth 1 for its children."""
    table = harness.process_table()
    out = []

    def walk(p, depth):
        for c, (pp, comm) in sorted(table.items()):
            if pp == p:
                out.append((c, comm, depth))
                walk(c, depth + 1)
    walk(pid, 1)
    return out


@unittest.skipUnless(os.geteuid() == 0, "starts a root instance and creates system users: root only")
class PrivilegesTest(harness.InstanceTestCase):

    def setUp(self):
        super().setUp()
        for d in ("master", "smtpd", "qmgr", "local", "auth", "pop3d", "imapd", "showq"):
            harness.require_daemon(self, d)
        if not harness.user_exists("postilion"):
            self.skipTest("mail_owner postilion does not exist")
        self.owner = pwd.getpwnam("postilion")

    def start(self, extra=""):
        inst = self.make_instance(ports=("smtp", "pop3", "imap"), tls=True)
        inst.init("--user", "postilion")
        self.homes = os.path.join(inst.base, "home")
        os.makedirs(self.homes)
        self.alice = harness.add_system_user(self, "pstpa", self.homes)
        self.bob = harness.add_system_user(self, "pstpb", self.homes)
        users = os.path.join(inst.config_dir, "users")
        with open(users, "w") as f:
            for pw in (self.alice, self.bob):
                f.write("%s %s:%d:%d:%s/\n" % (pw.pw_name, sha512_crypt(PASSWORD), pw.pw_uid, pw.pw_gid,
                                               os.path.join(pw.pw_dir, "Maildir")))
        inst.ctl("map", "build", users, check=True)
        with open(inst.main_conf(), "a") as f:
            f.write("auth_backends = virtual\nauth_virtual_users = hash:%s\n" % users)
            # The smtp client gets a message of its own: a next hop that refuses, so it
            # stays deferred (and smtp and the resolver run).
            f.write("relayhost = [%s]:%d\nsmtp_connect_timeout = 2s\n" % (harness.address(), harness.port()))
            f.write("minimal_backoff_time = 3600s\nmaximal_backoff_time = 7200s\nqueue_run_delay = 3600s\n")
            f.write(extra)
        inst.start()
        inst.wait_ready()
        self.inst = inst
        return inst

    def setgid_postdrop(self):
        """The installed postdrop, set-gid to the drop group for this test only (the
        installed tree is shared with other tests)."""
        postdrop = harness.sbin("postdrop")
        st = os.stat(postdrop)
        if not st.st_mode & stat.S_ISGID:
            self.addCleanup(os.chown, postdrop, st.st_uid, st.st_gid)
            self.addCleanup(os.chmod, postdrop, st.st_mode & 0o7777)
            os.chown(postdrop, 0, grp.getgrnam("postdrop").gr_gid)
            os.chmod(postdrop, 0o2755)
        return postdrop

    def addr(self, pw):
        return "%s@%s" % (pw.pw_name, self.inst.domain)

    def send(self, rcpts, subject="hello", body=SECRET + "\r\n"):
        with smtplib.SMTP(self.inst.addr, self.inst.ports["smtp"], timeout=30) as s:
            s.sendmail("sender@remote.test", rcpts, "Subject: %s\r\n\r\n%s" % (subject, body))

    def as_user(self, pw, argv, env=None):
        cmd = " ".join("'%s'" % a for a in argv)
        if env:
            cmd = " ".join("%s='%s'" % kv for kv in env.items()) + " " + cmd
        return subprocess.run(["su", "-s", "/bin/sh", pw.pw_name, "-c", cmd], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=60)

    def maildir_files(self, pw, sub="new"):
        d = os.path.join(pw.pw_dir, "Maildir", sub)
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    # ---- the process table ----------------------------------------------------------------
    def test_daemon_privileges(self):
        inst = self.start()
        self.send([self.addr(self.alice), "far@remote.test"])
        harness.wait_for(lambda: self.maildir_files(self.alice), 30, "delivery to alice")
        inst.wait_log("status=deferred", 30)  # the smtp client has run
        # A POP3 and an IMAP session stay logged in while the table is read.
        p = poplib.POP3(inst.addr, inst.ports["pop3"], timeout=30)
        self.addCleanup(p.close)
        p.stls(harness.tls_client_context())
        p.user(self.alice.pw_name)
        p.pass_(PASSWORD)
        m = imaplib.IMAP4(inst.addr, inst.ports["imap"], timeout=30)
        self.addCleanup(lambda: m.sock and m.sock.close())
        m.starttls(harness.tls_client_context())
        m.login(self.alice.pw_name, PASSWORD)
        # showq runs on demand: a user's mailq (through the set-gid postdrop) starts it.
        self.setgid_postdrop()
        r = self.as_user(self.bob, [harness.sbin("mailq"), "-C", inst.config_dir])
        self.assertEqual(0, r.returncode, r.stderr)

        root = ("0", "0", "")
        mail = (str(self.owner.pw_uid), str(self.owner.pw_gid), str(self.owner.pw_gid))
        alice = (str(self.alice.pw_uid), str(self.alice.pw_gid), str(self.alice.pw_gid))
        master = inst.master_pid()
        procs = [(master, "master", 0)] + descendants(master)
        seen = {}
        lines = []
        for pid, comm, depth in procs:
            st = proc_status(pid)
            if st is None:
                continue
            uids, gids = st["Uid"].split(), st["Gid"].split()
            self.assertEqual(1, len(set(uids)), "%s[%d]: real, effective, saved and fs uid differ: %s" % (comm, pid, uids))
            self.assertEqual(1, len(set(gids)), "%s[%d]: gids differ: %s" % (comm, pid, gids))
            got = (uids[0], gids[0], st["Groups"].strip())
            caps = int(st["CapEff"], 16)
            prm = int(st["CapPrm"], 16)
            # The role: a child of a mailbox listener is a session process (the mailbox
            # owner), its child the login process.
            role = comm if depth <= 1 else comm + (" session" if depth == 2 else " login")
            lines.append("%-16s pid %-7d uid %-5s gid %-5s groups %-6s CapEff %016x" % (role, pid, got[0], got[1], got[2] or "-", caps))
            seen.setdefault(role, []).append((got, caps, prm))
        sys.stderr.write("\n  " + "\n  ".join(lines) + "\n")

        want = {
            "master": (root, True), "local": (root, True), "auth": (root, True),
            "pop3d": (root, True), "imapd": (root, True),
            "smtpd": (mail, False), "qmgr": (mail, False), "smtp": (mail, False),
            "resolver": (mail, False), "anvil": (mail, False), "showq": (mail, False),
            "pop3d session": (alice, False), "imapd session": (alice, False),
            "pop3d login": (mail, False), "imapd login": (mail, False),
        }
        for role, (ids, privileged) in want.items():
            self.assertIn(role, seen, "no %s process seen" % role)
            for got, caps, prm in seen[role]:
                self.assertEqual(ids, got, role)
                if privileged:
                    self.assertNotEqual(0, caps, role)
                else:
                    self.assertEqual((0, 0), (caps, prm), "%s has capabilities" % role)
        for role in seen:
            self.assertIn(role, want, "a process nobody expected: " + role)
        p.quit()
        m.logout()

    # ---- queue, mailboxes, indexes ----------------------------------------------------------
    def test_users_cannot_read_queue_or_mailboxes(self):
        inst = self.start()
        self.send([self.addr(self.alice)], "to alice")
        harness.wait_for(lambda: self.maildir_files(self.alice), 30, "delivery to alice")
        # An IMAP login and SELECT make alice's index.
        m = imaplib.IMAP4(inst.addr, inst.ports["imap"], timeout=30)
        m.starttls(harness.tls_client_context())
        m.login(self.alice.pw_name, PASSWORD)
        self.assertEqual("OK", m.select("INBOX")[0])
        m.logout()
        self.send(["far@remote.test"], "queued")  # stays in deferred/
        inst.wait_log("status=deferred", 30)
        deferred = os.path.join(inst.spool, "deferred")
        qids = harness.wait_for(lambda: [f for f in os.listdir(deferred) if not f.startswith(".")], 30,
                                "a file in deferred/")
        self.assertEqual(1, len(qids))
        qfile = os.path.join(deferred, qids[0])
        st = os.stat(qfile)
        self.assertEqual((self.owner.pw_uid, 0o600), (st.st_uid, stat.S_IMODE(st.st_mode)))

        # Nothing in the spool that everyone, or the drop group, may reach (every folder
        # above it searchable by them) is readable by them.
        drop_gid = grp.getgrnam("postdrop").gr_gid
        reach = {inst.spool: (True, True)}  # folder -> (others reach it, the drop group does)
        for dirpath, dirnames, filenames in os.walk(inst.spool):
            others, group = reach[dirpath]
            for name in dirnames + filenames:
                path = os.path.join(dirpath, name)
                s = os.lstat(path)
                mode = stat.S_IMODE(s.st_mode)
                if stat.S_ISSOCK(s.st_mode) or stat.S_ISLNK(s.st_mode):
                    continue
                grp_bits = s.st_gid == drop_gid
                if others:
                    self.assertFalse(mode & stat.S_IROTH and not stat.S_ISDIR(s.st_mode),
                                     "%s is world-readable (%o)" % (path, mode))
                if group and grp_bits:
                    self.assertFalse(mode & stat.S_IRGRP, "%s is readable by the drop group (%o)" % (path, mode))
                if stat.S_ISDIR(s.st_mode):
                    reach[path] = (others and bool(mode & stat.S_IXOTH),
                                   group and bool(mode & (stat.S_IXGRP if grp_bits else stat.S_IXOTH)))
                    if reach[path][0]:
                        self.assertIn(name, ("public",), "%s may be entered by everyone (%o)" % (path, mode))

        bob = self.bob
        for path in (deferred, os.path.join(inst.spool, "active"), os.path.join(inst.spool, "incoming"),
                     os.path.join(inst.spool, "maildrop"), os.path.join(self.alice.pw_dir, "Maildir"),
                     os.path.join(self.alice.pw_dir, "Maildir", "new"), os.path.join(self.alice.pw_dir, "Maildir", "cur")):
            r = self.as_user(bob, ["ls", path])
            self.assertNotEqual(0, r.returncode, "bob listed " + path)
        alice_files = []
        for dirpath, _, filenames in os.walk(os.path.join(self.alice.pw_dir, "Maildir")):
            alice_files += [os.path.join(dirpath, f) for f in filenames]
        self.assertTrue([f for f in alice_files if os.path.basename(os.path.dirname(f)) in ("new", "cur")])
        index = [f for f in alice_files if os.path.basename(f).startswith("postilion-index")]
        self.assertTrue(index, "no index file in alice's Maildir: %s" % alice_files)
        for path in [qfile] + alice_files:
            r = self.as_user(bob, ["cat", path])
            self.assertNotEqual(0, r.returncode, "bob read " + path)
            self.assertNotIn(SECRET, r.stdout)
            r = self.as_user(bob, ["sh", "-c", "echo x >> '%s'" % path])
            self.assertNotEqual(0, r.returncode, "bob wrote to " + path)
            r = self.as_user(bob, ["rm", "-f", path])
            self.assertTrue(os.path.exists(path), "bob removed " + path)
        # The mailbox files are alice's, 0600 at most.
        for path in alice_files:
            s = os.stat(path)
            self.assertEqual(self.alice.pw_uid, s.st_uid, path)
            self.assertFalse(stat.S_IMODE(s.st_mode) & 0o077, "%s is %o" % (path, stat.S_IMODE(s.st_mode)))

        # A message bob drops with sendmail while qmgr is stopped waits in maildrop/:
        # bob's own file, which alice cannot read.
        inst.stop()
        r = subprocess.run(["su", "-s", "/bin/sh", bob.pw_name, "-c",
                            "'%s' -C '%s' '%s'" % (harness.sbin("sendmail"), inst.config_dir, self.addr(self.alice))],
                           input="Subject: dropped\n\n%s\n" % SECRET, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual(0, r.returncode, r.stderr)
        maildrop = os.path.join(inst.spool, "maildrop")
        dropped = [os.path.join(maildrop, f) for f in os.listdir(maildrop) if not f.startswith(".")]
        self.assertEqual(1, len(dropped))
        # Readable by qmgr (mail_owner) as Postfix's pickup reads its maildrop files; the
        # folder (1730: the drop group may enter and write, nobody else may enter) is
        # what keeps other users away, so it must not let anyone else in.
        s = os.stat(dropped[0])
        self.assertEqual(bob.pw_uid, s.st_uid)
        self.assertFalse(stat.S_IMODE(s.st_mode) & 0o022, "maildrop file mode %o" % stat.S_IMODE(s.st_mode))
        md = os.stat(maildrop)
        self.assertEqual(0o1730, stat.S_IMODE(md.st_mode))
        self.assertEqual(grp.getgrnam("postdrop").gr_gid, md.st_gid)
        r = self.as_user(self.alice, ["cat", dropped[0]])
        self.assertNotEqual(0, r.returncode)
        self.assertNotIn(SECRET, r.stdout)

    # ---- link tricks ------------------------------------------------------------------------
    def deferred_for(self, pw, start):
        """The first delivery log line for pw after byte start (shown on stderr)."""
        self.inst.wait_log("to=<%s>" % self.addr(pw), 30, start=start)
        line = [l for l in self.inst.log_text()[start:].splitlines() if "to=<%s>" % self.addr(pw) in l][0]
        sys.stderr.write("\n  " + line[line.index("status="):])
        return line

    def test_maildir_link_tricks(self):
        inst = self.start()
        self.send([self.addr(self.alice)], "alice's own")
        harness.wait_for(lambda: self.maildir_files(self.alice), 30, "delivery to alice")
        before = self.maildir_files(self.alice)
        alice_md = os.path.join(self.alice.pw_dir, "Maildir")
        bob_md = os.path.join(self.bob.pw_dir, "Maildir")
        tricks = [
            # bob's Maildir is a link to alice's.
            lambda: os.symlink(alice_md, bob_md),
            # bob's Maildir is his, its new/ a link to alice's.
            lambda: (os.makedirs(bob_md + "/tmp"), os.makedirs(bob_md + "/cur"),
                     os.symlink(alice_md + "/new", bob_md + "/new")),
            # bob's Maildir/tmp a link to alice's (where the file is written first).
            lambda: (os.makedirs(bob_md + "/new"), os.makedirs(bob_md + "/cur"),
                     os.symlink(alice_md + "/tmp", bob_md + "/tmp")),
        ]
        for i, trick in enumerate(tricks):
            subprocess.run(["rm", "-rf", bob_md], check=True)
            trick()
            for dirpath, dirnames, _ in os.walk(bob_md):
                for d in dirnames:
                    p = os.path.join(dirpath, d)
                    if not os.path.islink(p):
                        os.lchown(p, self.bob.pw_uid, self.bob.pw_gid)
            os.lchown(bob_md, self.bob.pw_uid, self.bob.pw_gid)
            at = len(inst.log_text())
            self.send([self.addr(self.bob)], "trick %d" % i)
            line = self.deferred_for(self.bob, at)
            self.assertIn("status=deferred", line, "trick %d: %s" % (i, line))
            self.assertEqual(before, self.maildir_files(self.alice), "trick %d wrote into alice's Maildir" % i)
            self.assertEqual([], os.listdir(alice_md + "/tmp"))

    def test_mbox_link_tricks(self):
        inst = self.start(extra="home_mailbox = mbox\n")
        alice_mbox = os.path.join(self.alice.pw_dir, "mbox")
        bob_mbox = os.path.join(self.bob.pw_dir, "mbox")
        self.send([self.addr(self.alice)], "alice's own")
        harness.wait_for(lambda: os.path.exists(alice_mbox) and "alice's own" in open(alice_mbox).read(), 30,
                         "delivery to alice")
        with open(alice_mbox, "rb") as f:
            before = f.read()
        # A file of bob's own that his mbox could be linked to (any file bob may write).
        decoy = os.path.join(self.bob.pw_dir, "decoy")
        with open(decoy, "w") as f:
            f.write("bob's decoy\n")
        os.chown(decoy, self.bob.pw_uid, self.bob.pw_gid)
        tricks = (lambda: os.symlink(alice_mbox, bob_mbox),  # a symbolic link
                  lambda: os.link(alice_mbox, bob_mbox),     # a hard link to alice's mbox
                  lambda: os.link(decoy, bob_mbox))          # a second link count, bob's own file
        for i, trick in enumerate(tricks):
            if os.path.lexists(bob_mbox):
                os.unlink(bob_mbox)
            trick()
            at = len(inst.log_text())
            self.send([self.addr(self.bob)], "trick %d" % i)
            line = self.deferred_for(self.bob, at)
            self.assertIn("status=deferred", line, "trick %d: %s" % (i, line))
            with open(alice_mbox, "rb") as f:
                self.assertEqual(before, f.read(), "trick %d wrote into alice's mbox" % i)
        self.assertIn("more than one link", line)
        with open(decoy) as f:
            self.assertEqual("bob's decoy\n", f.read())
        # Without the trick bob's own mbox gets his mail (the deferred ones, flushed).
        os.unlink(bob_mbox)
        inst.ctl("queue", "flush", check=True)
        harness.wait_for(lambda: os.path.exists(bob_mbox) and open(bob_mbox).read().count("\nSubject: trick") == 3,
                         30, "bob's mail in his own mbox")
        self.assertEqual(self.bob.pw_uid, os.stat(bob_mbox).st_uid)

    # ---- the setgid commands ----------------------------------------------------------------
    def test_setgid_commands_show_no_content(self):
        inst = self.start()
        postdrop = self.setgid_postdrop()
        self.send(["far@remote.test"], "queued")
        inst.wait_log("status=deferred", 30)
        # bob's own configuration, pointing at the real spool: refused (-c and MAIL_CONFIG).
        evil = os.path.join(inst.base, "evil")
        os.makedirs(evil)
        with open(os.path.join(evil, "main.conf"), "w") as f:
            f.write("queue_directory = %s\nmaillog_file = %s/log\n" % (inst.spool, evil))
        os.chown(evil, self.bob.pw_uid, self.bob.pw_gid)
        os.chown(os.path.join(evil, "main.conf"), self.bob.pw_uid, self.bob.pw_gid)
        r = self.as_user(self.bob, [postdrop, "-c", evil, "-p"])
        self.assertNotEqual(0, r.returncode)
        self.assertIn("not an administrator's configuration", r.stderr)
        r = self.as_user(self.bob, [postdrop, "-p"], env={"MAIL_CONFIG": evil})
        self.assertNotEqual(0, r.returncode)
        # The listing through the real configuration: the envelope, not the text.
        for argv in ([postdrop, "-c", inst.config_dir, "-p"], [harness.sbin("mailq"), "-C", inst.config_dir]):
            r = self.as_user(self.bob, argv)
            self.assertEqual(0, r.returncode, r.stderr)
            self.assertIn("far@remote.test", r.stdout)
            self.assertNotIn(SECRET, r.stdout)
            self.assertNotIn("Subject", r.stdout)


if __name__ == "__main__":
    harness.main()
