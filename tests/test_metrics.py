#!/usr/bin/env python3
# tests/test_metrics.py - metrics(8), the Prometheus exporter, under master(8): mail in
# over SMTP (one delivered locally, one refused recipient, one STARTTLS session), then
# /metrics fetched with curl and read with prometheus_client's parser (the Debian
# package of the system python3): the counters, the delay histogram, the queue gauges
# and the connection gauge - which drops back when an smtpd is killed with a session
# open. Other paths answer 404, other methods 405.
import json
import os
import shutil
import signal
import smtplib
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402

SYSTEM_PYTHON = "/usr/bin/python3"  # python3-prometheus-client is a package of the system python

# Reads the exposition text on stdin with prometheus_client's parser; prints the samples
# as JSON [[name, labels, value], ...].
PARSE = """
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        out.append([s.name, s.labels, s.value])
print(json.dumps(out))
"""


def have_parser():
    return os.path.exists(SYSTEM_PYTHON) and subprocess.run(
        [SYSTEM_PYTHON, "-c", "import prometheus_client.parser"], stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL).returncode == 0


@unittest.skipUnless(shutil.which("curl") and have_parser(), "curl and python3-prometheus-client are needed")
class MetricsTest(harness.InstanceTestCase):
    def setUp(self):
        super().setUp()
        for d in ("master", "smtpd", "qmgr", "local", "metrics"):
            harness.require_daemon(self, d)
        inst = self.make_instance(ports=("smtp",), tls=True)
        inst.init("--user", "postilion")
        self.pw = harness.add_system_user(self, "pstme", os.path.join(inst.base, "home"))
        self.metrics_port = harness.port()
        with open(inst.main_conf(), "a") as f:
            f.write("metrics_listen = %s:%d\n" % (inst.addr, self.metrics_port))
        with open(inst.master_conf()) as f:
            master = f.read()
        self.assertIn("#metrics ", master)  # init offers it, off
        with open(inst.master_conf(), "w") as f:
            f.write(master.replace("#metrics ", "metrics "))
        inst.start()
        inst.wait_ready()
        self.inst = inst
        self.service = "%s:%d" % (inst.addr, inst.ports["smtp"])
        # master starts metrics(8) with the other boot services; its listener follows.
        harness.wait_for(lambda: self.fetch("/")[0] == 200, 30, "metrics(8) on metrics_listen")

    def fetch(self, path="/metrics", method="GET"):
        r = subprocess.run(["curl", "-s", "-X", method, "-o", "-", "-w", "\n%{http_code}",
                            "http://%s:%d%s" % (self.inst.addr, self.metrics_port, path)],
                           stdout=subprocess.PIPE, text=True, timeout=30)
        body, _, code = r.stdout.rpartition("\n")
        return int(code or 0), body

    def samples(self):
        code, text = self.fetch()
        self.assertEqual(200, code, text)
        r = subprocess.run([SYSTEM_PYTHON, "-c", PARSE], input=text, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=30)
        self.assertEqual(0, r.returncode, r.stderr + text)
        return {(name, tuple(sorted(labels.items()))): value for name, labels, value in json.loads(r.stdout)}

    def value(self, samples, name, **labels):
        return samples.get((name, tuple(sorted(labels.items()))))

    def wait_value(self, name, want, **labels):
        def ok():
            return self.value(self.samples(), name, **labels) == want
        harness.wait_for(ok, 20, "%s%s == %s" % (name, labels, want))

    def test_counters_histogram_gauges(self):
        s = self.samples()
        for q in ("maildrop", "incoming", "active", "deferred", "hold", "corrupt"):
            self.assertEqual(0, self.value(s, "postilion_queue_messages", queue=q), q)
        rcpt = "%s@%s" % (self.pw.pw_name, self.inst.domain)
        with smtplib.SMTP(self.inst.addr, self.inst.ports["smtp"], timeout=30) as c:
            c.starttls(context=harness.tls_client_context())
            c.ehlo("client.test")
            c.sendmail("alice@remote.test", [rcpt], "Subject: counted\r\n\r\nhello\r\n")
        with smtplib.SMTP(self.inst.addr, self.inst.ports["smtp"], timeout=30) as c:
            c.ehlo("client.test")
            c.mail("alice@remote.test")
            code, _ = c.rcpt("nobody-here@%s" % self.inst.domain)
            self.assertEqual(550, code)
        new = os.path.join(self.pw.pw_dir, "Maildir", "new")
        harness.wait_for(lambda: os.path.isdir(new) and len(os.listdir(new)) == 1, 30, "delivery")
        self.wait_value("postilion_deliveries_total", 1, transport="local", status="sent")
        self.wait_value("postilion_connections", 0, service=self.service)
        s = self.samples()
        self.assertEqual(2, self.value(s, "postilion_connections_total", service=self.service))
        self.assertEqual(1, self.value(s, "postilion_messages_received_total", service=self.service))
        self.assertEqual(1, self.value(s, "postilion_tls_handshakes_total", service=self.service, result="ok"))
        self.assertEqual(1, self.value(s, "postilion_smtpd_rejects_total", service=self.service, stage="rcpt",
                                       code="5xx"))
        self.assertEqual(1, self.value(s, "postilion_delivery_delay_seconds_count", transport="local"))
        self.assertEqual(1, self.value(s, "postilion_delivery_delay_seconds_bucket", transport="local", le="+Inf"))
        self.assertLess(self.value(s, "postilion_delivery_delay_seconds_sum", transport="local"), 30)
        self.assertIsNone(self.value(s, "postilion_deliveries_total", transport="local", status="bounced"))
        for q in ("incoming", "active", "deferred"):
            self.assertEqual(0, self.value(s, "postilion_queue_messages", queue=q), q)
        self.assertIn("smtpd", self.inst.log_text())

    def test_gauge_follows_a_killed_smtpd(self):
        c = smtplib.SMTP(self.inst.addr, self.inst.ports["smtp"], timeout=30)
        try:
            c.ehlo("client.test")
            self.wait_value("postilion_connections", 1, service=self.service)
            smtpds = [pid for pid, (_, name) in harness.process_table().items() if name == "smtpd"
                      and pid in harness.children_of(self.inst.master_pid())]
            self.assertEqual(1, len(smtpds), smtpds)
            os.kill(smtpds[0], signal.SIGKILL)
            # The killed process's link to metrics(8) closes, and its share goes with it.
            self.wait_value("postilion_connections", 0, service=self.service)
            self.assertEqual(1, self.value(self.samples(), "postilion_connections_total", service=self.service))
        finally:
            try:
                c.close()
            except OSError:
                pass

    def test_http_answers(self):
        code, body = self.fetch("/nothing")
        self.assertEqual(404, code)
        code, body = self.fetch("/metrics", method="POST")
        self.assertEqual(405, code)
        code, body = self.fetch("/")
        self.assertEqual(200, code)
        self.assertIn("/metrics", body)
        code, body = self.fetch("/metrics")
        self.assertIn("# TYPE postilion_queue_messages gauge", body)


if __name__ == "__main__":
    unittest.main()
