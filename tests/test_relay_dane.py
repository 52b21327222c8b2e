# tests/test_relay_dane.py - DANE (RFC 7672) end to end: nsd serves a DNSSEC-signed test
# zone (signed with ldns-signzone) holding an MX host and its TLSA record; resolver(8)
# validates with the zone's trust anchor; smtp(8) at level dane delivers over TLS to a
# sink whose certificate matches the TLSA record, refuses one whose certificate does
# not, and treats an unsigned zone's host as opportunistic TLS.
import hashlib
import os
import shutil
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from dns import smtp_sink, unbound  # noqa: E402
from test_relay_agent import Agent, make_cert  # noqa: E402
from test_relay_resolver import ResolverProcess  # noqa: E402

NSD = shutil.which("nsd") or "/usr/sbin/nsd"


def spki_sha256(cert_file):
    der = subprocess.run(["openssl", "x509", "-in", cert_file, "-noout", "-pubkey"], check=True,
                         stdout=subprocess.PIPE).stdout
    spki = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=der, check=True,
                          stdout=subprocess.PIPE).stdout
    return hashlib.sha256(spki).hexdigest()


class Nsd:
    """nsd in the foreground on a loopback address, serving one signed zone."""

    def __init__(self, workdir, zone, zonefile, address, port):
        self.workdir, self.address, self.port = workdir, address, port
        self.conf = os.path.join(workdir, "nsd.conf")
        with open(self.conf, "w") as f:
            f.write("server:\n  ip-address: %s@%d\n  port: %d\n  username: \"\"\n  chroot: \"\"\n"
                    "  zonesdir: \"%s\"\n  database: \"\"\n  pidfile: \"%s/nsd.pid\"\n"
                    "  xfrdfile: \"%s/xfrd.state\"\n  zonelistfile: \"%s/zone.list\"\n  logfile: \"%s/nsd.log\"\n"
                    "  verbosity: 1\n  server-count: 1\n"
                    "remote-control:\n  control-enable: no\n"
                    "zone:\n  name: %s\n  zonefile: %s\n"
                    % (address, port, port, workdir, workdir, workdir, workdir, workdir, zone, zonefile))
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([NSD, "-d", "-c", self.conf], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.STDOUT)
        harness.wait_for(lambda: self.proc.poll() is not None or
                         unbound.dns_query(self.address, self.port, "dane.tst", 6) is not None, 15, "nsd")
        if self.proc.poll() is not None:
            raise AssertionError("nsd exited: " + self.log_text())

    def stop(self):
        harness.stop_process(self.proc)

    def log_text(self):
        return harness.read_tail(os.path.join(self.workdir, "nsd.log"), 3000)


class DaneTest(harness.LogsOnFailure):
    @classmethod
    def setUpClass(cls):
        harness.require_program("smtp")
        harness.require_program("relay_probe")
        cls.tmp = harness.class_tempdir(cls, "pst-dane-")  # nothing started leaks
        cls.port = harness.port()
        # The name server, the sink whose certificate matches its TLSA record, the other.
        cls.ns, cls.mx, cls.mxbad = harness.address(), harness.address(), harness.address()
        good = os.path.join(cls.tmp, "good")
        bad = os.path.join(cls.tmp, "bad")
        os.makedirs(good)
        os.makedirs(bad)
        cls.good_cert = make_cert(good)
        cls.bad_cert = make_cert(bad)
        tlsa = spki_sha256(cls.good_cert[0])
        zone = os.path.join(cls.tmp, "dane.tst.zone")
        p = cls.port
        with open(zone, "w") as f:
            f.write("$ORIGIN dane.tst.\n$TTL 60\n"
                    "@ IN SOA ns.dane.tst. admin.dane.tst. 1 3600 600 86400 60\n"
                    "@ IN NS ns.dane.tst.\nns IN A %s\n"
                    "@ IN MX 10 mx.dane.tst.\nmx IN A %s\n"
                    "_%d._tcp.mx IN TLSA 3 1 1 %s\n"
                    "wrong IN MX 10 mxbad.dane.tst.\nmxbad IN A %s\n"
                    "_%d._tcp.mxbad IN TLSA 3 1 1 %s\n" % (cls.ns, cls.mx, p, tlsa, cls.mxbad, p, tlsa))
        keys = []
        for ksk in (True, False):
            r = subprocess.run(["ldns-keygen", "-a", "ECDSAP256SHA256"] + (["-k"] if ksk else []) + ["dane.tst"],
                               cwd=cls.tmp, check=True, stdout=subprocess.PIPE, text=True)
            keys.append(r.stdout.strip())
        subprocess.run(["ldns-signzone", "-o", "dane.tst", zone] + keys, cwd=cls.tmp, check=True)
        cls.anchor = os.path.join(cls.tmp, keys[0] + ".ds")
        cls.nsd = Nsd(cls.tmp, "dane.tst", zone + ".signed", cls.ns, harness.port())
        cls.addClassCleanup(cls.nsd.stop)
        cls.nsd.start()
        cls.sinks = []
        cls.addClassCleanup(lambda: [s.stop() for s in cls.sinks])
        cls.sinks = [smtp_sink.Sink(cls.mx, p, tls_cert=cls.good_cert).start(),
                     smtp_sink.Sink(cls.mxbad, p, tls_cert=cls.bad_cert).start()]
        cls.qdir = os.path.join(cls.tmp, "spool")
        os.makedirs(os.path.join(cls.qdir, "private"))
        cls.res = ResolverProcess(cls.tmp, {"dns_servers": "%s@%d" % (cls.ns, cls.nsd.port),
                                            "dnssec_trust_anchor_file": cls.anchor,
                                            "resolver_query_timeout": "3"})
        cls.addClassCleanup(cls.res.stop)
        os.symlink(cls.res.socket, os.path.join(cls.qdir, "private", "resolver"))
        cls.agent = Agent(cls.qdir, {"smtp_destination_port": str(p), "smtp_tls_security_level": "dane",
                                     "smtp_connect_timeout": "3"})
        cls.addClassCleanup(cls.agent.stop)

    def on_failure(self):
        sys.stderr.write("--- smtp ---\n" + self.agent.log_text()[-3000:])
        sys.stderr.write("--- resolver ---\n" + self.res.log_text()[-3000:])
        sys.stderr.write("--- nsd ---\n" + self.nsd.log_text())

    def test_answers_are_secure(self):
        from dns import pstipc
        r = self.res.query("_%d._tcp.mx.dane.tst" % self.port, "TLSA")
        self.assertEqual(pstipc.get(r, "status"), "ok", r)
        self.assertEqual(pstipc.get(r, "secure"), "secure", r)

    def test_dane_match_delivers_verified(self):
        run = self.agent.deliver("dane.tst", ["u@dane.tst"])[0]
        self.assertEqual(run["rcpt"]["u@dane.tst"]["result"], "sent", run)
        self.assertTrue(self.sinks[0].messages[-1]["tls"])
        self.assertIn("Verified (DANE) TLS connection established to mx.dane.tst[%s]:%d" % (self.mx, self.port),
                      self.agent.log_text())

    def test_dane_mismatch_refused(self):
        run = self.agent.deliver("wrong.dane.tst", ["u@wrong.dane.tst"])[0]
        r = run["rcpt"]["u@wrong.dane.tst"]
        self.assertEqual(r["result"], "defer", run)
        self.assertIn("certificate verification failed", r["text"])
        self.assertEqual(self.sinks[1].messages, [])


if __name__ == "__main__":
    unittest.main()
