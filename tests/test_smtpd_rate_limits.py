# tests/test_smtpd_rate_limits.py - smtpd(8)'s per-client event rate limits
# (smtpd_client_message_rate_limit, _recipient_rate_limit, _auth_rate_limit), counted
# by anvil(8) over all smtpd processes of a service, in an instance run by master(8).
# The smtp service runs with max_use=1, so each session has a process of its own: one
# client holds a session in one process and opens another in a second, and the limit
# is reached by the sum of both. Over the limit: Postfix's 450 4.7.1 reply and warning.
# Clients in smtpd_client_event_limit_exceptions (by default $mynetworks) are not
# limited. Clients connect from chosen 127.0.0.x source addresses.
import os
import re
import smtplib
import ssl
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402


class SourceSMTP(smtplib.SMTP):
    """smtplib.SMTP from a given local address; every reply is (code, text)."""

    def __init__(self, inst, source, port_name="smtp"):
        super().__init__(inst.addr, inst.ports[port_name], timeout=10, source_address=(source, 0))

    def reply_to(self, line):
        code, msg = self.docmd(line)
        return code, msg.decode()


def sources(n):
    return [harness.address() for _ in range(n)]


class SmtpdRateLimitsTest(harness.InstanceTestCase):
    def instance(self, options, ports=("smtp",), tls=False):
        for d in ("smtpd", "anvil", "master"):
            harness.require_daemon(self, d)
        inst = self.make_instance(ports=ports, tls=tls)
        inst.init()
        with open(inst.main_conf(), "a") as f:
            for k, v in options.items():
                f.write("%s = %s\n" % (k, v))
        # One session per smtpd process: a second session of a client is served by a
        # second process, and only anvil sees both.
        with open(inst.master_conf()) as f:
            lines = f.read().splitlines(True)
        with open(inst.master_conf(), "w") as f:
            for l in lines:
                w = l.split()
                if len(w) > 1 and w[1] == "inet" and w[-1 if "-o" not in w else w.index("-o") - 1] == "smtpd":
                    l = l.rstrip("\n") + " -o max_use=1\n"
                f.write(l)
        inst.start()
        inst.wait_ready()
        return inst

    def session(self, inst, source, port_name="smtp"):
        s = SourceSMTP(inst, source, port_name)
        self.addCleanup(s.close)
        self.assertEqual(250, s.ehlo("client.test")[0])
        return s

    def smtpd_pids(self, inst, source):
        pat = r"postilion/smtpd\[(\d+)\]: connect from \S*\[%s\]$" % re.escape(source)
        return re.findall(pat, inst.log_text(), re.M)

    def warnings(self, inst, what, source):
        pat = (r"postilion/smtpd\[\d+\]: warning: %s rate limit exceeded: (\d+) from "
               r"\S+\[%s\] for service (\S+)$" % (what, re.escape(source)))
        return [m for m in (re.search(pat, l) for l in inst.log_text().splitlines()) if m]

    def test_message_rate_over_two_processes(self):
        a, b, excepted = sources(3)
        inst = self.instance({"smtpd_client_message_rate_limit": "2",
                              "smtpd_client_event_limit_exceptions": excepted,
                              "anvil_rate_time_unit": "3600s"})
        one = self.session(inst, a)
        self.assertEqual(250, one.reply_to("MAIL FROM:<x@client.test>")[0])
        self.assertEqual(250, one.reply_to("RSET")[0])
        # A second session while the first is held: another smtpd process.
        two = self.session(inst, a)
        harness.wait_for(lambda: len(set(self.smtpd_pids(inst, a))) == 2, 10, "two smtpd processes")
        self.assertEqual(250, two.reply_to("MAIL FROM:<x@client.test>")[0])
        self.assertEqual(250, two.reply_to("RSET")[0])
        # Each process has seen at most two: the third is refused by the sum.
        self.assertEqual((450, "4.7.1 Error: too much mail from %s" % a), two.reply_to("MAIL FROM:<x@client.test>"))
        self.assertEqual((450, "4.7.1 Error: too much mail from %s" % a), one.reply_to("MAIL FROM:<x@client.test>"))
        # No transaction started: RCPT has no MAIL.
        self.assertEqual(503, one.reply_to("RCPT TO:<root@%s>" % inst.domain)[0])
        # Another client has a rate of its own; the excepted one has none.
        other = self.session(inst, b)
        self.assertEqual(250, other.reply_to("MAIL FROM:<x@client.test>")[0])
        other.quit()
        free = self.session(inst, excepted)
        for _ in range(4):
            self.assertEqual(250, free.reply_to("MAIL FROM:<x@client.test>")[0])
            self.assertEqual(250, free.reply_to("RSET")[0])
        free.quit()
        one.quit()
        two.quit()
        harness.wait_for(lambda: len(self.warnings(inst, "Message delivery request", a)) == 2, 10, "two warnings")
        got = self.warnings(inst, "Message delivery request", a)
        self.assertEqual(["3", "4"], [m.group(1) for m in got])
        self.assertEqual("%s:%d" % (inst.addr, inst.ports["smtp"]), got[0].group(2))
        self.assertEqual([], self.warnings(inst, "Message delivery request", b))
        self.assertEqual([], self.warnings(inst, "Message delivery request", excepted))
        self.assertEqual(2, len(re.findall(r"reject: MAIL from \S+\[%s\]: 450 4\.7\.1 Error: too much mail from "
                                           % re.escape(a), inst.log_text())))

    def test_recipient_rate_over_two_processes(self):
        (a,) = sources(1)
        inst = self.instance({"smtpd_client_recipient_rate_limit": "3",
                              "smtpd_client_event_limit_exceptions": "",
                              "anvil_rate_time_unit": "3600s"})
        rcpt = "RCPT TO:<root@%s>" % inst.domain
        one = self.session(inst, a)
        self.assertEqual(250, one.reply_to("MAIL FROM:<x@client.test>")[0])
        self.assertEqual(250, one.reply_to(rcpt)[0])
        self.assertEqual(250, one.reply_to(rcpt)[0])
        two = self.session(inst, a)
        harness.wait_for(lambda: len(set(self.smtpd_pids(inst, a))) == 2, 10, "two smtpd processes")
        self.assertEqual(250, two.reply_to("MAIL FROM:<x@client.test>")[0])
        self.assertEqual(250, two.reply_to(rcpt)[0])
        self.assertEqual((450, "4.7.1 Error: too many recipients from %s" % a), two.reply_to(rcpt))
        self.assertEqual((450, "4.7.1 Error: too many recipients from %s" % a), one.reply_to(rcpt))
        # The recipients accepted before are still there: the message goes through.
        self.assertEqual(354, one.reply_to("DATA")[0])
        one.send(b"Subject: rate\r\n\r\nhello\r\n.\r\n")
        self.assertEqual(250, one.getreply()[0])
        one.quit()
        two.quit()
        harness.wait_for(lambda: len(self.warnings(inst, "Recipient address", a)) == 2, 10, "two warnings")
        self.assertEqual(["4", "5"], [m.group(1) for m in self.warnings(inst, "Recipient address", a)])

    def tls_session(self, inst, source):
        s = self.session(inst, source, "submission")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.assertEqual(220, s.starttls(context=ctx)[0])
        self.assertEqual(250, s.ehlo("client.test")[0])
        return s

    def test_auth_rate_over_two_processes(self):
        (a,) = sources(1)
        inst = self.instance({"smtpd_client_auth_rate_limit": "2",
                              "smtpd_client_event_limit_exceptions": "",
                              "anvil_rate_time_unit": "3600s"}, ports=("smtp", "submission"), tls=True)
        # "nobody" with a wrong password: whatever the auth service says, it is no 450.
        auth = "AUTH PLAIN AG5vYm9keQB3cm9uZw=="
        one = self.tls_session(inst, a)
        self.assertNotEqual(450, one.reply_to(auth)[0])
        two = self.tls_session(inst, a)
        harness.wait_for(lambda: len(set(self.smtpd_pids(inst, a))) == 2, 10, "two smtpd processes")
        self.assertNotEqual(450, two.reply_to(auth)[0])
        self.assertEqual((450, "4.7.1 Error: too many AUTH commands from %s" % a), two.reply_to(auth))
        self.assertEqual((450, "4.7.1 Error: too many AUTH commands from %s" % a), one.reply_to("AUTH LOGIN"))
        # Port 25 is another service: its own count.
        plain = self.session(inst, a)
        self.assertEqual(250, plain.reply_to("MAIL FROM:<x@client.test>")[0])
        plain.quit()
        harness.wait_for(lambda: len(self.warnings(inst, "AUTH command", a)) == 2, 10, "two warnings")
        got = self.warnings(inst, "AUTH command", a)
        self.assertEqual(["3", "4"], [m.group(1) for m in got])
        self.assertEqual("%s:%d" % (inst.addr, inst.ports["submission"]), got[0].group(2))

    def test_mynetworks_excepted_by_default(self):
        # The instance's mynetworks holds 127.0.0.0/8, where the test clients are.
        (a,) = sources(1)
        inst = self.instance({"smtpd_client_message_rate_limit": "1",
                              "smtpd_client_recipient_rate_limit": "1",
                              "anvil_rate_time_unit": "3600s"})
        s = self.session(inst, a)
        for _ in range(3):
            self.assertEqual(250, s.reply_to("MAIL FROM:<x@client.test>")[0])
            self.assertEqual(250, s.reply_to("RCPT TO:<root@%s>" % inst.domain)[0])
            self.assertEqual(250, s.reply_to("RCPT TO:<root@%s>" % inst.domain)[0])
            self.assertEqual(250, s.reply_to("RSET")[0])
        s.quit()
        self.assertNotIn("rate limit exceeded", inst.log_text())

    def test_anvil_absent_limits_nothing(self):
        (a,) = sources(1)
        inst = self.instance({"smtpd_client_message_rate_limit": "1",
                              "smtpd_client_event_limit_exceptions": "",
                              "anvil_rate_time_unit": "3600s"})
        # Without anvil's socket no count can be made: nothing is limited.
        os.unlink(os.path.join(inst.spool, "private", "anvil"))
        s = self.session(inst, a)
        for _ in range(3):
            self.assertEqual(250, s.reply_to("MAIL FROM:<x@client.test>")[0])
            self.assertEqual(250, s.reply_to("RSET")[0])
        s.quit()
        self.assertNotIn("rate limit exceeded", inst.log_text())


if __name__ == "__main__":
    harness.main()
