# tests/test_smtpd_clients.py - smtpd(8) with real clients and TLS: smtplib (STARTTLS,
# AUTH PLAIN/LOGIN, send_message, SMTPUTF8), swaks (pipelining, TLS, AUTH), the
# submission set-up (AUTH before MAIL, TLS required), wrapper mode (port 465), and
# commands pipelined after STARTTLS. Fixture and raw client: test_smtpd.py.
import email.message
import os
import pwd
import smtplib
import ssl
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from test_smtpd import Client, SmtpdTestBase, USERS  # noqa: E402


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def message(to="root@ours.test", subject="hi", extra=None):
    m = email.message.EmailMessage()
    m["From"] = "alice@ours.test"
    m["To"] = to
    m["Subject"] = subject
    for k, v in (extra or {}).items():
        m[k] = v
    m.set_content("body text\n.\nstill body\n")
    return m


class SmtplibTest(SmtpdTestBase):
    options = {"smtpd_sasl_auth_enable": "yes"}

    def smtp(self):
        s = smtplib.SMTP(self.srv.addr, self.srv.port, timeout=10)
        self.addCleanup(s.close)
        return s

    def test_starttls_auth_send_message(self):
        s = self.smtp()
        s.ehlo()
        self.assertTrue(s.has_extn("starttls"))
        self.assertFalse(s.has_extn("auth"))  # not before TLS
        code, _ = s.docmd("AUTH", "PLAIN AGFsaWNlAHMzY3JldCBwYXNz")
        self.assertEqual(538, code)
        s.starttls(context=tls_context())
        s.ehlo()
        self.assertFalse(s.has_extn("starttls"))
        self.assertIn("PLAIN", s.esmtp_features.get("auth", "").upper())
        s.login("alice", USERS["alice"])
        before = set(self.srv.queue_ids())
        s.send_message(message(to="someone@elsewhere.test"))  # relaying: authenticated
        new = set(self.srv.queue_ids()) - before
        self.assertEqual(1, len(new))
        data = self.srv.queue_file(new.pop())
        self.assertIn(b"with ESMTPSA", data)
        self.assertIn(b"(using TLSv1.", data)
        self.assertIn(b"sasl_username=alice", data)
        self.assertIn(b"someone@elsewhere.test", data)
        log = self.srv.log()
        self.assertIn("Anonymous TLS connection established from unknown[", log)
        self.assertIn("sasl_method=PLAIN, sasl_username=alice", log)
        self.assertNotIn(USERS["alice"], log)

    def test_auth_login_and_failures(self):
        s = self.smtp()
        s.starttls(context=tls_context())
        s.ehlo()
        with self.assertRaises(smtplib.SMTPAuthenticationError) as e:
            s.login("alice", "wrong")
        self.assertEqual(535, e.exception.smtp_code)
        code, _ = s.docmd("AUTH", "LOGIN")
        self.assertEqual(334, code)
        code, _ = s.docmd("*")
        self.assertEqual(501, code)
        code, resp = s.docmd("AUTH", "PLAIN AHRlbXBmYWlsAHg=")  # \0tempfail\0x
        self.assertEqual(454, code)
        s.user, s.password = "alice", USERS["alice"]
        code, _ = s.auth("LOGIN", s.auth_login, initial_response_ok=False)
        self.assertEqual(235, code)
        code, _ = s.docmd("AUTH", "PLAIN AGFsaWNlAHMzY3JldCBwYXNz")
        self.assertEqual(503, code)

    def test_unauthenticated_relay_refused(self):
        s = self.smtp()
        s.starttls(context=tls_context())
        with self.assertRaises(smtplib.SMTPRecipientsRefused) as e:
            s.send_message(message(to="victim@elsewhere.test"))
        code, text = e.exception.recipients["victim@elsewhere.test"]
        self.assertEqual(554, code)
        self.assertIn(b"Relay access denied", text)

    def test_smtputf8(self):
        s = self.smtp()
        s.ehlo()
        self.assertTrue(s.has_extn("smtputf8"))
        m = message(subject="gr\u00fc\u00dfe")
        before = set(self.srv.queue_ids())
        s.send_message(m, from_addr="j\u00f6rg@b\u00fc.test", to_addrs=["root@ours.test"],
                       mail_options=["SMTPUTF8"])
        new = set(self.srv.queue_ids()) - before
        self.assertEqual(1, len(new))
        self.assertIn("j\u00f6rg@b\u00fc.test".encode(), self.srv.queue_file(new.pop()))

    def test_commands_pipelined_after_starttls_are_discarded(self):
        c = Client(self.srv)
        self.addCleanup(c.close)
        self.assertEqual(220, c.reply()[0])
        c.cmd("EHLO x")
        # The injected MAIL must not be taken as if it came over TLS.
        c.send("STARTTLS\r\nMAIL FROM:<injected@evil.test>\r\n")
        code, lines = c.reply()
        self.assertEqual(220, code)
        self.assertEqual(b"", c.buf)
        c.sock = tls_context().wrap_socket(c.sock)
        self.assertEqual(503, c.cmd("RCPT TO:<root@ours.test>")[0])  # no MAIL happened
        code, lines = c.cmd("EHLO x")
        self.assertEqual(250, code)
        self.assertNotIn("250-STARTTLS", lines)
        self.assertEqual(554, c.cmd("STARTTLS")[0])

    def test_swaks_pipelining_tls_auth(self):
        r = subprocess.run(["swaks", "--server", "%s:%d" % (self.srv.addr, self.srv.port), "--from",
                            "alice@ours.test", "--to", "friend@elsewhere.test", "--pipeline", "--tls",
                            "--auth", "LOGIN", "--auth-user", "alice", "--auth-password", USERS["alice"]],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
        self.assertEqual(0, r.returncode, r.stdout)
        self.assertIn("235 2.7.0", r.stdout)
        self.assertRegex(r.stdout, r"250 2\.0\.0 Ok: queued as \w+")
        r = subprocess.run(["swaks", "--server", "%s:%d" % (self.srv.addr, self.srv.port), "--from",
                            "x@b.test", "--to", "victim@elsewhere.test", "--pipeline"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
        self.assertNotEqual(0, r.returncode)
        self.assertIn("554 5.7.1 <victim@elsewhere.test>: Relay access denied", r.stdout)


class SubmissionTest(SmtpdTestBase):
    """Port 587 as postilionctl init writes it: AUTH required before MAIL, TLS required."""
    options = {"smtpd_sasl_auth_enable": "yes", "smtpd_sasl_auth_required": "yes",
               "smtpd_tls_security_level": "encrypt"}

    def test_tls_then_auth_required(self):
        s = smtplib.SMTP(self.srv.addr, self.srv.port, timeout=10)
        self.addCleanup(s.close)
        s.ehlo()
        code, _ = s.mail("alice@ours.test")
        self.assertEqual(530, code)
        s.rset()
        s.starttls(context=tls_context())
        s.ehlo()
        code, text = s.mail("alice@ours.test")
        self.assertEqual(530, code)
        self.assertIn(b"Authentication required", text)
        s.rset()
        s.login("alice", USERS["alice"])
        before = set(self.srv.queue_ids())
        m = email.message.EmailMessage()
        m["From"] = "alice@ours.test"
        m["To"] = "bob@elsewhere.test"
        m.set_content("no message-id, no date\n")
        s.send_message(m)
        new = set(self.srv.queue_ids()) - before
        data = self.srv.queue_file(new.pop())
        self.assertIn(b"\r\nMessage-ID: <", data)
        self.assertIn(b"\r\nDate: ", data)


class WrapperModeTest(SmtpdTestBase):
    """Port 465: TLS from the first byte (RFC 8314)."""
    options = {"smtpd_tls_wrappermode": "yes", "smtpd_sasl_auth_enable": "yes",
               "smtpd_sasl_auth_required": "yes"}

    def test_smtp_ssl_auth_send(self):
        s = smtplib.SMTP_SSL(self.srv.addr, self.srv.port, timeout=10, context=tls_context())
        self.addCleanup(s.close)
        s.ehlo()
        self.assertFalse(s.has_extn("starttls"))
        s.login("alice", USERS["alice"])
        before = set(self.srv.queue_ids())
        s.send_message(message(to="carol@elsewhere.test"))
        self.assertEqual(1, len(set(self.srv.queue_ids()) - before))

    def test_plaintext_client_gets_nothing(self):
        c = Client(self.srv, timeout=5)
        self.addCleanup(c.close)
        c.send("EHLO x\r\n")
        try:
            code, _ = c.reply()
        except ConnectionResetError:
            code = None
        self.assertIsNone(code)  # the TLS handshake failed: the server hung up
        harness.wait_for(lambda: "SSL_accept error from unknown[" in self.srv.log() or
                         "lost connection" in self.srv.log(), 5, "handshake failure logged")


class MasterTest(harness.InstanceTestCase):
    """smtpd as master(8) runs it from master.conf: ports 25, 587 and 465."""

    def test_three_ports_under_master(self):
        harness.require_daemon(self, "smtpd")
        inst = self.started_instance(ports=("smtp", "submission", "smtps"), tls=True)
        user = pwd.getpwuid(os.getuid()).pw_name
        s = smtplib.SMTP(inst.addr, inst.ports["smtp"], timeout=20)
        self.addCleanup(s.close)
        s.ehlo()
        self.assertTrue(s.has_extn("starttls"))
        s.starttls(context=tls_context())
        refused = s.sendmail("someone@elsewhere.test", ["%s@%s" % (user, inst.domain)], MSG_BYTES)
        self.assertEqual({}, refused)
        inst.wait_log(": client=unknown[")
        inst.wait_log("Anonymous TLS connection established")
        inst.wait_log("postilion/smtpd[")
        # 127.0.0.1 is in the default mynetworks: relaying from here is allowed, and
        # an unknown local user is still refused at RCPT.
        with self.assertRaises(smtplib.SMTPRecipientsRefused) as e:
            s.sendmail("someone@elsewhere.test", ["no-such-user-xyz@" + inst.domain], MSG_BYTES)
        self.assertEqual(550, e.exception.recipients["no-such-user-xyz@" + inst.domain][0])
        # Submission: TLS first, then AUTH before MAIL.
        sub = smtplib.SMTP(inst.addr, inst.ports["submission"], timeout=20)
        self.addCleanup(sub.close)
        sub.ehlo()
        self.assertEqual(530, sub.mail(user + "@" + inst.domain)[0])
        sub.rset()
        sub.starttls(context=tls_context())
        sub.ehlo()
        self.assertIn("auth", sub.esmtp_features)
        self.assertEqual(530, sub.mail(user + "@" + inst.domain)[0])
        # Implicit TLS.
        ssl_client = smtplib.SMTP_SSL(inst.addr, inst.ports["smtps"], timeout=20, context=tls_context())
        self.addCleanup(ssl_client.close)
        code, _ = ssl_client.ehlo()
        self.assertEqual(250, code)
        self.assertIn("auth", ssl_client.esmtp_features)


    def test_submission_auth_through_the_auth_service(self):
        """AUTH on port 587 checked by the real auth(8) over private/auth."""
        harness.require_daemon(self, "smtpd")
        harness.require_daemon(self, "auth")
        inst = self.make_instance(ports=("submission",), tls=True)
        inst.init()
        users = os.path.join(inst.config_dir, "smtp_users")
        pw_hash = subprocess.run(["openssl", "passwd", "-6", "sub mit"], stdout=subprocess.PIPE,
                                 text=True, check=True).stdout.strip()
        with open(users, "w") as f:
            f.write("carol %s:%d:%d:%s/maildir\n" % (pw_hash, os.getuid(), os.getgid(), inst.base))
        inst.ctl("map", "build", users, check=True)
        with open(inst.main_conf(), "a") as f:
            f.write("auth_backends = virtual\nauth_virtual_users = hash:%s\n" % users)
        inst.start()
        inst.wait_ready()
        s = smtplib.SMTP(inst.addr, inst.ports["submission"], timeout=60)  # > smtpd_auth_timeout
        self.addCleanup(s.close)
        s.starttls(context=tls_context())
        s.ehlo()
        with self.assertRaises(smtplib.SMTPAuthenticationError):
            s.login("carol", "wrong")
        s.login("carol", "sub mit")
        self.assertEqual({}, s.sendmail("carol@" + inst.domain, ["dave@elsewhere.test"], MSG_BYTES))
        inst.wait_log("sasl_method=PLAIN, sasl_username=carol")
        self.assertNotIn("sub mit", inst.log_text())


MSG_BYTES = b"From: a@b.test\r\nSubject: via master\r\n\r\nhello\r\n"


if __name__ == "__main__":
    unittest.main()
