# tests/test_smtpd_relay_restrictions.py - smtpd_relay_restrictions and
# smtpd_recipient_restrictions as a Postfix administrator writes them: the relay rule
# as a list (defer_unauth_destination, the old reject_unauth_destination in the
# recipient list), check_recipient_access, reject_non_fqdn_recipient, and the open
# relay refused by postilionctl check with file:line; smtpd_data_restrictions with
# reject_unauth_pipelining at DATA and BDAT.
# Fixture (standalone smtpd, fake auth and qmgr, client outside mynetworks): test_smtpd.py.
import os
import re
import smtplib
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from harness import InstanceTestCase  # noqa: E402
from test_smtpd import MSG, SmtpdTestBase, USERS  # noqa: E402
from test_smtpd_clients import tls_context  # noqa: E402

RELAYS = ("<victim@elsewhere.test>", "<victim%elsewhere.test@ours.test>", "<elsewhere.test!victim@ours.test>",
          '<"victim@elsewhere.test"@ours.test>', "<victim@[127.0.0.1]>", "<victim@ours.test.elsewhere.test>")


class PostfixDefaultRelayTest(SmtpdTestBase):
    """Postfix's default list: mynetworks and authenticated clients relay, everyone else
    hears 454 4.7.1 and retries; the recipient list then runs for what passed."""
    options = {"smtpd_sasl_auth_enable": "yes",
               "smtpd_relay_restrictions": "permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination",
               "smtpd_recipient_restrictions": "check_recipient_access inline:{closed@ours.test=REJECT closed "
                                               "for now, ours.test=DUNNO}, reject_non_fqdn_recipient"}

    def test_relay_deferred_own_domains_accepted(self):
        c = self.connect()
        self.ehlo(c)
        self.assertEqual(250, c.cmd("MAIL FROM:<a@b.test>")[0])
        for rcpt in RELAYS:
            code, lines = c.cmd("RCPT TO:" + rcpt)
            self.assertEqual(454, code, rcpt)
            self.assertIn("4.7.1 %s: Relay access denied" % rcpt, lines[0])
        self.assertEqual(250, c.cmd("RCPT TO:<root@ours.test>")[0])
        self.assertEqual(250, c.cmd("RCPT TO:<anyone@relayed.test>")[0])
        self.assertEqual(550, c.cmd("RCPT TO:<no-such-user-xyz@ours.test>")[0])
        self.assertEqual(354, c.cmd("DATA")[0])
        code, lines = c.cmd(MSG + ".")
        self.assertEqual(250, code, lines)
        self.assertIn("queued as", lines[0])
        line = re.compile(r"NOQUEUE: reject: RCPT from unknown\[127\.[0-9.]+\]: 454 4\.7\.1 <victim@elsewhere\.test>: "
                          r"Relay access denied; from=<a@b\.test> to=<victim@elsewhere\.test> proto=ESMTP "
                          r"helo=<client\.test>$", re.M)
        harness.wait_for(lambda: line.search(self.srv.log()), 10, "reject log line")

    def test_recipient_list(self):
        c = self.connect()
        self.ehlo(c)
        self.assertEqual(250, c.cmd("MAIL FROM:<a@b.test>")[0])
        self.assertEqual((554, ["554 5.7.1 <closed@ours.test>: Recipient address rejected: closed for now"]),
                         c.cmd("RCPT TO:<closed@ours.test>"))
        # An outsider hears the relay list first.
        self.assertEqual(454, c.cmd("RCPT TO:<root@relayed>")[0])
        self.assertEqual(250, c.cmd("RCPT TO:<root@ours.test>")[0])

    def test_authenticated_client_relays(self):
        s = smtplib.SMTP(self.srv.addr, self.srv.port, timeout=20)
        self.addCleanup(s.close)
        s.ehlo()
        s.starttls(context=tls_context())
        s.ehlo()
        s.login("alice", USERS["alice"])
        self.assertEqual({}, s.sendmail("alice@ours.test", ["friend@elsewhere.test"], MSG.encode()))
        # The recipient list still runs for an authenticated client.
        self.assertEqual(250, s.mail("alice@ours.test")[0])
        self.assertEqual(554, s.rcpt("closed@ours.test")[0])
        self.assertEqual((504, b"5.5.2 <root@relayed>: Recipient address rejected: need fully-qualified address"),
                         s.rcpt("root@relayed"))

    def test_vrfy_runs_the_lists(self):
        # VRFY is off here (252 for all); the test of VRFY on is in test_smtpd.
        c = self.connect()
        self.ehlo(c)
        self.assertEqual(252, c.cmd("VRFY victim@elsewhere.test")[0])


class RecipientListRelayTest(SmtpdTestBase):
    """The old Postfix way: no relay list, the relay rule in smtpd_recipient_restrictions.
    VRFY on: it gives the answer RCPT would."""
    options = {"smtpd_relay_restrictions": "",
               "smtpd_recipient_restrictions": "permit_mynetworks, reject_unauth_destination, "
                                               "check_recipient_access inline:{closed@ours.test=DEFER busy}",
               "disable_vrfy_command": "no"}

    def test_relay_refused_as_before(self):
        c = self.connect()
        self.ehlo(c)
        self.assertEqual(250, c.cmd("MAIL FROM:<a@b.test>")[0])
        for rcpt in RELAYS:
            code, lines = c.cmd("RCPT TO:" + rcpt)
            self.assertEqual((554, ["554 5.7.1 %s: Relay access denied" % rcpt]), (code, lines), rcpt)
        self.assertEqual((450, ["450 4.7.1 <closed@ours.test>: Recipient address rejected: busy"]),
                         c.cmd("RCPT TO:<closed@ours.test>"))
        self.assertEqual(250, c.cmd("RCPT TO:<root@ours.test>")[0])
        self.assertEqual(554, c.cmd("VRFY victim@elsewhere.test")[0])
        self.assertEqual(450, c.cmd("VRFY closed@ours.test")[0])
        self.assertEqual(250, c.cmd("VRFY root@ours.test")[0])


class DefaultRelayTest(SmtpdTestBase):
    """No restriction parameter set: the built-in rule as it always was (554)."""

    def test_default_is_the_built_in_rule(self):
        c = self.connect()
        self.ehlo(c)
        self.assertEqual(250, c.cmd("MAIL FROM:<a@b.test>")[0])
        for rcpt in RELAYS:
            self.assertEqual((554, ["554 5.7.1 %s: Relay access denied" % rcpt]), c.cmd("RCPT TO:" + rcpt), rcpt)
        self.assertEqual(250, c.cmd("RCPT TO:<root@ours.test>")[0])


class DataRestrictionsTest(SmtpdTestBase):
    """smtpd_data_restrictions with reject_unauth_pipelining: a client that sends
    commands ahead without PIPELINING is refused at DATA (and BDAT); one that waits for
    each reply, or pipelines after EHLO as RFC 2920 allows, is not."""
    options = {"smtpd_data_restrictions": "reject_unauth_pipelining"}
    REFUSAL = "503 5.5.0 <DATA>: Data command rejected: Improper use of SMTP command pipelining"

    def test_helo_client_sending_ahead_refused_at_data(self):
        c = self.connect()
        self.assertEqual(250, c.cmd("HELO client.test")[0])
        c.send("MAIL FROM:<a@b.test>\r\nRCPT TO:<root@ours.test>\r\nDATA\r\n")
        self.assertEqual(250, c.reply()[0])
        self.assertEqual(250, c.reply()[0])
        self.assertEqual((503, [self.REFUSAL]), c.reply())
        # The transaction is over; the session goes on.
        self.assertEqual(503, c.cmd("RCPT TO:<root@ours.test>")[0])
        line = re.compile(r"NOQUEUE: reject: DATA from unknown\[127\.[0-9.]+\]: " + re.escape(self.REFUSAL) +
                          r"; from=<a@b\.test> to=<root@ours\.test> proto=SMTP helo=<client\.test>$", re.M)
        harness.wait_for(lambda: line.search(self.srv.log()), 10, "reject log line")

    def test_commands_after_ehlo_in_the_same_write_refused(self):
        c = self.connect()
        c.send("EHLO client.test\r\nMAIL FROM:<a@b.test>\r\n")
        self.assertEqual(250, c.reply()[0])
        self.assertEqual(250, c.reply()[0])
        self.assertEqual(250, c.cmd("RCPT TO:<root@ours.test>")[0])
        self.assertEqual((503, [self.REFUSAL]), c.cmd("DATA"))
        # BDAT: the chunk is read and dropped, then the session goes on.
        self.assertEqual(250, c.cmd("MAIL FROM:<a@b.test>")[0])
        self.assertEqual(250, c.cmd("RCPT TO:<root@ours.test>")[0])
        c.send("BDAT 5 LAST\r\nhello")
        self.assertEqual((503, [self.REFUSAL]), c.reply())
        self.assertEqual(250, c.cmd("NOOP")[0])

    def test_pipelining_after_ehlo_accepted(self):
        c = self.connect()
        self.ehlo(c)
        c.send("MAIL FROM:<a@b.test>\r\nRCPT TO:<root@ours.test>\r\nDATA\r\n")
        self.assertEqual([250, 250, 354], c.replies(3))
        code, lines = c.cmd(MSG + ".")
        self.assertEqual(250, code, lines)
        self.assertIn("queued as", lines[0])

    def test_waiting_client_accepted(self):
        s = smtplib.SMTP(self.srv.addr, self.srv.port, timeout=20)
        self.addCleanup(s.close)
        s.helo("client.test")
        self.assertEqual({}, s.sendmail("a@b.test", ["root@ours.test"], MSG.encode()))
        # BDAT after a proper EHLO passes the data list.
        c = self.connect()
        self.ehlo(c)
        self.assertEqual(250, c.cmd("MAIL FROM:<a@b.test>")[0])
        self.assertEqual(250, c.cmd("RCPT TO:<root@ours.test>")[0])
        code, lines = c.cmd("BDAT %d LAST\r\n%s" % (len(MSG), MSG[:-2]))
        self.assertEqual(250, code, lines)
        self.assertIn("queued as", lines[0])


class OpenRelayRefusedTest(InstanceTestCase):
    def test_check_refuses_open_relay_and_unknown_words(self):
        inst = self.make_instance()
        inst.init()
        with open(inst.main_conf()) as f:
            good = f.read()
        n = len(good.splitlines())
        cases = [
            ("smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated\n",
             "main.conf:%d: smtpd_relay_restrictions, smtpd_recipient_restrictions: specify at least one working "
             "instance of reject_unauth_destination, defer_unauth_destination, reject or defer in one of them "
             "(else this server is an open relay)" % (n + 1)),
            ("smtpd_relay_restrictions =\n",
             "main.conf:%d: smtpd_relay_restrictions, smtpd_recipient_restrictions: specify at least one" % (n + 1)),
            ("smtpd_recipient_restrictions = permit_mynetworks,\n  reject_unauth_destinaton\n",
             "main.conf:%d: smtpd_recipient_restrictions: unknown restriction \"reject_unauth_destinaton\"" % (n + 1)),
            ("smtpd_relay_restrictions = check_recipient_access, reject_unauth_destination\n",
             "main.conf:%d: smtpd_relay_restrictions: check_recipient_access needs a lookup table "
             "(check_recipient_access type:name)" % (n + 1)),
        ]
        for text, want in cases:
            with open(inst.main_conf(), "w") as f:
                f.write(good + text)
            r = inst.ctl("check")
            self.assertEqual(2, r.returncode, text + r.stdout + r.stderr)
            self.assertIn(want, r.stderr, text)
            if harness.have_daemon("smtpd"):
                r = subprocess.run([harness.program("smtpd"), "--standalone", "-c", inst.config_dir, "-l",
                                    "%s:%d" % (harness.address(), harness.port())],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
                self.assertNotEqual(0, r.returncode)
                self.assertIn(want, r.stderr, text)
        with open(inst.main_conf(), "w") as f:
            f.write(good + "smtpd_relay_restrictions =\nsmtpd_recipient_restrictions = permit_mynetworks, "
                           "reject_unauth_destination\n")
        r = inst.ctl("check")
        self.assertNotIn("smtpd_re", r.stderr)


if __name__ == "__main__":
    harness.main()
