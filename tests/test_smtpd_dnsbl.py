# tests/test_smtpd_dnsbl.py - smtpd(8)'s restriction lists against a real unbound on
# loopback through resolver(8): a DNS blocklist (bl.tst) and allowlist (wl.tst) where
# 127.0.0.2 answers for listed client addresses (each client connects from a loopback
# address of its own), reply filters, a blocklist whose server never answers
# (dead.tst, a stub zone pointing at a UDP socket nobody reads), the HELO and sender
# checks (smtplib), and an instance run by master(8). The zones are under .tst:
# libunbound answers .test itself (RFC 6761). Fixture and raw client: test_smtpd.py.
import os
import smtplib
import socket
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from test_smtpd import Client, SmtpdTestBase  # noqa: E402

# Client addresses: LISTED answers 127.0.0.2 on bl.tst; FILTERED answers 127.0.0.20
# (outside the filter 127.0.0.[2..11]); ALLOWED is on bl.tst and on wl.tst; CLEAN is
# on neither; DEAD_LISTED is on bl.tst, for the class whose first list never answers.
LISTED, FILTERED, ALLOWED, CLEAN, DEAD_CLEAN, DEAD_LISTED, HELO_CLIENT = (harness.address() for _ in range(7))
SILENT = (harness.address(), harness.port())  # a "DNS server" that never answers


def rev(addr):
    return ".".join(reversed(addr.split(".")))


ZONES = {
    "bl.tst": ["%s.bl.tst. A 127.0.0.2" % rev(LISTED),
                "%s.bl.tst. TXT \"listed for the test\"" % rev(LISTED),
                "%s.bl.tst. A 127.0.0.20" % rev(FILTERED),
                "%s.bl.tst. A 127.0.0.2" % rev(ALLOWED),
                "%s.bl.tst. A 127.0.0.2" % rev(DEAD_LISTED)],
    "wl.tst": ["%s.wl.tst. A 127.0.0.2" % rev(ALLOWED)],
    "known.tst": ["known.tst. MX 10 mx.known.tst.", "mx.known.tst. A 192.0.2.25"],
    "aonly.tst": ["aonly.tst. A 192.0.2.26"],
    "nullmx.tst": ["nullmx.tst. MX 0 ."],
    "gone.tst": [],
}
STUB = 'stub-zone:\n  name: "dead.tst"\n  stub-addr: %s@%d\n' % SILENT


def start_dns(srv):
    """unbound with the zones, and resolver(8) on smtpd's private/resolver."""
    from dns import unbound
    srv.silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.silent.bind(SILENT)
    srv.dns = unbound.Unbound(os.path.join(srv.base, "dns"), ZONES, extra=STUB)
    srv.dns.start()
    srv.extra.append(srv.dns.proc)
    sock = os.path.join(srv.spool, "private", "resolver")
    srv.resolver = srv.start_extra([harness.program("resolver"), "--standalone", "-c", srv.etc,
                                    "-s", sock, "-o", "dns_servers=" + srv.dns.server,
                                    "-o", "resolver_query_timeout=2"])
    harness.wait_for(lambda: os.path.exists(sock) or srv.resolver.poll() is not None, 10, "resolver socket")


class DnsTestBase(SmtpdTestBase):
    tls = False
    before = staticmethod(start_dns)

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.srv.silent.close()

    def client(self, source):
        c = Client(self.srv, source=source, timeout=20)
        self.addCleanup(c.close)
        self.assertEqual(220, c.reply()[0])
        self.assertEqual(250, c.cmd("EHLO client.test")[0])
        return c

    def rcpt(self, source, sender="a@known.tst"):
        """MAIL then RCPT from source: the RCPT reply's (code, text)."""
        c = self.client(source)
        self.assertEqual(250, c.cmd("MAIL FROM:<%s>" % sender)[0])  # smtpd_delay_reject: at RCPT
        code, lines = c.cmd("RCPT TO:<root@ours.test>")
        return code, lines[-1]

    def wait_log(self, text):
        harness.wait_for(lambda: text in self.srv.log(), 10, "log line: " + text)


class DnsblTest(DnsTestBase):
    options = {"smtpd_client_restrictions":
               "permit_dnswl_client wl.tst, reject_rbl_client bl.tst=127.0.0.[2..11]"}

    def test_listed_client_rejected_at_rcpt(self):
        code, text = self.rcpt(LISTED)
        # default_rbl_reply, with the list's TXT record as the reason.
        want = "554 5.7.1 Service unavailable; Client host [%s] blocked using bl.tst; listed for the test" % LISTED
        self.assertEqual((554, want), (code, text))
        self.wait_log("NOQUEUE: reject: RCPT from unknown[%s]: %s; from=<a@known.tst> "
                      "to=<root@ours.test> proto=ESMTP helo=<client.test>" % (LISTED, want))

    def test_answer_outside_the_filter_passes(self):
        self.assertEqual(250, self.rcpt(FILTERED)[0])

    def test_allowlisted_client_passes(self):
        self.assertEqual(250, self.rcpt(ALLOWED)[0])

    def test_clean_client_sends(self):
        c = self.client(CLEAN)
        c.send("MAIL FROM:<a@known.tst>\r\nRCPT TO:<root@ours.test>\r\nDATA\r\n")
        self.assertEqual([250, 250, 354], c.replies(3))
        c.send("Subject: t\r\n\r\nhello\r\n.\r\n")
        code, lines = c.reply()
        self.assertEqual(250, code, lines)

    def test_every_recipient_of_a_listed_client(self):
        # Pipelined: both RCPTs wait for the one lookup, and both are refused in order.
        c = self.client(LISTED)
        c.send("MAIL FROM:<a@known.tst>\r\nRCPT TO:<root@ours.test>\r\nRCPT TO:<postmaster@ours.test>\r\n"
               "DATA\r\nQUIT\r\n")
        self.assertEqual([250, 554, 554, 554, 221], c.replies(5))


def start_dns_and_replies(srv):
    """start_dns, and rbl_reply_maps as a hash: table keyed by domain=filter."""
    start_dns(srv)
    path = os.path.join(srv.etc, "rbl_replies")
    with open(path, "w") as f:
        f.write("bl.tst=127.0.0.[2..11] $rbl_code 5.7.2 Go away, $client_address: see https://bl.tst/$client_address"
                "${rbl_reason? ($rbl_reason)}\n")
    subprocess.run([harness.sbin("postilionctl"), "-c", srv.etc, "map", "build", path], check=True,
                   stdout=subprocess.DEVNULL, timeout=60)
    with open(os.path.join(srv.etc, "main.conf"), "a") as f:
        f.write("rbl_reply_maps = hash:%s\n" % path)


class RblReplyMapsTest(DnsTestBase):
    """rbl_reply_maps (Postfix's key: the list as written, domain=filter) and
    maps_rbl_reject_code."""
    before = staticmethod(start_dns_and_replies)
    options = {"smtpd_client_restrictions": "reject_rbl_client bl.tst=127.0.0.[2..11], reject_rbl_client bl.tst",
               "maps_rbl_reject_code": "550"}

    def test_reply_from_the_map(self):
        self.assertEqual((550, "550 5.7.2 Go away, %s: see https://bl.tst/%s (listed for the test)" % (LISTED, LISTED)),
                         self.rcpt(LISTED))
        # The second list has no entry of its own: the default reply, with $rbl_code.
        self.assertEqual((550, "550 5.7.1 Service unavailable; Client host [%s] blocked using bl.tst" % FILTERED),
                         self.rcpt(FILTERED))


class DeadListTest(DnsTestBase):
    """The first blocklist's server never answers: it rejects nothing, the next list
    still runs, and a warning says what failed."""
    options = {"smtpd_client_restrictions": "reject_rbl_client dead.tst, reject_rbl_client bl.tst"}

    def test_unanswered_list_rejects_nothing(self):
        start = time.monotonic()
        code, text = self.rcpt(DEAD_CLEAN)
        self.assertEqual((250, "250 2.1.5 Ok"), (code, text))
        self.assertGreater(time.monotonic() - start, 1.5)  # it did wait for the list
        self.wait_log("warning: unknown[%s]: DNS lookup of %s.dead.tst (A) failed" % (DEAD_CLEAN, rev(DEAD_CLEAN)))

    def test_next_list_still_rejects(self):
        code, text = self.rcpt(DEAD_LISTED)
        self.assertEqual((554, "554 5.7.1 Service unavailable; Client host [%s] blocked using bl.tst"
                          % DEAD_LISTED), (code, text))


class HeloSenderTest(DnsTestBase):
    options = {"smtpd_helo_restrictions": "reject_invalid_helo_hostname, reject_non_fqdn_helo_hostname",
               "smtpd_sender_restrictions": "reject_non_fqdn_sender, reject_unknown_sender_domain"}

    def smtp(self, helo):
        s = smtplib.SMTP(self.srv.addr, self.srv.port, timeout=20, local_hostname=helo,
                         source_address=(HELO_CLIENT, 0))
        self.addCleanup(s.close)
        return s

    def first_rcpt(self, helo, sender):
        s = self.smtp(helo)
        self.assertEqual(250, s.ehlo()[0])
        self.assertEqual(250, s.mail(sender)[0])
        code, text = s.rcpt("root@ours.test")
        return code, text.decode()

    def test_helo_names(self):
        self.assertEqual((501, "5.5.2 <bad_name!>: Helo command rejected: Invalid name"),
                         self.first_rcpt("bad_name!", "a@known.tst"))
        self.assertEqual((504, "5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname"),
                         self.first_rcpt("localhost", "a@known.tst"))
        self.assertEqual(250, self.first_rcpt("[%s]" % HELO_CLIENT, "a@known.tst")[0])
        self.assertEqual(250, self.first_rcpt("client.example.test", "a@known.tst")[0])
        self.wait_log("NOQUEUE: reject: RCPT from unknown[%s]: 501 5.5.2 <bad_name!>: Helo command rejected: "
                      "Invalid name; from=<a@known.tst> to=<root@ours.test> proto=ESMTP helo=<bad_name!>"
                      % HELO_CLIENT)

    def test_sender_domains(self):
        helo = "client.example.test"
        self.assertEqual(250, self.first_rcpt(helo, "a@known.tst")[0])
        self.assertEqual(250, self.first_rcpt(helo, "a@aonly.tst")[0])
        self.assertEqual(250, self.first_rcpt(helo, "")[0])
        self.assertEqual((504, "5.5.2 <a@localhost>: Sender address rejected: need fully-qualified address"),
                         self.first_rcpt(helo, "a@localhost"))
        self.assertEqual((550, "5.1.8 <a@gone.tst>: Sender address rejected: Domain not found"),
                         self.first_rcpt(helo, "a@gone.tst"))
        self.assertEqual((550, "5.1.8 <a@x.gone.tst>: Sender address rejected: Domain not found"),
                         self.first_rcpt(helo, "a@x.gone.tst"))
        self.assertEqual((550, "5.7.27 <a@nullmx.tst>: Sender address rejected: Domain nullmx.tst does not "
                          "accept mail (nullMX)"), self.first_rcpt(helo, "a@nullmx.tst"))
        # DNS fails (nobody answers for dead.tst): deferred, not refused.
        self.assertEqual((450, "4.1.8 <a@x.dead.tst>: Sender address rejected: Domain not found"),
                         self.first_rcpt(helo, "a@x.dead.tst"))


class HeloAtHeloTest(SmtpdTestBase):
    """smtpd_delay_reject = no: the HELO list answers EHLO itself."""
    tls = False
    options = {"smtpd_delay_reject": "no", "smtpd_helo_restrictions": "reject_non_fqdn_helo_hostname"}

    def test_ehlo_refused_then_accepted(self):
        c = Client(self.srv, source=HELO_CLIENT)
        self.addCleanup(c.close)
        self.assertEqual(220, c.reply()[0])
        self.assertEqual((504, ["504 5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname"]),
                         c.cmd("EHLO localhost"))
        self.assertEqual(250, c.cmd("EHLO client.example.tst")[0])
        self.assertEqual(250, c.cmd("MAIL FROM:<a@known.tst>")[0])
        self.assertEqual(250, c.cmd("RCPT TO:<root@ours.test>")[0])
        harness.wait_for(lambda: "NOQUEUE: reject: EHLO from unknown[%s]: 504 5.5.2 <localhost>: Helo command "
                         "rejected: need fully-qualified hostname; proto=ESMTP helo=<localhost>" % HELO_CLIENT
                         in self.srv.log(), 10, "reject log line")


class MasterDnsblTest(harness.InstanceTestCase):
    """An instance from postilionctl init, run by master(8): smtpd asks the instance's
    resolver(8), which asks the test's unbound."""

    def test_listed_client_refused_under_master(self):
        for d in ("master", "smtpd", "resolver"):
            harness.require_daemon(self, d)
        from dns import unbound
        dns = unbound.Unbound(os.path.join(harness.tmp_root(), "master-dnsbl-dns"), ZONES)
        dns.start()
        self.addCleanup(dns.stop)
        inst = self.make_instance()
        inst.init()
        with open(inst.main_conf(), "a") as f:
            f.write("dns_servers = %s\nresolver_query_timeout = 2s\nmynetworks = 192.0.2.0/24\n"
                    "smtpd_client_restrictions = permit_dnswl_client wl.tst,\n"
                    "    reject_rbl_client bl.tst=127.0.0.[2..11]\n" % dns.server)
        self.assertEqual(0, inst.ctl("check").returncode, inst.ctl("check").stdout)
        inst.start()
        inst.wait_ready()
        target = type("Target", (), {"addr": inst.addr, "port": inst.ports["smtp"]})
        for source, want in ((LISTED, (554, "554 5.7.1 Service unavailable; Client host [%s] blocked using "
                                            "bl.tst; listed for the test" % LISTED)),
                             (ALLOWED, (250, "250 2.1.5 Ok")), (CLEAN, (250, "250 2.1.5 Ok"))):
            c = Client(target, source=source, timeout=20)
            self.addCleanup(c.close)
            self.assertEqual(220, c.reply()[0])
            self.assertEqual(250, c.cmd("EHLO client.example.tst")[0])
            self.assertEqual(250, c.cmd("MAIL FROM:<a@known.tst>")[0])
            code, lines = c.cmd("RCPT TO:<postmaster@%s>" % inst.domain)
            self.assertEqual(want, (code, lines[-1]), source)
        inst.wait_log("NOQUEUE: reject: RCPT from unknown[%s]: 554 5.7.1 Service unavailable" % LISTED)


if __name__ == "__main__":
    unittest.main()
