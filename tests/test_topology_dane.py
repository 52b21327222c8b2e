# tests/test_topology_dane.py - topology case 6: DANE between two Postilion instances.
# nsd serves a DNSSEC-signed test zone (ldns-signzone) whose MX host has a TLSA record
# for the receiving instance's certificate; the sending instance's resolver(8) validates
# with the zone's trust anchor and its smtp(8) runs at smtp_tls_security_level = dane:
#   mx.dane.tst    receiver, STARTTLS with its own certificate
#   mx.ispa.tst    sender, dane level
# (each on a loopback address of its own, tests/harness.py's)
# Mail for dane.tst goes over verified TLS; mail for wrong.dane.tst, whose MX host's
# TLSA record names another key, is refused and stays queued.
import glob
import os
import pwd
import re
import smtplib
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from test_relay_agent import make_cert  # noqa: E402
from test_relay_dane import Nsd, spki_sha256  # noqa: E402


def conf_value(inst, name):
    value = None
    with open(inst.main_conf()) as f:
        for line in f:
            m = re.match(r"\s*%s\s*=\s*(.*?)\s*$" % re.escape(name), line)
            if m:
                value = m.group(1)
    return value


class TopologyDaneTest(harness.LogsOnFailure):
    def setUp(self):
        for d in ("master", "smtpd", "qmgr", "local", "smtp", "resolver"):
            harness.require_daemon(self, d)
        self.port = harness.port()  # both instances' SMTP port
        self.ns, recv_addr, send_addr = harness.address(), harness.address(), harness.address()
        me = pwd.getpwuid(os.getuid()).pw_name
        self.me = me
        self.recv = self.instance("dane-recv", recv_addr, "mx.dane.tst", "dane.tst", tls=True)
        self.send_ = self.instance("dane-send", send_addr, "mx.ispa.tst", "ispa.tst", tls=False)
        # The zone: its TLSA records name the receiver's key (good) and another key.
        work = os.path.join(self.recv.base, "dns")
        os.makedirs(work)
        other = os.path.join(work, "other")
        os.makedirs(other)
        good = spki_sha256(conf_value(self.recv, "smtpd_tls_cert_file"))
        bad = spki_sha256(make_cert(other)[0])
        zone = os.path.join(work, "dane.tst.zone")
        p = self.port
        with open(zone, "w") as f:
            f.write("$ORIGIN dane.tst.\n$TTL 60\n"
                    "@ IN SOA ns.dane.tst. admin.dane.tst. 1 3600 600 86400 60\n"
                    "@ IN NS ns.dane.tst.\nns IN A %s\n"
                    "@ IN MX 10 mx.dane.tst.\nmx IN A %s\n_%d._tcp.mx IN TLSA 3 1 1 %s\n"
                    "wrong IN MX 10 mxw.dane.tst.\nmxw IN A %s\n_%d._tcp.mxw IN TLSA 3 1 1 %s\n"
                    % (self.ns, recv_addr, p, good, recv_addr, p, bad))
        keys = [subprocess.run(["ldns-keygen", "-a", "ECDSAP256SHA256"] + (["-k"] if ksk else []) + ["dane.tst"],
                               cwd=work, check=True, stdout=subprocess.PIPE, text=True).stdout.strip()
                for ksk in (True, False)]
        subprocess.run(["ldns-signzone", "-o", "dane.tst", zone] + keys, cwd=work, check=True)
        self.nsd = Nsd(work, "dane.tst", zone + ".signed", self.ns, harness.port())
        self.nsd.start()
        self.addCleanup(self.nsd.stop)
        common = {"dns_servers": "%s@%d" % (self.ns, self.nsd.port), "smtp_destination_port": str(p),
                  "queue_run_delay": "1s", "minimal_backoff_time": "1s", "maximal_backoff_time": "2s",
                  "smtp_connect_timeout": "2s"}
        self.conf(self.send_, dict(common, smtp_tls_security_level="dane",
                                   dnssec_trust_anchor_file=os.path.join(work, keys[0] + ".ds"),
                                   smtp_bind_address=send_addr, mydestination="$myhostname, localhost"))
        self.conf(self.recv, dict(common, mydestination="$myhostname, localhost, dane.tst",
                                  local_home_root=self.recv.homes,
                                  alias_maps="hash:" + os.path.join(self.recv.config_dir, "aliases")))
        with open(os.path.join(self.recv.config_dir, "aliases"), "w") as f:
            f.write("postmaster: %s\nuserb: %s\n" % (me, me))
        r = subprocess.run([harness.sbin("sendmail"), "-C", self.recv.config_dir, "-bi"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout)
        for inst in (self.recv, self.send_):
            inst.start()
            inst.wait_ready()

    def instance(self, name, addr, host, domain, tls):
        inst = harness.Instance(name=name, ports={"smtp": self.port}, domain=domain, tls=tls,
                                addr=addr, hostname=host)
        inst.init()
        inst.homes = os.path.join(inst.base, "homes")
        os.makedirs(os.path.join(inst.homes, self.me))
        self.addCleanup(inst.stop)
        return inst

    def conf(self, inst, kv):
        with open(inst.main_conf(), "a") as f:
            for k, v in kv.items():
                f.write("%s = %s\n" % (k, v))

    def on_failure(self):
        for inst in (getattr(self, "send_", None), getattr(self, "recv", None)):
            if inst:
                inst.dump()

    def submit(self, rcpt, subject):
        with smtplib.SMTP(self.send_.addr, self.port, timeout=30) as s:
            s.sendmail("usera@ispa.tst", [rcpt], "Subject: %s\r\n\r\nbody\r\n" % subject)

    def test_6_dane(self):
        self.submit("userb@dane.tst", "case six")
        maildir = os.path.join(self.recv.homes, self.me, "Maildir", "new", "*")

        def arrived():
            for p in glob.glob(maildir):
                with open(p, "rb") as f:
                    if b"Subject: case six" in f.read():
                        return True
            return False
        harness.wait_for(arrived, 60, "the message at mx.dane.tst")
        log = self.send_.log_text()
        self.assertIn("Verified (DANE) TLS connection established to mx.dane.tst[%s]:%d" % (self.recv.addr, self.port), log)
        # A peer whose certificate does not match its TLSA record gets nothing.
        start = len(self.send_.log_text())
        self.submit("userb@wrong.dane.tst", "case six wrong")
        harness.wait_for(lambda: re.search(r"to=<userb@wrong\.dane\.tst>, .*status=deferred \(TLS with "
                                           r"mxw\.dane\.tst\[%s\]:%d failed: .*certificate verification"
                                           % (re.escape(self.recv.addr), self.port), self.send_.log_text()[start:]),
                         40, "refusal")
        self.assertNotIn("userb@wrong.dane.tst", self.recv.log_text())


if __name__ == "__main__":
    unittest.main()
