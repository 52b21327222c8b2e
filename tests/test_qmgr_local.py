#!/usr/bin/env python3
# tests/test_qmgr_local.py - the queue manager, local delivery and the sendmail interface
# end to end: Maildir delivery exactly once with Return-Path/Delivered-To/Received,
# alias fan-out, .forward, |command, mbox under concurrent deliveries, sendmail -t,
# mail(1) as a non-root user, an unwritable mailbox deferred then delivered, unknown
# user -> DSN checked part by part, and crash safety under kill -9 of qmgr and local.
#
# The instance is made by `postilionctl init`; qmgr and local are started from the
# installed tree with -c CONFIG_DIR (their stand-alone start) and stopped by PID. Mail
# goes in through sendmail/postdrop. As root, the tests create system users with homes
# below the test's temp dir and remove them afterwards; otherwise they deliver to the
# invoking user with local_home_root pointing into the temp dir.
import email
import email.policy
import glob
import grp
import os
import pwd
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402

ROOT = os.geteuid() == 0


def setgid_postdrop(test, ms):
    """postdrop set-gid to the maildrop group for this test only (the installed tree is
    shared with other tests), so that users other than root can submit."""
    postdrop = harness.sbin("postdrop")
    drop_gid = os.stat(os.path.join(ms.inst.spool, "maildrop")).st_gid
    before = os.stat(postdrop)
    test.addCleanup(os.chown, postdrop, before.st_uid, before.st_gid)
    test.addCleanup(os.chmod, postdrop, before.st_mode & 0o7777)
    os.chown(postdrop, 0, drop_gid)
    os.chmod(postdrop, 0o2755)


class MailSystem:
    """An instance with qmgr and local running, users, and helpers to send and look."""

    def __init__(self, test, extra_conf=None):
        self.test = test
        harness.require_daemon(test, "qmgr")
        harness.require_daemon(test, "local")
        self.inst = test.make_instance(ports=())
        extra = ["--user", "postilion"] if ROOT and harness.user_exists("postilion") else []
        self.inst.init(*extra)
        self.base = self.inst.base
        self.homes = os.path.join(self.base, "homes")
        os.makedirs(self.homes)
        os.chmod(self.homes, 0o755)
        self.procs = {}
        conf = {
            "mydestination": "$myhostname, localhost, $mydomain",
            "alias_maps": "hash:" + os.path.join(self.inst.config_dir, "aliases"),
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
            "queue_run_delay": "1s",
        }
        if not ROOT:
            conf["local_home_root"] = self.homes
        conf.update(extra_conf or {})
        with open(self.inst.main_conf(), "a") as f:
            for k, v in conf.items():
                f.write("%s = %s\n" % (k, v))
        self.set_aliases("postmaster: root\n")
        test.addCleanup(self.cleanup)
        self.start("qmgr")
        self.start("local")

    # ---- processes ---------------------------------------------------------------
    def start(self, name):
        p = subprocess.Popen([harness.program(name), "--standalone", "-c", self.inst.config_dir],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs[name] = p
        sock = os.path.join(self.inst.spool, "private", name)
        harness.wait_for(lambda: os.path.exists(sock) and p.poll() is None, 10, "%s socket" % name)
        return p

    def kill(self, name, sig=signal.SIGKILL):
        p = self.procs.get(name)
        if p and p.poll() is None:
            workers = harness.children_of(p.pid)  # local's stand-alone worker processes
            p.send_signal(sig)
            p.wait(10)
            # Workers end with their parent, even after they have delivered (and so
            # switched ids, which clears a parent-death signal): none may be left behind.
            harness.wait_for(lambda: not any(harness.pid_alive(w) for w in workers), 10,
                             "%s's worker processes %s to end with it" % (name, sorted(workers)))

    def cleanup(self):
        for name in list(self.procs):
            self.kill(name, signal.SIGTERM)

    # ---- users and tables ----------------------------------------------------------
    def add_user(self):
        """A local user with a home below the temp dir; returns (name, home)."""
        if not ROOT:
            name = pwd.getpwuid(os.getuid()).pw_name
            home = os.path.join(self.homes, name)
            os.makedirs(home, exist_ok=True)
            return name, home
        pw = harness.add_system_user(self.test, "pst", self.homes)
        return pw.pw_name, pw.pw_dir

    def set_aliases(self, text):
        path = os.path.join(self.inst.config_dir, "aliases")
        with open(path, "w") as f:
            f.write(text)
        r = self.sendmail(["-bi"])
        self.test.assertEqual(r.returncode, 0, r.stderr)

    def conf(self, name, value):
        with open(self.inst.main_conf(), "a") as f:
            f.write("%s = %s\n" % (name, value))

    # ---- mail ----------------------------------------------------------------------------
    def addr(self, user):
        return "%s@%s" % (user, self.inst.domain)

    def sendmail(self, args, text="", user=None, timeout=60):
        cmd = [harness.sbin("sendmail"), "-C", self.inst.config_dir] + list(args)
        if user:
            cmd = ["su", "-s", "/bin/sh", user, "-c", " ".join("'%s'" % a for a in cmd)]
        return subprocess.run(cmd, input=text, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=timeout)

    def send(self, rcpts, subject, body="hello\n", sender=None, headers=""):
        args = (["-f", sender] if sender else []) + list(rcpts)
        r = self.sendmail(args, "Subject: %s\n%s\n%s" % (subject, headers, body))
        self.test.assertEqual(r.returncode, 0, r.stderr)

    def maildir(self, home):
        return sorted(glob.glob(os.path.join(home, "Maildir", "new", "*")))

    def messages(self, home):
        out = []
        for path in self.maildir(home):
            with open(path, "rb") as f:
                out.append(email.message_from_bytes(f.read(), policy=email.policy.compat32))
        return out

    def tally(self, home, accepted):
        """Messages numbered by their Subject ("Subject: x N") in home's maildir against the
        numbers accepted: (delivered {N: copies}, lost [N...], duplicated copies)."""
        seen = {}
        for m in self.messages(home):
            k = int(m["Subject"].split()[1])
            seen[k] = seen.get(k, 0) + 1
        lost = [i for i in accepted if i not in seen]
        return seen, lost, sum(c - 1 for c in seen.values())

    def wait_messages(self, home, n, timeout=30):
        harness.wait_for(lambda: len(self.maildir(home)) >= n, timeout, "%d messages in %s" % (n, home))
        return self.messages(home)

    def queue_empty(self):
        for q in ("maildrop", "incoming", "active", "deferred"):
            if any(not f.startswith(".") for f in os.listdir(os.path.join(self.inst.spool, q))):
                return False
        return True

    def wait_queue_empty(self, timeout=60):
        harness.wait_for(self.queue_empty, timeout, "empty queue")




class QmgrLocalTest(harness.InstanceTestCase):

    def test_maildir_exactly_once_with_trace_headers(self):
        ms = MailSystem(self)
        user, home = ms.add_user()
        ms.send([ms.addr(user)], "once", sender="alice@remote.test")
        msgs = ms.wait_messages(home, 1)
        ms.wait_queue_empty()
        time.sleep(0.5)  # a duplicate would arrive within this time
        msgs = ms.messages(home)
        self.assertEqual(len(msgs), 1)
        m = msgs[0]
        self.assertEqual(m["Return-Path"], "<alice@remote.test>")
        self.assertEqual(m["Delivered-To"], ms.addr(user))
        self.assertIn("Postilion", m["Received"])
        self.assertEqual(m["Subject"], "once")
        self.assertEqual(m.get_payload(), "hello\n")
        log = ms.inst.log_text()
        self.assertIn("status=sent (delivered to maildir)", log)
        self.assertIn(": removed", log)
        self.assertIn("(queue active)", log)
        if ROOT:
            st = os.stat(ms.maildir(home)[0])
            self.assertEqual(st.st_uid, pwd.getpwnam(user).pw_uid)

    @unittest.skipUnless(ROOT, "needs root to create several users")
    def test_alias_fan_out_forward_and_command(self):
        ms = MailSystem(self)
        u1, h1 = ms.add_user()
        u2, h2 = ms.add_user()
        u3, h3 = ms.add_user()
        out_dir = os.path.join(ms.base, "piped")
        os.makedirs(out_dir)
        os.chmod(out_dir, 0o1777)
        out = os.path.join(out_dir, "out")
        ms.set_aliases("team: %s, %s, team2\nteam2: %s, \"|cat >> %s\"\n" % (u1, u2, u1, out))
        ms.send([ms.addr("team")], "fan-out")
        ms.wait_messages(h1, 1)
        ms.wait_messages(h2, 1)
        harness.wait_for(lambda: os.path.exists(out) and "fan-out" in open(out).read(), 20, "piped copy")
        ms.wait_queue_empty()
        self.assertEqual(len(ms.maildir(h1)), 1)  # u1 named twice: one copy
        self.assertEqual(len(ms.maildir(h2)), 1)
        # .forward: u3 forwards to u2 and keeps a copy; a group-writable one is ignored.
        fwd = os.path.join(h3, ".forward")
        with open(fwd, "w") as f:
            f.write("%s, \\%s\n" % (u2, u3))
        pw = pwd.getpwnam(u3)
        os.chown(fwd, pw.pw_uid, pw.pw_gid)
        os.chmod(fwd, 0o644)
        ms.send([ms.addr(u3)], "forwarded")
        ms.wait_messages(h2, 2)
        ms.wait_messages(h3, 1)
        os.chmod(fwd, 0o664)
        ms.send([ms.addr(u3)], "unsafe forward")
        ms.wait_messages(h3, 2)
        ms.wait_queue_empty()
        self.assertEqual(len(ms.maildir(h2)), 2)
        # ... and the log says why forwarding stopped.
        self.assertRegex(ms.inst.log_text(), r"postilion/local\[\d+\]: warning: [0-9A-Za-z]+: ignoring \.forward of "
                                             + re.escape(u3) + ": " + re.escape(fwd) + ": writable by group or others")

    def test_mbox_two_concurrent_deliveries(self):
        ms = MailSystem(self, {"home_mailbox": "Mailbox", "local_destination_concurrency_limit": "4"})
        user, home = ms.add_user()
        n = 20
        body = "".join("line %04d of a longer body\n" % i for i in range(400))
        for i in range(n):
            ms.send([ms.addr(user)], "mbox %d" % i, body=body)
        ms.wait_queue_empty()
        with open(os.path.join(home, "Mailbox")) as f:
            text = f.read()
        entries = text.split("\nFrom ")
        self.assertEqual(len(entries), n)
        subjects = sorted(int(e.split("Subject: mbox ")[1].split("\n")[0]) for e in entries)
        self.assertEqual(subjects, list(range(n)))
        for e in entries:
            self.assertIn(body, e)  # every body whole: nothing interleaved
        self.assertFalse(os.path.exists(os.path.join(home, "Mailbox.lock")))

    def test_sendmail_t_and_bcc(self):
        ms = MailSystem(self)
        user, home = ms.add_user()
        r = ms.sendmail(["-t", "-oi"], "To: %s\nBcc: %s\nSubject: by header\n\n.\nstill here\n"
                        % (ms.addr(user), ms.addr(user)))
        self.assertEqual(r.returncode, 0, r.stderr)
        msgs = ms.wait_messages(home, 1)
        ms.wait_queue_empty()
        self.assertEqual(len(ms.maildir(home)), 1)
        self.assertIsNone(msgs[0]["Bcc"])
        self.assertIn("still here", msgs[0].get_payload())
        # Usage errors are sysexits codes.
        self.assertEqual(ms.sendmail(["-t"], "Subject: no one\n\nx\n").returncode, 67)
        self.assertEqual(ms.sendmail([]).returncode, 64)

    @unittest.skipUnless(ROOT, "needs root: a set-gid postdrop and a second user")
    def test_mail_as_non_root_user_through_postdrop(self):
        ms = MailSystem(self)
        sender, shome = ms.add_user()
        user, home = ms.add_user()
        setgid_postdrop(self, ms)
        # bsd-mailx runs the sendmail named by its `sendmail` variable.
        rc = os.path.join(shome, ".mailrc")
        with open(rc, "w") as f:
            f.write("set sendmail=%s\n" % os.path.join(ms.base, "sendmail-wrapper"))
        with open(os.path.join(ms.base, "sendmail-wrapper"), "w") as f:
            f.write("#!/bin/sh\nexec %s -C %s \"$@\"\n" % (harness.sbin("sendmail"), ms.inst.config_dir))
        os.chmod(os.path.join(ms.base, "sendmail-wrapper"), 0o755)
        r = subprocess.run(["su", "-s", "/bin/sh", sender, "-c", "mail -s 'from mailx' %s" % ms.addr(user)],
                           input="written with mail(1)\n", stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=30, env=dict(os.environ, HOME=shome))
        self.assertEqual(r.returncode, 0, r.stdout)
        msgs = ms.wait_messages(home, 1)
        self.assertEqual(msgs[0]["Subject"], "from mailx")
        self.assertTrue(msgs[0]["Return-Path"].startswith("<%s@" % sender))
        # The sender cannot read what is queued for others: maildrop/ is closed to users.
        r = subprocess.run(["su", "-s", "/bin/sh", sender, "-c", "ls %s" % os.path.join(ms.inst.spool, "maildrop")],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.assertNotEqual(r.returncode, 0)

    @unittest.skipUnless(ROOT, "needs root: the limits spare root, so a second user sends")
    def test_local_sender_limits(self):
        """local_sender_message_rate_limit: a user's third message of the hour waits in
        maildrop/ (logged once), root's mail is not limited."""
        ms = MailSystem(self, {"local_sender_message_rate_limit": "2", "local_sender_recipient_rate_limit": "10"})
        sender, _ = ms.add_user()
        user, home = ms.add_user()
        setgid_postdrop(self, ms)
        for i in range(3):
            r = ms.sendmail([ms.addr(user)], "Subject: limited %d\n\nhello\n" % i, user=sender)
            self.assertEqual(0, r.returncode, r.stderr)
        ms.wait_messages(home, 2)
        uid = pwd.getpwnam(sender).pw_uid
        ms.inst.wait_log("uid=%d from=<%s@" % (uid, sender))
        harness.wait_for(lambda: "deferred: 4.7.1 local sender message rate limit exceeded (2 per hour); "
                         "left in maildrop/" in ms.inst.log_text(), 10, "the limit's log line")
        time.sleep(2.5)  # qmgr scans maildrop/ every second: the file stays, logged once
        self.assertEqual(2, len(ms.maildir(home)))
        waiting = [f for f in os.listdir(os.path.join(ms.inst.spool, "maildrop")) if not f.startswith(".")]
        self.assertEqual(1, len(waiting))
        self.assertEqual(1, ms.inst.log_text().count("local sender message rate limit exceeded"))
        # root is not limited.
        for i in range(3):
            ms.send([ms.addr(user)], "root %d" % i)
        ms.wait_messages(home, 5)

    def test_unwritable_mailbox_deferred_then_delivered(self):
        ms = MailSystem(self)
        user, home = ms.add_user()
        maildir = os.path.join(home, "Maildir")
        for sub in ("", "/tmp", "/new", "/cur"):
            os.makedirs(maildir + sub, exist_ok=True)
        if ROOT:
            pw = pwd.getpwnam(user)
            for sub in ("", "/tmp", "/new", "/cur"):
                os.chown(maildir + sub, pw.pw_uid, pw.pw_gid)
        os.chmod(maildir + "/tmp", 0o500)
        ms.send([ms.addr(user)], "deferred first")
        ms.inst.wait_log("status=deferred")
        self.assertEqual(ms.maildir(home), [])
        r = ms.sendmail(["-bp"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(ms.addr(user), r.stdout)
        self.assertIn("Permission denied", r.stdout)
        os.chmod(maildir + "/tmp", 0o700)
        self.assertEqual(ms.sendmail(["-q"]).returncode, 0)
        ms.wait_messages(home, 1)
        ms.wait_queue_empty()
        self.assertIn("Mail queue is empty", ms.sendmail(["-bp"]).stdout)

    def test_unknown_user_dsn_to_local_sender(self):
        ms = MailSystem(self)
        user, home = ms.add_user()
        ms.send([ms.addr("no-such-user-here")], "lost", sender=ms.addr(user), body="original body\n")
        msgs = ms.wait_messages(home, 1)
        ms.wait_queue_empty()
        dsn = msgs[0]
        self.assertEqual(dsn["Return-Path"], "<>")
        self.assertEqual(dsn.get_content_type(), "multipart/report")
        self.assertEqual(dsn.get_param("report-type"), "delivery-status")
        parts = dsn.get_payload()
        self.assertEqual(len(parts), 3)
        self.assertEqual(parts[0].get_content_type(), "text/plain")
        self.assertIn("no-such-user-here", parts[0].get_payload())
        self.assertEqual(parts[1].get_content_type(), "message/delivery-status")
        fields = parts[1].get_payload()  # [per-message, per-recipient]
        self.assertIn("dns;", fields[0]["Reporting-MTA"])
        rcpt = fields[1]
        self.assertEqual(rcpt["Action"], "failed")
        self.assertEqual(rcpt["Status"], "5.1.1")
        self.assertIn(ms.addr("no-such-user-here"), rcpt["Final-Recipient"])
        self.assertEqual(parts[2].get_content_type(), "message/rfc822")
        returned = parts[2].get_payload()[0]
        self.assertEqual(returned["Subject"], "lost")
        self.assertIn("original body", returned.get_payload())
        self.assertIn("sender non-delivery notification", ms.inst.log_text())

    def test_crash_safety_kill_qmgr_and_local(self):
        ms = MailSystem(self)
        user, home = ms.add_user()
        n = int(os.environ.get("PST_CRASH_MESSAGES", "60"))
        accepted = []
        rnd = random.Random(4)
        deadline = time.monotonic() + 240
        for i in range(n):
            if time.monotonic() > deadline:
                break
            r = ms.sendmail([ms.addr(user)], "Subject: crash %d\n\nbody %d\n" % (i, i))
            if r.returncode == 0:
                accepted.append(i)
            if rnd.random() < 0.25:
                victim = rnd.choice(["qmgr", "local"])
                time.sleep(rnd.random() * 0.05)
                ms.kill(victim)
                ms.start(victim)
        ms.wait_queue_empty(120)
        seen, lost, dups = ms.tally(home, accepted)
        print("\ncrash safety: accepted=%d delivered=%d lost=%d duplicated=%d"
              % (len(accepted), len(seen), len(lost), dups))
        self.assertEqual(lost, [])
        self.assertGreater(len(accepted), n // 2)


if __name__ == "__main__":
    harness.main()
