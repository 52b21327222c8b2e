# tests/test_smtpd_policy_service.py - check_policy_service (Postfix's policy delegation
# protocol): greylisting by postgrey (the Debian package, run privately on a loopback
# port with its own dbdir and a short --delay) through smtplib, and a tiny policy
# server written here for the actions, a server that is down, one that times out or
# answers nonsense (smtpd_policy_service_default_action), and connection reuse.
# Fixture (standalone smtpd, fake auth and qmgr): test_smtpd.py.
import os
import re
import shutil
import smtplib
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from test_smtpd import MSG, SmtpdTestBase  # noqa: E402

POLICY_ADDR = harness.address()
POLICY_PORT = harness.port()
DOWN_PORT = harness.port()  # nothing listens here


class PolicyHandler(socketserver.StreamRequestHandler):
    """Answers each request by its recipient's local part."""

    def handle(self):
        self.server.connections += 1
        while True:
            attrs = {}
            while True:
                line = self.rfile.readline(10000)
                if not line:
                    return
                line = line.decode("utf-8", "replace").rstrip("\n")
                if line == "":
                    break
                name, _, value = line.partition("=")
                attrs[name] = value
            self.server.requests.append(attrs)
            user = attrs.get("recipient", "").split("@")[0]
            if user == "slow":
                time.sleep(4)
                return
            if user == "garbage":
                self.wfile.write(b"this is not a policy reply\n\n")
                continue
            if user == "hangup":
                return
            if user == "oneshot":  # answers, then closes the connection
                self.wfile.write(b"action=DUNNO\n\n")
                return
            action = {"greylist": "DEFER_IF_PERMIT 4.2.0 Greylisted, see http://example.test/",
                      "blocked": "REJECT no mail for you", "weird": "FROBNICATE"}.get(user, "DUNNO")
            if attrs.get("protocol_state") == "DATA" and attrs.get("sender") == "data@b.test":
                action = "450 4.7.0 not now"
            self.wfile.write(("action=%s\n\n" % action).encode())


class PolicyServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        super().__init__((POLICY_ADDR, POLICY_PORT), PolicyHandler)
        self.connections = 0
        self.requests = []
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.shutdown()
        self.server_close()


class PolicyServerTest(SmtpdTestBase):
    options = {"smtpd_recipient_restrictions": "check_policy_service inet:%s:%d" % (POLICY_ADDR, POLICY_PORT),
               "smtpd_data_restrictions": "check_policy_service inet:%s:%d" % (POLICY_ADDR, POLICY_PORT),
               "smtpd_policy_service_timeout": "2s"}

    @classmethod
    def setUpClass(cls):
        cls.policy = PolicyServer()
        try:
            super().setUpClass()
        except Exception:
            cls.policy.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.policy.stop()

    def session(self):
        c = self.connect()
        self.ehlo(c)
        self.assertEqual(250, c.cmd("MAIL FROM:<a@b.test> SIZE=100")[0])
        return c

    def test_actions_and_request(self):
        before = len(self.policy.requests)
        c = self.session()
        self.assertEqual((450, ["450 4.2.0 <greylist@ours.test>: Recipient address rejected: Greylisted, see "
                                "http://example.test/"]), c.cmd("RCPT TO:<greylist@ours.test>"))
        self.assertEqual((554, ["554 5.7.1 <blocked@ours.test>: Recipient address rejected: no mail for you"]),
                         c.cmd("RCPT TO:<blocked@ours.test>"))
        self.assertEqual((451, ["451 4.3.5 <weird@ours.test>: Recipient address rejected: Server configuration "
                                "problem"]), c.cmd("RCPT TO:<weird@ours.test>"))
        self.assertEqual(250, c.cmd("RCPT TO:<root@ours.test>")[0])
        self.assertEqual(354, c.cmd("DATA")[0])
        self.assertEqual(250, c.cmd(MSG + ".")[0])
        reqs = self.policy.requests[before:]
        self.assertEqual(5, len(reqs), reqs)  # four RCPT, one DATA
        r = reqs[3]
        for k, v in (("request", "smtpd_access_policy"), ("protocol_state", "RCPT"), ("protocol_name", "ESMTP"),
                     ("helo_name", "client.test"), ("sender", "a@b.test"), ("recipient", "root@ours.test"),
                     ("recipient_count", "0"), ("client_name", "unknown"), ("size", "100")):
            self.assertEqual(v, r.get(k), k)
        self.assertRegex(r["client_address"], r"^127\.")
        self.assertEqual("DATA", reqs[4]["protocol_state"])
        self.assertEqual("1", reqs[4]["recipient_count"])
        line = re.compile(r"NOQUEUE: reject: RCPT from unknown\[127\.[0-9.]+\]: 450 4\.2\.0 <greylist@ours\.test>: "
                          r"Recipient address rejected: Greylisted, see http://example\.test/; from=<a@b\.test> "
                          r"to=<greylist@ours\.test> proto=ESMTP helo=<client\.test>$", re.M)
        harness.wait_for(lambda: line.search(self.srv.log()), 10, "reject log line")

    def test_connection_reused(self):
        before = self.policy.connections
        c = self.session()
        for _ in range(3):
            self.assertEqual(250, c.cmd("RCPT TO:<root@ours.test>")[0])
        self.assertEqual(before + 1, self.policy.connections)

    def test_server_closing_kept_connection(self):
        c = self.session()
        for _ in range(3):
            self.assertEqual(550, c.cmd("RCPT TO:<oneshot@ours.test>")[0])  # DUNNO, then no such user
            self.assertEqual(250, c.cmd("RCPT TO:<root@ours.test>")[0])

    def test_data_restriction(self):
        c = self.connect()
        self.ehlo(c)
        self.assertEqual(250, c.cmd("MAIL FROM:<data@b.test>")[0])
        self.assertEqual(250, c.cmd("RCPT TO:<root@ours.test>")[0])
        self.assertEqual((450, ["450 4.7.0 <DATA>: Data command rejected: not now"]), c.cmd("DATA"))
        self.assertEqual(250, c.cmd("NOOP")[0])

    def test_timeout_garbage_and_hangup_get_the_default_action(self):
        c = self.session()
        start = time.monotonic()
        want = "451 4.3.5 <%s>: Recipient address rejected: Server configuration problem"
        self.assertEqual((451, [want % "slow@ours.test"]), c.cmd("RCPT TO:<slow@ours.test>"))
        self.assertLess(time.monotonic() - start, 3.9)  # smtpd_policy_service_timeout, not the server's sleep
        self.assertEqual((451, [want % "garbage@ours.test"]), c.cmd("RCPT TO:<garbage@ours.test>"))
        self.assertEqual((451, [want % "hangup@ours.test"]), c.cmd("RCPT TO:<hangup@ours.test>"))
        # A new connection for the next request: all is well again.
        self.assertEqual(250, c.cmd("RCPT TO:<root@ours.test>")[0])
        log = self.srv.log()
        self.assertIn("check_policy_service inet:%s:%d: timeout (the default action is used)" %
                      (POLICY_ADDR, POLICY_PORT), log)
        self.assertIn("malformed reply: malformed reply line", log)

    def test_other_sessions_go_on_while_one_waits(self):
        slow = self.session()
        slow.send("RCPT TO:<slow@ours.test>\r\n")
        other = self.session()
        start = time.monotonic()
        self.assertEqual(250, other.cmd("RCPT TO:<root@ours.test>")[0])
        self.assertLess(time.monotonic() - start, 1.5)
        self.assertEqual(451, slow.reply()[0])


class PolicyServerDownTest(SmtpdTestBase):
    options = {"smtpd_recipient_restrictions": "check_policy_service inet:127.0.0.1:%d" % DOWN_PORT,
               "smtpd_policy_service_default_action": "DEFER policy down"}

    def test_down_server_gets_the_default_action(self):
        c = self.connect()
        self.ehlo(c)
        self.assertEqual(250, c.cmd("MAIL FROM:<a@b.test>")[0])
        self.assertEqual((450, ["450 4.7.1 <root@ours.test>: Recipient address rejected: policy down"]),
                         c.cmd("RCPT TO:<root@ours.test>"))
        self.assertIn("check_policy_service inet:127.0.0.1:%d: connect: Connection refused" % DOWN_PORT,
                      self.srv.log())


POSTGREY_PORT = harness.port()
POSTGREY_DELAY = 3


def start_postgrey(srv):
    """postgrey on a loopback port with a private dbdir, as the user running the test."""
    dbdir = os.path.join(srv.base, "postgrey")
    os.makedirs(dbdir)
    import grp
    import pwd
    user = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    p = srv.start_extra(["/usr/sbin/postgrey", "--inet=127.0.0.1:%d" % POSTGREY_PORT, "--dbdir=" + dbdir,
                         "--delay=%d" % POSTGREY_DELAY, "--max-age=35", "--pidfile=" + os.path.join(dbdir, "pid"),
                         "--user=" + user, "--group=" + group])
    STARTED.append(p)
    harness.wait_listening("127.0.0.1", POSTGREY_PORT, p, 20, "postgrey", log=lambda: open(p.log).read())


STARTED = []  # postgrey, stopped here too when smtpd fails to start (the fixture does not)


@unittest.skipUnless(os.path.exists("/usr/sbin/postgrey"), "postgrey is not installed (scripts/deps)")
class PostgreyTest(SmtpdTestBase):
    before = staticmethod(start_postgrey)
    options = {"smtpd_recipient_restrictions": "check_policy_service inet:127.0.0.1:%d" % POSTGREY_PORT}

    @classmethod
    def setUpClass(cls):
        try:
            super().setUpClass()
        except Exception:
            for p in STARTED:
                if p.poll() is None:
                    p.kill()
                    p.wait(10)
            raise

    def test_greylisted_then_accepted(self):
        def attempt():
            s = smtplib.SMTP(self.srv.addr, self.srv.port, timeout=20)
            try:
                s.ehlo("client.test")
                return s.sendmail("sender@b.test", ["root@ours.test"], MSG.encode())
            finally:
                s.close()
        with self.assertRaises(smtplib.SMTPRecipientsRefused) as e:
            attempt()
        code, text = e.exception.recipients["root@ours.test"]
        self.assertEqual(450, code)
        self.assertTrue(text.startswith(b"4.2.0 <root@ours.test>: Recipient address rejected: Greylisted"), text)
        first = time.monotonic()
        # Too early: still greylisted.
        with self.assertRaises(smtplib.SMTPRecipientsRefused):
            attempt()
        time.sleep(max(0.0, POSTGREY_DELAY + 1.5 - (time.monotonic() - first)))
        queued = len(self.srv.queue_ids())
        self.assertEqual({}, attempt())
        self.assertEqual(queued + 1, len(self.srv.queue_ids()))
        log = self.srv.log()
        self.assertIn("450 4.2.0 <root@ours.test>: Recipient address rejected: Greylisted, see "
                      "http://postgrey.schweikert.ch/help/ours.test.html; from=<sender@b.test> to=<root@ours.test> "
                      "proto=ESMTP helo=<client.test>", log)


if __name__ == "__main__":
    harness.main()
