# tests/test_relay_resolver.py - the resolver daemon against a real unbound on loopback:
# MX order and shuffling, implicit MX, null MX, NXDOMAIN, CNAMEs, loop detection, plain
# queries, the cache, and a dead DNS server (temporary, never permanent).
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from dns import pstipc, unbound  # noqa: E402

ZONES = {
    "ispb.tst": ["mx.ispb.tst. 300 IN A 127.0.3.1"],
    "exampleb.tst": [
        "exampleb.tst. 300 IN MX 10 mx.ispb.tst.",
        "exampleb.tst. 300 IN MX 20 mail.exampleb.tst.",
        "mail.exampleb.tst. 300 IN A 127.0.4.1",
        "_25._tcp.mail.exampleb.tst. 300 IN TLSA 3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "exampleb.tst. 300 IN TXT \"v=spf1 -all\"",
    ],
    "equal.tst": [
        "equal.tst. 300 IN MX 10 a.equal.tst.",
        "equal.tst. 300 IN MX 10 b.equal.tst.",
        "equal.tst. 300 IN MX 10 c.equal.tst.",
        "a.equal.tst. 300 IN A 127.0.5.1",
        "b.equal.tst. 300 IN A 127.0.5.2",
        "c.equal.tst. 300 IN A 127.0.5.3",
    ],
    "implicit.tst": ["implicit.tst. 300 IN A 127.0.6.1"],
    "nullmx.tst": ["nullmx.tst. 300 IN MX 0 ."],
    "alias.tst": [
        "alias.tst. 300 IN CNAME real.alias.tst.",
        "real.alias.tst. 300 IN MX 5 mx.alias.tst.",
        "mx.alias.tst. 300 IN CNAME host.alias.tst.",
        "host.alias.tst. 300 IN A 127.0.7.1",
    ],
    "loop.tst": [
        "loop.tst. 300 IN MX 10 self.loop.tst.",
        "loop.tst. 300 IN MX 20 other.loop.tst.",
        "self.loop.tst. 300 IN A 127.0.9.9",
        "other.loop.tst. 300 IN A 127.0.9.10",
        "backup.loop.tst. 300 IN MX 5 primary.loop.tst.",
        "backup.loop.tst. 300 IN MX 10 self.loop.tst.",
        "backup.loop.tst. 300 IN MX 20 other.loop.tst.",
        "primary.loop.tst. 300 IN A 127.0.9.11",
    ],
    "noaddr.tst": ["noaddr.tst. 300 IN MX 10 missing.noaddr.tst."],
}


class ResolverProcess:
    """One resolver daemon on its own socket, stopped by PID."""

    def __init__(self, workdir, params):
        self.socket = os.path.join(workdir, "resolver.sock")
        self.log = os.path.join(workdir, "resolver.log")
        args = [harness.require_program("resolver"), "--standalone", "-s", self.socket]
        for k, v in params.items():
            args += ["-o", "%s=%s" % (k, v)]
        with open(self.log, "w") as logf:
            self.proc = subprocess.Popen(args, stdout=logf, stderr=subprocess.STDOUT)
        harness.wait_socket(self.socket, self.proc, what="resolver", log=self.log_text)

    def call(self, attrs, timeout=30.0):
        return pstipc.call(self.socket, attrs, timeout)

    def nexthops(self, domain, mx=True):
        return self.call([("cmd", "nexthops"), ("domain", domain), ("mx", "yes" if mx else "no")])

    def query(self, name, qtype):
        return self.call([("cmd", "query"), ("name", name), ("type", qtype)])

    def stop(self):
        harness.stop_process(self.proc)

    def log_text(self):
        return harness.read_tail(self.log)


def hops(reply):
    return list(zip(pstipc.get_all(reply, "pref"), pstipc.get_all(reply, "host"), pstipc.get_all(reply, "addr")))


class ResolverTest(harness.LogsOnFailure):
    @classmethod
    def setUpClass(cls):
        harness.require_program("resolver")
        cls.tmp = harness.class_tempdir(cls, "pst-resolver-")  # nothing started leaks
        cls.dns = unbound.Unbound(os.path.join(cls.tmp, "dns"), ZONES)
        cls.addClassCleanup(cls.dns.stop)
        cls.dns.start()
        cls.res = ResolverProcess(cls.tmp, {
            "dns_servers": cls.dns.server, "myhostname": "self.loop.tst",
            "inet_interfaces": "127.0.9.9", "resolver_query_timeout": "3"})
        cls.addClassCleanup(cls.res.stop)

    def on_failure(self):
        sys.stderr.write("--- resolver log ---\n" + self.res.log_text()[-3000:])
        sys.stderr.write("--- unbound log ---\n" + self.dns.log_text())

    def test_mx_in_preference_order(self):
        r = self.res.nexthops("exampleb.tst")
        self.assertEqual(pstipc.get(r, "status"), "ok", r)
        self.assertEqual(hops(r), [("10", "mx.ispb.tst", "127.0.3.1"), ("20", "mail.exampleb.tst", "127.0.4.1")])
        self.assertEqual(pstipc.get(r, "secure"), "insecure")

    def test_equal_preferences_shuffled(self):
        firsts = set()
        for _ in range(40):
            r = self.res.nexthops("equal.tst")
            h = hops(r)
            self.assertEqual(sorted(x[1] for x in h), ["a.equal.tst", "b.equal.tst", "c.equal.tst"])
            firsts.add(h[0][1])
        self.assertGreater(len(firsts), 1, "equal-preference MX hosts were never shuffled")

    def test_implicit_mx(self):
        r = self.res.nexthops("implicit.tst")
        self.assertEqual(hops(r), [("0", "implicit.tst", "127.0.6.1")])

    def test_null_mx_is_permanent(self):
        r = self.res.nexthops("nullmx.tst")
        self.assertEqual(pstipc.get(r, "status"), "perm")
        self.assertEqual(pstipc.get(r, "dsn"), "5.1.10")
        self.assertIn("does not accept mail", pstipc.get(r, "text"))

    def test_nxdomain_is_permanent(self):
        r = self.res.nexthops("nosuch.exampleb.tst")
        self.assertEqual(pstipc.get(r, "status"), "perm")
        self.assertEqual(pstipc.get(r, "dsn"), "5.4.4")

    def test_mx_host_without_address(self):
        r = self.res.nexthops("noaddr.tst")
        self.assertEqual(pstipc.get(r, "status"), "perm", r)

    def test_cnames_followed(self):
        r = self.res.nexthops("alias.tst")
        self.assertEqual(hops(r), [("5", "mx.alias.tst", "127.0.7.1")])

    def test_loop_back_to_myself(self):
        r = self.res.nexthops("loop.tst")
        self.assertEqual(pstipc.get(r, "status"), "perm")
        self.assertEqual(pstipc.get(r, "text"), "mail for loop.tst loops back to myself")
        # As a backup MX (preference 10), only better hosts remain.
        r = self.res.nexthops("backup.loop.tst")
        self.assertEqual(hops(r), [("5", "primary.loop.tst", "127.0.9.11")])

    def test_bracketed_host(self):
        r = self.res.nexthops("mail.exampleb.tst", mx=False)
        self.assertEqual(hops(r), [("0", "mail.exampleb.tst", "127.0.4.1")])
        r = self.res.nexthops("exampleb.tst", mx=False)  # no A record: no MX lookup either
        self.assertEqual(pstipc.get(r, "status"), "perm")

    def test_plain_queries(self):
        r = self.res.query("exampleb.tst", "MX")
        self.assertEqual(sorted(pstipc.get_all(r, "rr")), ["10 mx.ispb.tst", "20 mail.exampleb.tst"])
        r = self.res.query("_25._tcp.mail.exampleb.tst", "TLSA")
        self.assertEqual(pstipc.get_all(r, "rr"), ["3 1 1 " + "0123456789ABCDEF" * 4])
        self.assertEqual(pstipc.get(r, "secure"), "insecure")
        r = self.res.query("exampleb.tst", "TXT")
        self.assertEqual(pstipc.get_all(r, "rr"), ["v=spf1 -all"])
        r = self.res.query("mx.ispb.tst", "AAAA")
        self.assertEqual(pstipc.get(r, "status"), "nodata")
        r = self.res.query("nothing.ispb.tst", "A")
        self.assertEqual(pstipc.get(r, "status"), "nxdomain")

    def test_bad_requests_answered_with_error(self):
        for attrs in ([("cmd", "query"), ("name", "a b"), ("type", "A")],
                      [("cmd", "query"), ("name", "a.tst"), ("type", "SRV")],
                      [("cmd", "nexthops"), ("domain", "")],
                      [("cmd", "explode")]):
            r = self.res.call(attrs)
            self.assertEqual(pstipc.get(r, "status"), "error", attrs)
        self.assertIsNone(self.res.proc.poll(), "resolver died on a bad request")


class ResolverDnsDownTest(unittest.TestCase):
    def test_dead_server_is_temporary(self):
        tmp = tempfile.mkdtemp(prefix="pst-resolver-")
        # An address of our own that nothing listens on.
        res = ResolverProcess(tmp, {"dns_servers": "%s@%d" % (harness.address(), harness.port()),
                                    "resolver_query_timeout": "2"})
        try:
            started = time.monotonic()
            r = res.nexthops("exampleb.tst")
            self.assertEqual(pstipc.get(r, "status"), "temp", r)
            self.assertTrue(pstipc.get(r, "dsn").startswith("4."))
            self.assertLess(time.monotonic() - started, 10)
        finally:
            res.stop()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
