# tests/test_postscreen.py - postscreen(8) in front of smtpd(8) under master(8), as
# Postfix sets it up: `smtp inet ... postscreen` on the port and `smtpd pass ... smtpd`,
# which gets each client that passes by descriptor passing (the same TCP connection).
# DNS lists come from the test's own unbound through the instance's resolver(8): bl.tst
# (weight 2) and wl.tst (weight -3) answer 127.0.0.2 for listed loopback clients (each
# client connects from a loopback address of its own), and dead.tst is a stub zone
# pointing at a UDP socket nobody reads (weight 5: it would refuse every client if it
# answered). Fixture: one instance for the class (setUpClass).
import os
import smtplib
import socket
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from test_smtpd import Client  # noqa: E402

LISTED, ALLOWED, CLEAN, PREGREETER, PERMITTED, DENIED, UNANSWERED = (harness.address() for _ in range(7))
SILENT = (harness.address(), harness.port())  # a "DNS server" that never answers
GREET_WAIT = 2


def rev(addr):
    return ".".join(reversed(addr.split(".")))


ZONES = {
    "bl.tst": ["%s.bl.tst. A 127.0.0.2" % rev(a) for a in (LISTED, ALLOWED)],
    "wl.tst": ["%s.wl.tst. A 127.0.0.2" % rev(ALLOWED)],
}
STUB = 'stub-zone:\n  name: "dead.tst"\n  stub-addr: %s@%d\n' % SILENT


def use_postscreen(inst):
    """master.conf: postscreen on the SMTP port, smtpd as the pass service."""
    with open(inst.master_conf()) as f:
        lines = f.read().split("\n")
    port = ":%d " % inst.ports["smtp"]
    out = []
    for line in lines:
        if port in line and " inet " in line and line.rstrip().endswith(" smtpd"):
            name = line.split()[0]
            out.append("%-19s inet  n       -      n      -      1       postscreen" % name)
            out.append("smtpd               pass  -       -      n      -      -       smtpd")
        else:
            out.append(line)
    with open(inst.master_conf(), "w") as f:
        f.write("\n".join(out))


class PostscreenTest(harness.LogsOnFailure):
    @classmethod
    def setUpClass(cls):
        for d in ("master", "smtpd", "resolver", "postscreen"):
            if not harness.have_daemon(d):
                raise unittest.SkipTest("%s is not built" % d)
        from dns import unbound
        cls.silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        cls.silent.bind(SILENT)
        cls.dns = unbound.Unbound(os.path.join(harness.tmp_root(), "postscreen-dns"), ZONES, extra=STUB)
        cls.dns.start()
        cls.inst = inst = harness.Instance(name="postscreen")
        try:
            inst.init()
            use_postscreen(inst)
            access = os.path.join(inst.config_dir, "postscreen_access.cidr")
            with open(access, "w") as f:
                f.write("# the test's permanent allow and deny list\n%s/32 permit\n%s/32 reject\n"
                        "127.0.0.0/8 dunno\n" % (PERMITTED, DENIED))
            with open(inst.main_conf(), "a") as f:
                f.write("dns_servers = %s\nresolver_query_timeout = 2s\nmynetworks = 192.0.2.0/24\n"
                        "postscreen_access_list = permit_mynetworks, cidr:%s\n"
                        "postscreen_denylist_action = drop\n"
                        "postscreen_greet_wait = %ds\npostscreen_greet_action = drop\n"
                        "postscreen_greet_banner = $myhostname test screen\n"
                        "postscreen_dnsbl_sites = bl.tst=127.0.0.[2..11]*2, wl.tst*-3, dead.tst*5\n"
                        "postscreen_dnsbl_threshold = 2\npostscreen_dnsbl_allowlist_threshold = -1\n"
                        "postscreen_dnsbl_action = enforce\npostscreen_dnsbl_timeout = 5s\n"
                        % (cls.dns.server, access, GREET_WAIT))
            check = inst.ctl("check")
            if check.returncode != 0:
                raise AssertionError("postilionctl check: %s%s" % (check.stdout, check.stderr))
            inst.start()
            inst.wait_ready()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.inst.stop()
        cls.dns.stop()
        cls.silent.close()

    def on_failure(self):
        self.inst.dump()

    def client(self, source):
        c = Client(type("Target", (), {"addr": self.inst.addr, "port": self.inst.ports["smtp"]}),
                   source=source, timeout=30)
        self.addCleanup(c.close)
        return c

    def smtp(self, source):
        s = smtplib.SMTP(self.inst.addr, self.inst.ports["smtp"], timeout=30, local_hostname="client.example.tst",
                         source_address=(source, 0))
        self.addCleanup(s.close)
        return s

    def rcpt(self):
        return "postmaster@%s" % self.inst.domain

    def test_pregreeting_client_is_dropped(self):
        c = self.client(PREGREETER)
        line = c.sock.recv(1000)  # the 220- part of the banner, then silence
        self.assertTrue(line.startswith(b"220-%s test screen\r\n" % self.inst.hostname.encode()), line)
        start = time.monotonic()
        c.send("EHLO early.example\r\n")  # before the greeting ends
        self.assertEqual((521, ["521 5.5.1 Protocol error"]), c.reply())
        self.assertEqual((None, []), c.reply())  # and closed
        self.assertLess(time.monotonic() - start, GREET_WAIT)
        self.inst.wait_log("PREGREET 20 after ")
        self.assertRegex(self.inst.log_text(), r"postscreen\[\d+\]: PREGREET 20 after \d+\.\d\d from \[%s\]:\d+: "
                         r"EHLO early\.example\\r\\n" % PREGREETER.replace(".", r"\."))
        self.inst.wait_log("DISCONNECT [%s]:" % PREGREETER)
        self.assertNotIn("connect from unknown[%s]" % PREGREETER, self.inst.log_text())  # smtpd never saw it

    def test_listed_client_is_refused(self):
        c = self.client(LISTED)
        # postscreen's own engine (enforce): the banner ends, every RCPT is refused.
        code, lines = c.reply()
        self.assertEqual(220, code, lines)
        self.assertEqual("220-%s test screen" % self.inst.hostname, lines[0])
        self.assertEqual(250, c.cmd("EHLO client.example.tst")[0])
        self.assertEqual(250, c.cmd("MAIL FROM:<a@known.tst>")[0])
        want = "550 5.7.1 Service unavailable; client [%s] blocked using bl.tst" % LISTED
        self.assertEqual((550, [want]), c.cmd("RCPT TO:<%s>" % self.rcpt()))
        self.assertEqual(554, c.cmd("DATA")[0])
        self.assertEqual(221, c.cmd("QUIT")[0])
        self.inst.wait_log("DNSBL rank 2 for [%s]:" % LISTED)
        self.inst.wait_log("NOQUEUE: reject: RCPT from [%s]:" % LISTED)
        self.assertRegex(self.inst.log_text(), r"NOQUEUE: reject: RCPT from \[%s\]:\d+: %s; from=<a@known\.tst>, "
                         r"to=<%s>, proto=ESMTP, helo=<client\.example\.tst>"
                         % (LISTED.replace(".", r"\."), want.replace(".", r"\.").replace("[", r"\[")
                            .replace("]", r"\]"), self.rcpt().replace(".", r"\.")))
        self.assertNotIn("PASS NEW [%s]" % LISTED, self.inst.log_text())
        self.assertNotIn("connect from unknown[%s]" % LISTED, self.inst.log_text())

    def test_allowlisted_client_passes(self):
        # On bl.tst (2) and wl.tst (-3): -1, at the allowlist threshold.
        s = self.smtp(ALLOWED)
        self.assertEqual(250, s.ehlo()[0])
        self.assertEqual({}, s.sendmail("a@known.tst", [self.rcpt()], "Subject: allowed\r\n\r\nhello\r\n"))
        s.quit()
        self.inst.wait_log("PASS NEW [%s]:" % ALLOWED)
        self.assertNotIn("DNSBL rank", self.inst.log_text().split("PASS NEW [%s]" % ALLOWED)[0].split(ALLOWED)[-1])

    def test_clean_client_reaches_smtpd_and_is_cached(self):
        s = self.smtp(CLEAN)
        self.assertEqual(250, s.ehlo()[0])
        self.assertIn(b"PIPELINING", s.ehlo_resp or b"")
        refused = s.sendmail("a@known.tst", [self.rcpt()], "Subject: clean\r\n\r\nthrough postscreen\r\n")
        self.assertEqual({}, refused)
        s.quit()
        self.inst.wait_log("PASS NEW [%s]:" % CLEAN)
        log = self.inst.log_text()
        # The same connection: smtpd saw the client's own address and port.
        port = log.split("PASS NEW [%s]:" % CLEAN)[1].split()[0]
        self.assertIn("CONNECT from [%s]:%s to [%s]:%d" % (CLEAN, port, self.inst.addr, self.inst.ports["smtp"]), log)
        self.inst.wait_log("connect from unknown[%s]" % CLEAN)
        self.inst.wait_log("status=sent", timeout=30)
        # The second time: from the cache, straight to smtpd (its 220 first, no 220-).
        c = self.client(CLEAN)
        start = time.monotonic()
        code, lines = c.reply()
        self.assertEqual(220, code)
        self.assertEqual(1, len(lines), lines)
        self.assertLess(time.monotonic() - start, GREET_WAIT)
        self.assertEqual(250, c.cmd("EHLO client.example.tst")[0])
        self.assertEqual(221, c.cmd("QUIT")[0])
        self.inst.wait_log("PASS OLD [%s]:" % CLEAN)

    def test_unanswered_dnsbl_refuses_nobody(self):
        # dead.tst never answers: it adds nothing, and the client passes.
        s = self.smtp(UNANSWERED)
        self.assertEqual(250, s.ehlo()[0])
        self.assertEqual({}, s.sendmail("a@known.tst", [self.rcpt()], "Subject: dead\r\n\r\nlist\r\n"))
        s.quit()
        self.inst.wait_log("PASS NEW [%s]:" % UNANSWERED)
        self.assertNotIn("DNSBL rank 5 for [%s]" % UNANSWERED, self.inst.log_text())

    def test_access_list(self):
        c = self.client(PERMITTED)
        code, lines = c.reply()  # smtpd's own greeting at once: no tests
        self.assertEqual((220, 1), (code, len(lines)), lines)
        self.assertEqual(221, c.cmd("QUIT")[0])
        self.inst.wait_log("ALLOWLISTED [%s]:" % PERMITTED)
        d = self.client(DENIED)
        self.assertEqual((521, ["521 5.3.2 Service currently unavailable"]), d.reply())
        self.inst.wait_log("DENYLISTED [%s]:" % DENIED)


class PostscreenCheckTest(harness.InstanceTestCase):
    """postilionctl check: init's master.conf shows the postscreen lines commented out,
    the pass type is accepted, and postscreen without its pass service is reported."""

    def test_check_wants_the_pass_service(self):
        for d in ("master", "smtpd", "postscreen"):
            harness.require_daemon(self, d)
        inst = self.make_instance()
        inst.init()
        text = open(inst.master_conf()).read()
        self.assertRegex(text, r"(?m)^# %s:%d +inet +n +- +n +- +1 +postscreen$"
                         % (inst.addr.replace(".", r"\."), inst.ports["smtp"]))
        self.assertRegex(text, r"(?m)^# smtpd +pass +- +- +n +- +- +smtpd$")
        use_postscreen(inst)
        r = inst.ctl("check")
        self.assertEqual(0, r.returncode, r.stdout + r.stderr)
        with open(inst.master_conf()) as f:
            lines = [l for l in f.read().split("\n") if not l.startswith("smtpd ")]
        with open(inst.master_conf(), "w") as f:
            f.write("\n".join(lines))
        r = inst.ctl("check")
        self.assertEqual(2, r.returncode, r.stdout)
        self.assertIn('there is no pass service "smtpd" to hand clients to', r.stdout)
        self.assertIn("remedy: add the line: smtpd pass - - n - - smtpd", r.stdout)


if __name__ == "__main__":
    unittest.main()
