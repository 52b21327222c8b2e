# tests/test_smtpd_sender_login.py - sender binding: smtpd_sender_login_maps (a hash:
# table built with postilionctl map build) with reject_sender_login_mismatch and
# reject_authenticated_sender_login_mismatch, over submission with smtplib (STARTTLS,
# AUTH, then MAIL FROM an address of one's own or of someone else).
# Per-user outbound limits: smtpd_sasl_user_message_rate_limit and _recipient_rate_limit
# counted by anvil per login over two smtpd processes (ports), 450 4.7.1 over them.
# Fixture (standalone smtpd, fake auth service knowing alice): test_smtpd.py.
import os
import smtplib
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from test_smtpd import SmtpdTestBase, USERS, start_anvil  # noqa: E402
from test_smtpd_clients import tls_context  # noqa: E402

LOGINS = "alice@ours.test alice\nshared@ours.test bob, alice\nbob@ours.test bob\n@team.test carol\n"


def build_logins(srv):
    path = os.path.join(srv.etc, "sender_logins")
    with open(path, "w") as f:
        f.write(LOGINS)
    r = subprocess.run([harness.sbin("postilionctl"), "-c", srv.etc, "map", "build", path],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError("map build: " + r.stdout)
    with open(os.path.join(srv.etc, "main.conf"), "a") as f:
        f.write("smtpd_sender_login_maps = hash:%s\n" % path)



class SenderLoginTest(SmtpdTestBase):
    before = staticmethod(build_logins)
    options = {"smtpd_sasl_auth_enable": "yes",
               "smtpd_sender_restrictions": "reject_sender_login_mismatch"}

    def smtp(self, login=True):
        s = smtplib.SMTP(self.srv.addr, self.srv.port, timeout=20)
        self.addCleanup(s.close)
        s.ehlo()
        s.starttls(context=tls_context())
        s.ehlo()
        if login:
            s.login("alice", USERS["alice"])
        return s

    def test_own_addresses_pass(self):
        s = self.smtp()
        for sender in ("alice@ours.test", "Alice+news@OURS.test", "shared@ours.test"):
            self.assertEqual(250, s.mail(sender)[0])
            self.assertEqual((250, b"2.1.5 Ok"), s.rcpt("root@ours.test"), sender)
            s.rset()

    def test_someone_elses_address_refused(self):
        s = self.smtp()
        with self.assertRaises(smtplib.SMTPRecipientsRefused) as e:
            s.sendmail("bob@ours.test", ["friend@elsewhere.test"], b"Subject: x\r\n\r\nhi\r\n")
        self.assertEqual({"friend@elsewhere.test": (553, b"5.7.1 <bob@ours.test>: Sender address rejected: "
                                                         b"not owned by user alice")}, e.exception.recipients)
        # An address the table does not list is not alice's either.
        self.assertEqual(250, s.mail("ceo@team.test")[0])
        self.assertEqual((553, b"5.7.1 <ceo@team.test>: Sender address rejected: not owned by user alice"),
                         s.rcpt("friend@elsewhere.test"))
        line = ("]: 553 5.7.1 <bob@ours.test>: Sender address rejected: not owned by user alice; "
                "from=<bob@ours.test> to=<friend@elsewhere.test> proto=ESMTP helo=<")
        harness.wait_for(lambda: "NOQUEUE: reject: RCPT from unknown[" in self.srv.log() and line in self.srv.log(),
                         10, "reject log line")

    def test_unauthenticated_client_may_not_use_a_listed_address(self):
        s = self.smtp(login=False)
        self.assertEqual(250, s.mail("alice@ours.test")[0])
        self.assertEqual((553, b"5.7.1 <alice@ours.test>: Sender address rejected: not logged in"),
                         s.rcpt("root@ours.test"))
        s.rset()
        self.assertEqual(250, s.mail("stranger@else.test")[0])
        self.assertEqual(250, s.rcpt("root@ours.test")[0])


class AuthenticatedOnlyAtMailTest(SmtpdTestBase):
    """reject_authenticated_sender_login_mismatch with smtpd_delay_reject = no: the
    answer comes at MAIL FROM, and unauthenticated clients are not checked."""
    before = staticmethod(build_logins)
    options = {"smtpd_sasl_auth_enable": "yes", "smtpd_delay_reject": "no",
               "smtpd_sender_restrictions": "reject_authenticated_sender_login_mismatch"}

    def test_mismatch_at_mail(self):
        s = smtplib.SMTP(self.srv.addr, self.srv.port, timeout=20)
        self.addCleanup(s.close)
        s.ehlo()
        s.starttls(context=tls_context())
        s.ehlo()
        self.assertEqual(250, s.mail("bob@ours.test")[0])  # not logged in: not checked
        s.rset()
        s.login("alice", USERS["alice"])
        self.assertEqual((553, b"5.7.1 <bob@ours.test>: Sender address rejected: not owned by user alice"),
                         s.mail("bob@ours.test"))
        self.assertEqual(250, s.mail("alice@ours.test")[0])


class SaslUserLimitsTest(SmtpdTestBase):
    """A SASL login's messages and recipients per hour, over every smtpd process."""
    before = staticmethod(start_anvil)
    options = {"smtpd_sasl_auth_enable": "yes", "smtpd_sasl_user_message_rate_limit": "3",
               "smtpd_sasl_user_recipient_rate_limit": "5"}

    def login(self, port=None):
        s = smtplib.SMTP(self.srv.addr, port or self.srv.port, timeout=20)
        self.addCleanup(s.close)
        s.ehlo()
        s.starttls(context=tls_context())
        s.ehlo()
        s.login("alice", USERS["alice"])
        return s

    def test_messages_and_recipients_per_login(self):
        port2 = harness.port()
        self.srv.start_smtpd(port2)
        # Unauthenticated mail is not counted against anyone's login.
        plain = smtplib.SMTP(self.srv.addr, self.srv.port, timeout=20)
        self.addCleanup(plain.close)
        for _ in range(4):
            self.assertEqual(250, plain.mail("stranger@else.test")[0])
            plain.rset()
        a, b = self.login(), self.login(port2)
        # 3 messages and 5 recipients an hour for alice, wherever she connects.
        self.assertEqual(250, a.mail("alice@ours.test")[0])
        self.assertEqual(250, a.rcpt("root@ours.test")[0])
        a.rset()
        self.assertEqual(250, b.mail("alice@ours.test")[0])
        b.rset()
        self.assertEqual(250, a.mail("alice@ours.test")[0])
        for i in range(4):
            self.assertEqual(250, a.rcpt("root@ours.test")[0], i)
        self.assertEqual((450, b"4.7.1 Error: too many recipients from user alice this hour; try again later"),
                         a.rcpt("root@ours.test"))
        a.rset()
        self.assertEqual((450, b"4.7.1 Error: too much mail from user alice this hour; try again later"),
                         b.mail("alice@ours.test"))
        harness.wait_for(lambda: "SASL user message rate limit exceeded: 4 from sasl_username=alice from unknown["
                         in self.srv.log() + "".join(open(p.log).read() for p in self.srv.extra),
                         10, "the warning")
        self.assertIn("SASL user recipient rate limit exceeded: 6 from sasl_username=alice",
                      self.srv.log() + "".join(open(p.log).read() for p in self.srv.extra))

if __name__ == "__main__":
    unittest.main()
