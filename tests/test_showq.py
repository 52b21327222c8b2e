#!/usr/bin/env python3
# tests/test_showq.py - mailq and sendmail -q for every local user (as root): a master
# started by root runs showq(8) on public/showq; an ordinary user's sendmail -bp, mailq
# and sendmail -q go through the set-gid postdrop -p / -f to it and see the deferred
# message and flush it, while the same user can read neither the spool nor the socket.
# showq answers only list and flush: other requests get an error, malformed frames end
# the connection, and it keeps serving afterwards.
import os
import pwd
import random
import socket
import stat
import struct
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from dns import pstipc  # noqa: E402

ROOT = os.geteuid() == 0




@unittest.skipUnless(ROOT, "needs root: a root-started instance and real non-root users")
class ShowqTest(harness.InstanceTestCase):

    def setUp(self):
        super().setUp()
        for d in ("master", "qmgr", "local", "showq"):
            harness.require_daemon(self, d)
        if not harness.user_exists("postilion"):
            self.skipTest("mail_owner postilion does not exist")
        self.postdrop = harness.sbin("postdrop")
        st = os.stat(self.postdrop)
        if not st.st_mode & stat.S_ISGID:
            # Set-gid for this test only: the installed tree is shared with other tests.
            import grp
            try:
                gid = grp.getgrnam("postdrop").gr_gid
            except KeyError:
                self.skipTest("group postdrop does not exist")
            self.addCleanup(os.chown, self.postdrop, st.st_uid, st.st_gid)
            self.addCleanup(os.chmod, self.postdrop, st.st_mode & 0o7777)
            os.chown(self.postdrop, 0, gid)
            os.chmod(self.postdrop, 0o2755)

    # ---- helpers -------------------------------------------------------------------
    def add_user(self, homes):
        return harness.add_system_user(self, "pstq", homes)

    def as_user(self, user, argv, text=""):
        """Runs argv as user (a login shell is not needed); returns the CompletedProcess."""
        cmd = " ".join("'%s'" % a for a in argv)
        return subprocess.run(["su", "-s", "/bin/sh", user, "-c", cmd], input=text,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)

    def sendmail(self, inst, args, user=None, prog="sendmail", text=""):
        argv = [harness.sbin(prog), "-C", inst.config_dir] + list(args)
        if user:
            return self.as_user(user, argv, text)
        return subprocess.run(argv, input=text, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=60)

    def deferred_ids(self, inst):
        d = os.path.join(inst.spool, "deferred")
        return sorted(f for f in os.listdir(d) if not f.startswith("."))

    def start_instance(self):
        inst = self.make_instance(ports=())
        inst.init("--user", "postilion")
        homes = os.path.join(inst.base, "homes")
        os.makedirs(homes)
        os.chmod(homes, 0o755)
        with open(inst.main_conf(), "a") as f:
            f.write("mydestination = $myhostname, localhost, $mydomain\n")
            f.write("alias_maps = hash:%s\n" % os.path.join(inst.config_dir, "aliases"))
            # Long backoff and queue runs: only a flush brings the message back soon.
            f.write("minimal_backoff_time = 3600s\nmaximal_backoff_time = 7200s\n")
            f.write("queue_run_delay = 3600s\n")
        with open(os.path.join(inst.config_dir, "aliases"), "w") as f:
            f.write("postmaster: root\n")
        r = self.sendmail(inst, ["-bi"])
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(inst.master_conf()) as f:
            master = f.read()
        self.assertRegex(master, r"(?m)^showq\s+unix\s+n\s+-\s+n\s+")
        inst.start()
        inst.wait_ready()
        return inst, homes

    def defer_one(self, inst, homes):
        """Queues a message for a user whose Maildir cannot be written; waits until it is
        deferred. Returns (recipient pw, maildir, queue id)."""
        rcpt = self.add_user(homes)
        maildir = os.path.join(rcpt.pw_dir, "Maildir")
        for sub in ("", "/tmp", "/new", "/cur"):
            os.makedirs(maildir + sub)
            os.chown(maildir + sub, rcpt.pw_uid, rcpt.pw_gid)
        os.chmod(maildir + "/tmp", 0o500)
        r = self.sendmail(inst, ["%s@%s" % (rcpt.pw_name, inst.domain)],
                          text="Subject: waiting\n\nin the queue\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        inst.wait_log("status=deferred", 30)
        ids = harness.wait_for(lambda: self.deferred_ids(inst), 30, "a file in deferred/")
        return rcpt, maildir, ids[0]

    # ---- tests -----------------------------------------------------------------------
    def test_user_lists_and_flushes_without_spool_access(self):
        inst, homes = self.start_instance()
        # public/ is mail_owner's with the drop group, 0710; pid/ is root's.
        owner = pwd.getpwnam("postilion")
        pub = os.stat(os.path.join(inst.spool, "public"))
        self.assertEqual((owner.pw_uid, os.stat(self.postdrop).st_gid, 0o710),
                         (pub.st_uid, pub.st_gid, stat.S_IMODE(pub.st_mode)))
        pid = os.stat(os.path.join(inst.spool, "pid"))
        self.assertEqual((0, 0o700), (pid.st_uid, stat.S_IMODE(pid.st_mode)))
        rcpt, maildir, qid = self.defer_one(inst, homes)
        user = self.add_user(homes).pw_name

        # The user cannot look into the spool nor talk to showq without postdrop.
        for path in (os.path.join(inst.spool, "deferred"), os.path.join(inst.spool, "public")):
            r = self.as_user(user, ["ls", path])
            self.assertNotEqual(r.returncode, 0, "user listed " + path)
        r = self.as_user(user, ["cat", os.path.join(inst.spool, "deferred", qid)])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Permission denied", r.stderr)
        if os.access("/usr/bin/python3", os.X_OK):
            r = self.as_user(user, ["/usr/bin/python3", "-c",
                                    "import socket; s = socket.socket(socket.AF_UNIX); s.connect(\"%s\")"
                                    % os.path.join(inst.spool, "public", "showq")])
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("PermissionError", r.stderr)

        # ... but sendmail -bp, mailq and postdrop -p show the queue, as root sees it.
        want = self.sendmail(inst, ["-bp"])
        self.assertEqual(want.returncode, 0, want.stderr)
        self.assertIn(qid, want.stdout)
        rcpt_addr = "%s@%s" % (rcpt.pw_name, inst.domain)
        for argv, prog in ((["-bp"], "sendmail"), ([], "mailq")):
            r = self.sendmail(inst, argv, user=user, prog=prog)
            self.assertEqual(r.returncode, 0, "%s: %s" % (prog, r.stderr))
            self.assertEqual(want.stdout, r.stdout)
            self.assertIn(qid, r.stdout)
            self.assertIn(rcpt_addr, r.stdout)
            self.assertIn("Permission denied", r.stdout)  # the delay reason
            self.assertRegex(r.stdout, r"-- \d+ Kbytes in 1 Request\.")
        r = self.as_user(user, [self.postdrop, "-c", inst.config_dir, "-p"])
        self.assertEqual((0, want.stdout), (r.returncode, r.stdout), r.stderr)
        # The listing came from showq, which master started on demand.
        self.assertIn("showq", inst.children().values())

        # sendmail -q as the user: qmgr retries at once although the backoff is an hour.
        os.chmod(maildir + "/tmp", 0o700)
        r = self.sendmail(inst, ["-q"], user=user)
        self.assertEqual(r.returncode, 0, r.stderr)
        harness.wait_for(lambda: os.listdir(maildir + "/new"), 30, "delivery after the flush")
        harness.wait_for(lambda: not self.deferred_ids(inst), 30, "deferred/ empty")
        r = self.sendmail(inst, [], user=user, prog="mailq")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Mail queue is empty", r.stdout)

    def test_showq_refuses_everything_else(self):
        inst, homes = self.start_instance()
        rcpt, maildir, qid = self.defer_one(inst, homes)
        sock = os.path.join(inst.spool, "public", "showq")
        harness.wait_for(lambda: os.path.exists(sock), 10, "public/showq")

        # Well-formed requests for anything but list and flush get status=error.
        for attrs in ([("cmd", "delete"), ("id", "ALL")], [("cmd", "hold")], [("cmd", "wakeup")],
                      [("cmd", "list"), ("cmd", "flush")], [("cmd", "list"), ("queue", "deferred")],
                      [("cmd", "LIST")], [("id", qid)], []):
            reply = pstipc.call(sock, attrs, timeout=10)
            self.assertEqual("error", pstipc.get(reply, "status"), attrs)
            self.assertTrue(pstipc.get(reply, "text", "").startswith("bad request"), reply)

        # Malformed frames: the connection ends without an answer.
        rng = random.Random(4)
        garbage = [
            struct.pack(">I", 0x7FFFFFFF) + b"cmd",
            struct.pack(">I", 8) + struct.pack(">H", 200) + b"cmd\0\0\0",
            struct.pack(">I", 5000) + b"x" * 5000,
            b"GET / HTTP/1.0\r\n\r\n",
            pstipc.encode([("cmd", "list")])[:6],
        ] + [struct.pack(">I", n) + bytes(rng.randrange(256) for _ in range(n))
             for n in (1, 7, 64, 1000)]
        for g in garbage:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(20)
            s.connect(sock)
            s.sendall(g)
            if g == pstipc.encode([("cmd", "list")])[:6]:
                s.shutdown(socket.SHUT_WR)  # a truncated frame, then EOF
            got = b""
            while True:
                try:
                    chunk = s.recv(65536)
                except ConnectionResetError:  # closed with our bytes unread
                    break
                if not chunk:
                    break
                got += chunk
            s.close()
            if got:
                # Random bytes may happen to form a frame: then it must be refused.
                self.assertIn(b"error", got, g[:40])

        # Two requests on one connection: one answer (the second is ignored), then the end.
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(20)
        s.connect(sock)
        s.sendall(pstipc.encode([("cmd", "list")]) + pstipc.encode([("cmd", "flush")]))
        frames = []
        while True:
            try:
                frames.append(pstipc.read(s))
            except (ConnectionError, OSError):
                break
        s.close()
        self.assertEqual("ok", pstipc.get(frames[-1], "status"), frames)
        self.assertTrue(all(pstipc.get(f, "status") in ("part", "ok") for f in frames), frames)

        # Nothing of that touched the queue, and showq still serves.
        self.assertEqual([qid], self.deferred_ids(inst))
        r = self.sendmail(inst, ["-bp"], user=self.add_user(homes).pw_name)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(qid, r.stdout)
        log = inst.log_text()
        self.assertIn("showq: bad request", log)
        self.assertIn("showq: client dropped: malformed message", log)
        self.assertNotIn("panic", log)

    def test_postdrop_modes_usage(self):
        r = subprocess.run([self.postdrop, "-p", "-f"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=30)
        self.assertEqual(64, r.returncode)  # EX_USAGE
        self.assertIn("usage", r.stderr)
        r = subprocess.run([self.postdrop, "-p", "extra"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=30)
        self.assertEqual(64, r.returncode)


class ShowqConfigTest(harness.InstanceTestCase):
    """init lists showq as a public service, and check says when it is missing."""

    def test_init_lists_showq_and_check_misses_it(self):
        harness.require_daemon(self, "showq")
        inst = self.make_instance(ports=())
        inst.init()
        with open(inst.master_conf()) as f:
            master = f.read()
        self.assertRegex(master, r"(?m)^showq\s+unix\s+n\s+-\s+n\s+-\s+-\s+showq$")
        r = inst.ctl("check")
        self.assertNotIn("problem:", r.stdout)
        with open(inst.master_conf(), "w") as f:
            f.write("".join(l for l in master.splitlines(True) if not l.startswith("showq")))
        r = inst.ctl("check")
        self.assertEqual(2, r.returncode, r.stdout)
        self.assertIn("problem: master.conf has no showq service", r.stdout)
        self.assertIn("remedy: add the line: showq unix n - n - - showq", r.stdout)
        with open(inst.master_conf(), "a") as f:
            f.write("showq unix - - n - - showq\n")  # private: postdrop cannot reach it
        r = inst.ctl("check")
        self.assertIn("showq must be `showq unix n ...`", r.stdout)


if __name__ == "__main__":
    harness.main()
