#!/usr/bin/env python3
# tests/test_local_agent.py - local(8) as a long-lived agent under master(8), mail in
# over SMTP: many messages to two users, each Maildir file exactly once with the right
# owner and content, written by a few local processes serving many requests each (no
# child per delivery); one mbox under concurrent deliveries; an alias that is partly
# bounced reports only the bounced destination in the DSN and delivers the rest.
# Root only: it creates system users (removed afterwards).
import email
import email.policy
import glob
import os
import re
import smtplib
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402


@unittest.skipUnless(os.geteuid() == 0, "creates system users: root only")
class LocalAgentTest(harness.InstanceTestCase):

    def setUp(self):
        super().setUp()
        for d in ("master", "smtpd", "qmgr", "local"):
            harness.require_daemon(self, d)

    def instance(self, conf):
        inst = self.make_instance(ports=("smtp",))
        extra = ["--user", "postilion"] if harness.user_exists("postilion") else []
        inst.init(*extra)
        conf = dict({"alias_maps": "hash:" + os.path.join(inst.config_dir, "aliases"),
                     "mydestination": "$myhostname, localhost, $mydomain"}, **conf)
        with open(inst.main_conf(), "a") as f:
            for k, v in conf.items():
                f.write("%s = %s\n" % (k, v))
        return inst

    def add_user(self, inst):
        return harness.add_system_user(self, "pla", os.path.join(inst.base, "home"))

    def aliases(self, inst, text):
        with open(os.path.join(inst.config_dir, "aliases"), "w") as f:
            f.write(text)
        r = subprocess.run([harness.sbin("sendmail"), "-C", inst.config_dir, "-bi"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout)

    def start(self, inst):
        inst.start()
        inst.wait_ready()

    def addr(self, inst, user):
        return "%s@%s" % (user, inst.domain)

    def maildir(self, pw):
        return sorted(glob.glob(os.path.join(pw.pw_dir, "Maildir", "new", "*")))

    def queue_empty(self, inst):
        return harness.queue_empty(inst.spool)

    def test_many_messages_two_users_exactly_once_few_processes(self):
        inst = self.instance({})
        self.aliases(inst, "postmaster: root\n")
        self.start(inst)
        users = [self.add_user(inst), self.add_user(inst)]
        n = 80
        sessions = [smtplib.SMTP(inst.addr, inst.ports["smtp"], timeout=30) for _ in range(4)]
        try:
            for i in range(n):
                pw = users[i % 2]
                sessions[i % 4].sendmail("alice@remote.test", [self.addr(inst, pw.pw_name)],
                                         "Subject: load %d\r\nX-Token: t%d\r\n\r\nbody of %d\r\n" % (i, i, i))
        finally:
            for s in sessions:
                s.quit()
        for k, pw in enumerate(users):
            want = n // 2
            harness.wait_for(lambda: len(self.maildir(pw)) >= want, 60, "%d messages for %s" % (want, pw.pw_name))
        harness.wait_for(lambda: self.queue_empty(inst), 60, "empty queue")
        pids, counters = set(), []
        for k, pw in enumerate(users):
            files = self.maildir(pw)
            seen = []
            for path in files:
                st = os.stat(path)
                self.assertEqual((st.st_uid, st.st_gid), (pw.pw_uid, pw.pw_gid), path)
                self.assertEqual(st.st_mode & 0o777, 0o600, path)
                with open(path, "rb") as f:
                    m = email.message_from_bytes(f.read(), policy=email.policy.compat32)
                i = int(m["X-Token"][1:])
                self.assertEqual(m["Subject"], "load %d" % i)
                self.assertEqual(m["Delivered-To"], self.addr(inst, pw.pw_name))
                self.assertEqual(m["Return-Path"], "<alice@remote.test>")
                self.assertEqual(m.get_payload(), "body of %d\n" % i)
                seen.append(i)
                # Maildir names carry the writer's pid (P) and its delivery count (Q).
                name = os.path.basename(path)
                pq = re.search(r"P(\d+)Q(\d+)", name)
                self.assertIsNotNone(pq, name)
                pids.add(int(pq.group(1)))
                counters.append(int(pq.group(2)))
            self.assertEqual(sorted(seen), list(range(k, n, 2)))  # each exactly once
        # A few long-lived processes wrote everything (a child per delivery would give
        # one pid per message, each with count 1).
        self.assertLessEqual(len(pids), n // 8, sorted(pids))
        self.assertGreaterEqual(max(counters), n // (2 * len(pids)))
        self.assertNotIn("warning", "".join(l for l in inst.log_text().splitlines(True) if "/local[" in l))

    def test_mbox_concurrent_deliveries(self):
        inst = self.instance({"home_mailbox": "Mailbox", "local_destination_concurrency_limit": "4"})
        self.aliases(inst, "postmaster: root\n")
        self.start(inst)
        pw = self.add_user(inst)
        n = 30
        body = "".join("line %04d of a longer body\r\n" % i for i in range(300))
        sessions = [smtplib.SMTP(inst.addr, inst.ports["smtp"], timeout=30) for _ in range(3)]
        try:
            for i in range(n):
                sessions[i % 3].sendmail("bob@remote.test", [self.addr(inst, pw.pw_name)],
                                         "Subject: mbox %d\r\n\r\n%s" % (i, body))
        finally:
            for s in sessions:
                s.quit()
        mbox = os.path.join(pw.pw_dir, "Mailbox")
        harness.wait_for(lambda: self.queue_empty(inst) and os.path.exists(mbox), 60, "all delivered")
        st = os.stat(mbox)
        self.assertEqual((st.st_uid, st.st_mode & 0o777), (pw.pw_uid, 0o600))
        with open(mbox) as f:
            text = f.read()
        entries = text.split("\nFrom ")
        self.assertEqual(len(entries), n)
        self.assertTrue(text.startswith("From bob@remote.test "))
        subjects = sorted(int(e.split("Subject: mbox ")[1].split("\n")[0]) for e in entries)
        self.assertEqual(subjects, list(range(n)))
        for e in entries:
            self.assertIn(body.replace("\r\n", "\n"), e)  # whole: nothing interleaved
        self.assertFalse(os.path.exists(mbox + ".lock"))
        self.assertEqual(inst.log_text().count("status=sent (delivered to mailbox)"), n)

    def test_partly_bounced_alias_reports_only_the_bounced_destination(self):
        inst = self.instance({})
        u1, u2, sender = self.add_user(inst), self.add_user(inst), self.add_user(inst)
        self.aliases(inst, "postmaster: root\nteam: %s, ghost-%s, %s\n" % (u1.pw_name, u1.pw_name, u2.pw_name))
        self.start(inst)
        team = self.addr(inst, "team")
        with smtplib.SMTP(inst.addr, inst.ports["smtp"], timeout=30) as s:
            s.sendmail(self.addr(inst, sender.pw_name), [team], "Subject: to the team\r\n\r\nhi team\r\n")
        for pw in (u1, u2, sender):
            harness.wait_for(lambda: len(self.maildir(pw)) >= 1, 30, "mail for " + pw.pw_name)
        harness.wait_for(lambda: self.queue_empty(inst), 30, "empty queue")
        for pw in (u1, u2):
            files = self.maildir(pw)
            self.assertEqual(len(files), 1)
            with open(files[0], "rb") as f:
                self.assertIn(b"hi team", f.read())
        files = self.maildir(sender)
        self.assertEqual(len(files), 1)
        with open(files[0], "rb") as f:
            dsn = email.message_from_bytes(f.read(), policy=email.policy.compat32)
        self.assertEqual(dsn["Return-Path"], "<>")
        self.assertEqual(dsn.get_content_type(), "multipart/report")
        fields = dsn.get_payload()[1].get_payload()  # [per-message, per-recipient...]
        self.assertEqual(len(fields), 2, [dict(f) for f in fields])  # one recipient only
        rcpt = fields[1]
        self.assertEqual(rcpt["Action"], "failed")
        self.assertEqual(rcpt["Status"], "5.1.1")
        self.assertIn("ghost-%s@%s" % (u1.pw_name, inst.domain), rcpt["Final-Recipient"])
        self.assertIn(team, rcpt["Original-Recipient"])
        text = dsn.get_payload()[0].get_payload()
        self.assertNotIn(u2.pw_name + "@", text)
        log = inst.log_text()
        self.assertRegex(log, r"to=<%s>.*status=sent \(delivered to 2 of 3 destinations\)" % re.escape(team))
        self.assertRegex(log, r"to=<ghost-%s@[^>]+>, orig_to=<%s>.*status=bounced" % (u1.pw_name, re.escape(team)))




if __name__ == "__main__":
    harness.main()
