# tests/test_smtpd_client_hostname.py - reject_unknown_reverse_client_hostname and
# reject_unknown_client_hostname against real PTR records: unbound serving the zones of
# test_smtpd.py's client name test, resolver(8) on smtpd's private/resolver, clients on
# loopback addresses with a confirmed name, a name that does not map back, and none.
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from test_smtpd import GOOD, LIAR, NOPTR, Client, SmtpdTestBase, start_resolver  # noqa: E402


class HostnameTestBase(SmtpdTestBase):
    before = staticmethod(start_resolver)

    def rcpt(self, source):
        c = Client(self.srv, source=source, timeout=20)
        self.addCleanup(c.close)
        self.assertEqual(220, c.reply()[0])
        self.assertEqual(250, c.cmd("EHLO client.test")[0])
        self.assertEqual(250, c.cmd("MAIL FROM:<a@b.test>")[0])
        code, lines = c.cmd("RCPT TO:<root@ours.test>")
        return code, lines[0]


class ReverseHostnameTest(HostnameTestBase):
    options = {"smtpd_client_restrictions": "reject_unknown_reverse_client_hostname"}

    def test_no_ptr_deferred(self):
        self.assertEqual((450, "450 4.7.1 Client host rejected: cannot find your reverse hostname, [%s]" % NOPTR),
                         self.rcpt(NOPTR))
        harness.wait_for(lambda: "NOQUEUE: reject: RCPT from unknown[%s]: 450 4.7.1 Client host rejected: cannot "
                                 "find your reverse hostname, [%s]; from=<a@b.test> to=<root@ours.test> "
                                 "proto=ESMTP helo=<client.test>" % (NOPTR, NOPTR) in self.srv.log(), 10, "log line")

    def test_any_ptr_passes(self):
        self.assertEqual(250, self.rcpt(GOOD)[0])
        self.assertEqual(250, self.rcpt(LIAR)[0])  # a PTR that does not map back is still one
        # Cached names keep their PTR: the same answers again.
        self.assertEqual(250, self.rcpt(LIAR)[0])
        self.assertEqual(450, self.rcpt(NOPTR)[0])


class ClientHostnameTest(HostnameTestBase):
    options = {"smtpd_client_restrictions": "reject_unknown_client_hostname",
               "unknown_client_reject_code": "550"}

    def test_forward_confirmed_name_needed(self):
        self.assertEqual(250, self.rcpt(GOOD)[0])
        self.assertEqual((550, "550 5.7.1 Client host rejected: cannot find your hostname, [%s]" % LIAR),
                         self.rcpt(LIAR))
        self.assertEqual(550, self.rcpt(NOPTR)[0])


if __name__ == "__main__":
    harness.main()
