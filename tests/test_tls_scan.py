# tests/test_tls_scan.py - every TLS port of an instance made by `postilionctl init
# --tls-selfsigned` (SMTP and submission with STARTTLS, SMTPS, IMAP and POP3 with
# STARTTLS/STLS, IMAPS, POP3S) scanned with sslscan, a scanner nobody here wrote: TLS 1.2
# and 1.3 only, no weak, export, anonymous, NULL, RC4, DES or MD5 cipher, no cipher under
# 128 bits, no renegotiation, not open to heartbleed; and no TLS compression, as Python's
# ssl module sees it on the wire. What sslscan found is printed with the test output.
import os
import smtplib
import ssl
import socket
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402

# service -> the sslscan option for its STARTTLS dialogue (None: TLS from the first byte)
SERVICES = {
    "smtp": "--starttls-smtp",
    "submission": "--starttls-smtp",
    "smtps": None,
    "imap": "--starttls-imap",
    "imaps": None,
    "pop3": "--starttls-pop3",
    "pop3s": None,
}
WEAK_NAMES = ("NULL", "EXP", "RC4", "DES", "MD5", "ADH", "AECDH", "anon", "PSK", "SRP", "IDEA", "SEED")


def scan(addr, port, starttls):
    """sslscan's XML report on addr:port, parsed."""
    with tempfile.NamedTemporaryFile(suffix=".xml") as out:
        cmd = ["sslscan", "--no-colour", "--no-cipher-details", "--xml=" + out.name]
        if starttls:
            cmd.append(starttls)
        cmd.append("%s:%d" % (addr, port))
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=180)
        if r.returncode != 0:
            raise AssertionError("%s exited %d:\n%s" % (" ".join(cmd), r.returncode, r.stdout[-3000:]))
        return ET.parse(out.name).getroot().find("ssltest")


def findings(test):
    """A list of what is wrong in one sslscan report (empty: nothing), and a summary."""
    bad = []
    protocols = {"%s%s" % (p.get("type"), p.get("version")): p.get("enabled") == "1"
                 for p in test.findall("protocol")}
    for old in ("ssl2", "ssl3", "tls1.0", "tls1.1"):
        if protocols.get(old, True):
            bad.append("%s enabled (or not tested)" % old)
    if not protocols.get("tls1.2"):
        bad.append("TLS 1.2 not offered")
    reneg = test.find("renegotiation")
    if reneg is None or reneg.get("supported") != "0":
        bad.append("renegotiation supported (or not tested)")
    for hb in test.findall("heartbleed"):
        if hb.get("vulnerable") != "0":
            bad.append("heartbleed: %s" % hb.get("sslversion"))
    ciphers = test.findall("cipher")
    if not ciphers:
        bad.append("no cipher accepted")
    for c in ciphers:
        name = c.get("cipher")
        if c.get("strength") not in ("strong", "acceptable"):
            bad.append("%s %s: strength %s" % (c.get("sslversion"), name, c.get("strength")))
        if int(c.get("bits", "0")) < 128:
            bad.append("%s %s: %s bits" % (c.get("sslversion"), name, c.get("bits")))
        if any(w.lower() in name.lower() for w in WEAK_NAMES):
            bad.append("%s %s: weak cipher" % (c.get("sslversion"), name))
    enabled = sorted(k for k, v in protocols.items() if v)
    summary = "%s, %d ciphers (%s), renegotiation %s" % (
        " ".join(enabled), len(ciphers), ", ".join(sorted({c.get("strength") for c in ciphers})),
        "no" if reneg is not None and reneg.get("supported") == "0" else "yes")
    return bad, summary


class FindingsTest(unittest.TestCase):
    """The judge of a report finds what is wrong: a report of a bad server, made up."""

    def test_a_bad_report_is_refused(self):
        test = ET.fromstring("""<ssltest host="h" port="1">
          <protocol type="ssl" version="3" enabled="0" /><protocol type="tls" version="1.0" enabled="1" />
          <protocol type="tls" version="1.1" enabled="0" /><protocol type="tls" version="1.2" enabled="1" />
          <renegotiation supported="1" secure="1" />
          <cipher status="accepted" sslversion="TLSv1.2" bits="128" cipher="RC4-SHA" strength="medium" />
          <cipher status="accepted" sslversion="TLSv1.2" bits="112" cipher="DES-CBC3-SHA" strength="medium" />
          <cipher status="accepted" sslversion="TLSv1.2" bits="256" cipher="ECDHE-RSA-AES256-GCM-SHA384"
                  strength="strong" /></ssltest>""")
        bad, _ = findings(test)
        self.assertEqual(["ssl2 enabled (or not tested)", "tls1.0 enabled (or not tested)",
                          "renegotiation supported (or not tested)",
                          "TLSv1.2 RC4-SHA: strength medium", "TLSv1.2 RC4-SHA: weak cipher",
                          "TLSv1.2 DES-CBC3-SHA: strength medium", "TLSv1.2 DES-CBC3-SHA: 112 bits",
                          "TLSv1.2 DES-CBC3-SHA: weak cipher"], bad)


class TlsScanTest(harness.InstanceTestCase):
    def test_every_tls_port(self):
        harness.require_daemon(self, "smtpd")
        harness.require_daemon(self, "imapd")
        harness.require_daemon(self, "pop3d")
        inst = self.started_instance(ports=tuple(SERVICES), tls=True)
        problems = []
        for service, starttls in SERVICES.items():
            port = inst.ports[service]
            harness.wait_listening(inst.addr, port, what=service)
            bad, summary = findings(scan(inst.addr, port, starttls))
            sys.stderr.write("\n  sslscan %-10s %s" % (service, summary))
            problems += ["%s: %s" % (service, b) for b in bad]
        sys.stderr.write("\n")
        self.assertEqual([], problems)

        # No compression, whichever way TLS starts (sslscan's OpenSSL cannot test it).
        for service in ("smtps", "imaps", "pop3s"):
            with socket.create_connection((inst.addr, inst.ports[service]), timeout=30) as raw:
                with harness.tls_client_context().wrap_socket(raw) as s:
                    self.assertIsNone(s.compression(), service)
                    self.assertIn(s.version(), ("TLSv1.2", "TLSv1.3"), service)
        with smtplib.SMTP(inst.addr, inst.ports["smtp"], timeout=30) as c:
            c.starttls(context=harness.tls_client_context())
            self.assertIsNone(c.sock.compression())
        # A client that offers only TLS 1.1 is refused.
        old = harness.tls_client_context()
        old.minimum_version = ssl.TLSVersion.TLSv1
        old.maximum_version = ssl.TLSVersion.TLSv1_1
        old.set_ciphers("ALL:@SECLEVEL=0")
        with socket.create_connection((inst.addr, inst.ports["imaps"]), timeout=30) as raw:
            with self.assertRaises(ssl.SSLError):
                old.wrap_socket(raw).close()


if __name__ == "__main__":
    harness.main()
