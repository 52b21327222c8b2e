#!/usr/bin/env python3
# tests/test_qmgr_smtp.py - mail sent with smtplib to a whole instance under master(8)
# (smtpd -> incoming/ -> qmgr -> local -> Maildir): delivered exactly once with the
# trace headers, and crash safety under a bounded SMTP load while smtpd, qmgr and local
# are killed with SIGKILL at random moments (master restarts them): every message that
# got 250 is delivered; the test prints the lost (must be 0) and duplicated counts.
import os
import random
import signal
import smtplib
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from test_qmgr_local import MailSystem, ROOT  # noqa: E402


class UnderMaster(MailSystem):
    """The MailSystem helpers on an instance whose services master runs (smtpd too)."""

    def __init__(self, test, extra_conf=None):
        for d in ("master", "smtpd", "qmgr", "local"):
            harness.require_daemon(test, d)
        self.test = test
        self.inst = test.make_instance(ports=("smtp",))
        extra = ["--user", "postilion"] if ROOT else []
        self.inst.init(*extra)
        self.base = self.inst.base
        self.homes = os.path.join(self.base, "homes")
        os.makedirs(self.homes)
        os.chmod(self.homes, 0o755)
        self.users = []
        self.procs = {}
        with open(self.inst.main_conf(), "a") as f:
            f.write("alias_maps = hash:%s/aliases\n" % self.inst.config_dir)
            f.write("minimal_backoff_time = 1s\nmaximal_backoff_time = 2s\nqueue_run_delay = 1s\n")
            if not ROOT:
                f.write("local_home_root = %s\n" % self.homes)
            for k, v in (extra_conf or {}).items():
                f.write("%s = %s\n" % (k, v))
        self.set_aliases("postmaster: root\n")
        test.addCleanup(self.cleanup)
        self.inst.start()
        self.inst.wait_ready()

    def smtp(self):
        return smtplib.SMTP(self.inst.addr, self.inst.ports["smtp"], timeout=30)

    def service_pid(self, name):
        for pid, comm in self.inst.children().items():
            if comm == name:
                return pid
        return None


class QmgrSmtpTest(harness.InstanceTestCase):

    def test_smtp_to_maildir_exactly_once(self):
        ms = UnderMaster(self)
        user, home = ms.add_user()
        with ms.smtp() as s:
            s.sendmail("alice@remote.test", [ms.addr(user)], "Subject: by smtp\r\n\r\nhello\r\n")
        msgs = ms.wait_messages(home, 1)
        ms.wait_queue_empty()
        time.sleep(0.5)
        self.assertEqual(len(ms.maildir(home)), 1)
        m = msgs[0]
        self.assertEqual(m["Return-Path"], "<alice@remote.test>")
        self.assertEqual(m["Delivered-To"], ms.addr(user))
        self.assertTrue(m.get_all("Received"))
        self.assertEqual(m["Subject"], "by smtp")

    def test_notify_success_and_never(self):
        ms = UnderMaster(self, {"transport_maps": "inline:{blocked.test=error:no mail here}"})
        sender, shome = ms.add_user()
        rcpt, rhome = ms.add_user()
        with ms.smtp() as s:
            s.ehlo()
            if not s.has_extn("dsn"):
                self.skipTest("smtpd does not offer DSN")
            s.sendmail(ms.addr(sender), [ms.addr(rcpt)], "Subject: tell me\r\n\r\nx\r\n",
                       rcpt_options=["NOTIFY=SUCCESS"])
            s.sendmail(ms.addr(sender), ["x@blocked.test"], "Subject: quiet\r\n\r\nx\r\n",
                       rcpt_options=["NOTIFY=NEVER"])
        ms.wait_messages(rhome, 1)
        reports = ms.wait_messages(shome, 1)
        ms.wait_queue_empty()
        time.sleep(0.5)
        reports = ms.messages(shome)
        self.assertEqual(len(reports), 1)  # the success report; NEVER silenced the failure
        self.assertEqual(reports[0]["Subject"], "Successful Mail Delivery Report")
        status = reports[0].get_payload()[1].get_payload()[1]
        self.assertEqual(status["Action"], "delivered")
        self.assertEqual(status["Status"], "2.0.0")
        self.assertIn("status=bounced (no mail here)", ms.inst.log_text())

    def test_finished_queue_files_are_written_over(self):
        # qmgr keeps a finished queue file in spare/ and smtpd writes its next message
        # over it: the file of a long message then carries a short one, which must come
        # out whole and alone - nothing of the long one behind its end.
        ms = UnderMaster(self)
        user, home = ms.add_user()
        spare = os.path.join(ms.inst.spool, "spare")
        long_body = "".join("line %05d %s\r\n" % (i, "L" * 64) for i in range(1500))  # ~110 KB
        with ms.smtp() as s:
            s.sendmail("alice@remote.test", [ms.addr(user)], "Subject: long\r\n\r\n" + long_body)
        ms.wait_messages(home, 1)
        ms.wait_queue_empty()
        harness.wait_for(lambda: len(os.listdir(spare)) == 1, 10, "the finished file in spare/")
        kept = os.listdir(spare)[0]
        ino = os.stat(os.path.join(spare, kept)).st_ino
        self.assertGreater(os.stat(os.path.join(spare, kept)).st_size, 100000)
        with ms.smtp() as s:
            s.sendmail("bob@remote.test", [ms.addr(user)], "Subject: short\r\n\r\nshort body\r\n")
        ms.wait_messages(home, 2)
        ms.wait_queue_empty()
        short = [m for m in ms.messages(home) if m["Subject"] == "short"]
        self.assertEqual(len(short), 1)
        self.assertEqual(short[0].get_payload(), "short body\n")
        self.assertEqual(short[0]["Return-Path"], "<bob@remote.test>")
        # The same file went round: written over by smtpd, delivered, back in spare/,
        # now as long as the short message.
        harness.wait_for(lambda: len(os.listdir(spare)) == 1, 10, "the file back in spare/")
        back = os.path.join(spare, os.listdir(spare)[0])
        self.assertEqual(os.stat(back).st_ino, ino)
        self.assertLess(os.stat(back).st_size, 4096)
        with open(back, "rb") as f:
            self.assertNotIn(b"LLLL", f.read())
        # With queue_file_recycle_limit = 0 finished files are unlinked.
        ms.inst.stop()
        ms.inst.ctl("config", "queue_file_recycle_limit=0", check=True)
        os.unlink(back)
        ms.inst.start()
        ms.inst.wait_ready()
        with ms.smtp() as s:
            s.sendmail("carol@remote.test", [ms.addr(user)], "Subject: third\r\n\r\nx\r\n")
        ms.wait_messages(home, 3)
        ms.wait_queue_empty()
        time.sleep(0.5)
        self.assertEqual(os.listdir(spare), [])

    def test_crash_safety_under_smtp_load(self):
        ms = UnderMaster(self)
        user, home = ms.add_user()
        n = int(os.environ.get("PST_CRASH_MESSAGES", "300"))
        rnd = random.Random(7)
        accepted, kills = [], []
        done = threading.Event()

        def killer():
            # Kills land at any moment, also in the middle of an SMTP session or a commit.
            krnd = random.Random(11)
            while not done.wait(krnd.uniform(0.01, 0.08)):
                name = krnd.choice(["smtpd", "qmgr", "local"])
                pid = ms.service_pid(name)
                if pid:
                    try:
                        os.kill(pid, signal.SIGKILL)
                        kills.append(name)
                    except ProcessLookupError:
                        pass

        thread = threading.Thread(target=killer, daemon=True)
        thread.start()
        deadline = time.monotonic() + 240
        try:
            for i in range(n):
                if time.monotonic() > deadline:
                    break
                try:
                    with ms.smtp() as s:
                        s.sendmail("load@remote.test", [ms.addr(user)],
                                   "Subject: load %d\r\n\r\nbody %d\r\n" % (i, i))
                    accepted.append(i)
                except (smtplib.SMTPException, OSError):
                    time.sleep(rnd.random() * 0.05)  # not acknowledged: not owed
        finally:
            done.set()
            thread.join(5)
        ms.wait_queue_empty(180)
        seen, lost, dups = ms.tally(home, accepted)
        print("\ncrash safety (smtp): accepted=%d kills=%d (smtpd %d, qmgr %d, local %d) delivered=%d "
              "lost=%d duplicated=%d" % (len(accepted), len(kills), kills.count("smtpd"), kills.count("qmgr"),
                                         kills.count("local"), len(seen), len(lost), dups))
        self.assertEqual(lost, [])
        # Kills of smtpd refuse sessions for a moment (master restarts it, and throttles
        # restarts after several crashes in a row): on a busy machine much of the load is
        # refused. It is still real load if a tenth of it got through.
        self.assertGreater(len(accepted), n // 10)
        self.assertGreaterEqual(len(kills), 3, "the load ended before the daemons were killed")


if __name__ == "__main__":
    harness.main()
