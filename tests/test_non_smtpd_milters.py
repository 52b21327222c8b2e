#!/usr/bin/env python3
# tests/test_non_smtpd_milters.py - non_smtpd_milters: mail submitted with sendmail(1)
# passes the mail filters at pickup, before qmgr queues it, as Postfix's cleanup runs
# them for pickup. A python3-milter (pymilter) filter (tests/milter/pymilter_filter.py)
# edits, rejects, discards; the mail goes on to an SMTP sink as relayhost. A reject
# is Postfix's: sendmail exits 0 (the message was accepted into maildrop/) and the
# sender gets a bounce with the filter's reply. With the filter down and
# milter_default_action = tempfail the mail waits in maildrop/ until it is back.
import os
import re
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from dns import smtp_sink  # noqa: E402
from test_smtpd_milter import PyFilter, have_pymilter  # noqa: E402


@unittest.skipUnless(have_pymilter(), "python3-milter (pymilter) is not installed")
class NonSmtpdMiltersTest(harness.InstanceTestCase):

    def setUp(self):
        super().setUp()
        for d in ("master", "qmgr", "smtp", "resolver"):
            harness.require_daemon(self, d)
        self.sink = smtp_sink.Sink(harness.address(), harness.port()).start()
        self.addCleanup(self.sink.stop)
        self.filter = PyFilter(self.tmpdir())
        self.addCleanup(self.filter.stop)
        self.inst = self.make_instance(ports=("smtp",))
        self.inst.init(*(["--user", "postilion"] if os.geteuid() == 0 else []))
        conf = {"relayhost": "[%s]:%d" % (self.sink.address, self.sink.port),
                "non_smtpd_milters": self.filter.spec, "milter_default_action": "tempfail",
                "milter_connect_timeout": "3s", "smtp_connect_timeout": "3s"}
        with open(self.inst.main_conf(), "a") as f:
            for k, v in conf.items():
                f.write("%s = %s\n" % (k, v))
        self.inst.start()
        self.inst.wait_ready()

    def tmpdir(self):
        d = tempfile.mkdtemp(prefix="nsm-", dir=harness.tmp_root())
        os.chmod(d, 0o755)
        return d

    def sendmail(self, subject, sender="alice@sender.test", rcpt="bob@elsewhere.test", extra=""):
        r = subprocess.run([harness.sbin("sendmail"), "-C", self.inst.config_dir, "-f", sender, rcpt],
                           input="Subject: %s\nX-Remove-Me: x\n%s\nbody of %s\n" % (subject, extra, subject),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)

    def delivered(self, needle):
        return [m for m in self.sink.messages if needle.encode() in m["data"]]

    def lines(self, pattern):
        return [l for l in self.inst.log_text().splitlines() if re.search(pattern, l)]

    def test_filter_edits_sendmail_mail(self):
        self.sendmail("please edit headers")
        harness.wait_for(lambda: self.delivered("body of please edit headers"), 30, "the filtered delivery")
        harness.wait_for(lambda: harness.queue_empty(self.inst.spool), 20, "an empty queue")
        got = self.delivered("body of please edit headers")
        self.assertEqual(len(got), 1)
        data = got[0]["data"]
        self.assertIn(b"X-Filtered: yes\r\n", data)
        self.assertIn(b"Subject: changed headers\r\n", data)
        self.assertNotIn(b"X-Remove-Me", data)
        self.assertEqual(got[0]["rcpts"], ["bob@elsewhere.test"])
        # The filter saw a non-SMTP transaction from localhost, as Postfix's cleanup sends it.
        conn = self.filter.events("connect")
        self.assertEqual(conn[-1]["hostname"], "localhost")
        self.assertEqual(conn[-1]["addr"], "127.0.0.1")
        self.assertEqual(len(self.filter.events("eom")), 1)

    def test_reject_bounces_to_sender(self):
        self.sendmail("please reject this")
        harness.wait_for(lambda: self.delivered("Rejected by the pymilter test filter"), 30, "the bounce")
        harness.wait_for(lambda: harness.queue_empty(self.inst.spool), 20, "an empty queue")
        bounce = self.delivered("Rejected by the pymilter test filter")
        self.assertEqual(len(bounce), 1)
        self.assertEqual(bounce[0]["from"], "")
        self.assertEqual(bounce[0]["rcpts"], ["alice@sender.test"])
        # The recipient never got it.
        self.assertEqual([m for m in self.sink.messages if "bob@elsewhere.test" in m["rcpts"]], [])
        self.assertTrue(self.lines(r"milter-reject: END-OF-MESSAGE from localhost\[127\.0\.0\.1\]: 5\.7\.1 Rejected by "
                                   r"the pymilter test filter; from=<alice@sender\.test> to=<bob@elsewhere\.test>"))
        self.assertTrue(self.lines(r"to=<bob@elsewhere\.test>, relay=none, .*dsn=5\.7\.1, status=bounced "
                                   r"\(Rejected by the pymilter test filter\)"))

    def test_discard(self):
        self.sendmail("please discard")
        harness.wait_for(lambda: self.lines(r"milter-discard: END-OF-MESSAGE from localhost\[127\.0\.0\.1\]"), 30,
                         "the discard")
        harness.wait_for(lambda: harness.queue_empty(self.inst.spool), 20, "an empty queue")
        self.assertEqual(self.sink.messages, [])

    def test_filter_down_mail_waits_in_maildrop(self):
        self.filter.stop()
        self.sendmail("while the milter is down")
        harness.wait_for(lambda: self.lines(r"mail filter tempfail; left for a later pickup"), 30, "the tempfail")
        self.assertEqual(self.sink.messages, [])
        maildrop = os.path.join(self.inst.spool, "maildrop")
        self.assertEqual(len([n for n in os.listdir(maildrop) if not n.startswith(".")]), 1)
        self.filter.start()
        harness.wait_for(lambda: self.delivered("body of while the milter is down"), 60, "the delivery once it is back")
        harness.wait_for(lambda: harness.queue_empty(self.inst.spool), 20, "an empty queue")
        self.assertEqual(len(self.delivered("body of while the milter is down")), 1)


if __name__ == "__main__":
    harness.main()
