# tests/test_relay_agent.py - the smtp(8) relay client against small SMTP sinks on
# loopback, with a real unbound and resolver(8) for MX answers: delivery requests are
# sent as qmgr sends them (smtp/relay_probe), and outcomes are checked in the reply,
# the queue file's status bytes, the sink and the agent's log.
import os
import re
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from dns import smtp_sink, unbound  # noqa: E402
from test_relay_resolver import ResolverProcess  # noqa: E402


# The sinks' addresses, all listening on one port (smtp_destination_port); nothing listens
# on "down".
A = {name: harness.address() for name in
     ("plain", "down", "mx2", "busy", "auth", "tls", "seven", "nopipe", "small", "badtls")}

ZONES = {
    "fallback.tst": [
        "fallback.tst. 60 IN MX 10 mx1.fallback.tst.",
        "fallback.tst. 60 IN MX 20 mx2.fallback.tst.",
        "mx1.fallback.tst. 60 IN A " + A["down"],   # nothing listens
        "mx2.fallback.tst. 60 IN A " + A["mx2"],
    ],
    "busy.tst": [
        "busy.tst. 60 IN MX 10 mx1.busy.tst.",
        "busy.tst. 60 IN MX 20 mx2.busy.tst.",
        "mx1.busy.tst. 60 IN A " + A["busy"],       # 421 greeting
        "mx2.busy.tst. 60 IN A " + A["mx2"],
    ],
    "down.tst": [
        "down.tst. 60 IN MX 10 mx1.down.tst.",
        "mx1.down.tst. 60 IN A " + A["down"],
    ],
    "nullmx.tst": ["nullmx.tst. 60 IN MX 0 ."],
    "direct.tst": ["direct.tst. 60 IN A " + A["plain"]],
}

MESSAGE = b"From: a@examplea.tst\r\nTo: b@exampleb.tst\r\nSubject: relay test\r\n\r\nHello.\r\n.leading dot\r\n"


def make_cert(folder):
    cert, key = os.path.join(folder, "sink.crt"), os.path.join(folder, "sink.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=sink.tst", "-keyout", key, "-out", cert],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


class Agent:
    """smtp(8) on its own socket in a scratch queue directory, stopped by PID."""

    def __init__(self, qdir, params):
        self.qdir = qdir
        self.socket = os.path.join(qdir, "private", "smtp")
        self.log = os.path.join(qdir, "smtp.log")
        if os.path.exists(self.socket):
            os.unlink(self.socket)  # so the wait below sees this agent's socket
        args = [harness.program("smtp"), "--standalone", "-c", qdir, "-s", self.socket, "-o", "queue_directory=" + qdir]
        for k, v in params.items():
            args += ["-o", "%s=%s" % (k, v)]
        with open(self.log, "w") as logf:
            self.proc = subprocess.Popen(args, stdout=logf, stderr=subprocess.STDOUT)
        harness.wait_socket(self.socket, self.proc, what="smtp", log=self.log_text)

    def stop(self):
        harness.stop_process(self.proc)

    def log_text(self):
        return harness.read_tail(self.log)

    def deliver(self, nexthop, rcpts, content=MESSAGE, sender="a@examplea.tst", repeat=1, attrs=()):
        args = [harness.program("relay_probe"), "-q", self.qdir, "-s", self.socket, "-n", nexthop,
                "-f", sender, "-r", str(repeat)]
        for a in attrs:
            args += ["-a", a]
        r = subprocess.run(args + list(rcpts), input=content, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=120)
        if r.returncode != 0:
            raise AssertionError("relay_probe failed: %s\n%s" % (r.stderr.decode(), self.log_text()[-3000:]))
        return parse_probe(r.stdout.decode())


def parse_probe(out):
    """relay_probe output -> list of runs: {id, status, rcpt: {addr: {...}}, file: {addr: status}}."""
    runs, cur, last = [], None, None
    for line in out.splitlines():
        k, _, v = line.partition("=")
        if k == "id":
            cur = {"id": v, "rcpt": {}, "file": {}}
            runs.append(cur)
        elif k == "status":
            cur["status"] = v
        elif k == "rcpt":
            last = cur["rcpt"].setdefault(v, {})
        elif k in ("result", "dsn", "text", "relay"):
            last[k] = v
        elif k == "file_status":
            addr, st = v.rsplit(" ", 1)
            cur["file"][addr] = st
    return runs


class RelayAgentTest(harness.LogsOnFailure):
    @classmethod
    def setUpClass(cls):
        harness.require_program("smtp")
        harness.require_program("relay_probe")
        cls.tmp = harness.class_tempdir(cls, "pst-relay-")  # nothing started leaks
        cls.qdir = os.path.join(cls.tmp, "spool")
        os.makedirs(os.path.join(cls.qdir, "private"))
        cls.port = harness.port()
        cls.cert = make_cert(cls.tmp)
        cls.sinks = {}
        cls.addClassCleanup(lambda: [s.stop() for s in cls.sinks.values()])
        cls.sinks = {
            "plain": smtp_sink.Sink(A["plain"], cls.port,
                                    rcpt_replies={"bad": "550 5.1.1 <bad>: Recipient address rejected",
                                                  "later": "451 4.2.0 try later"}).start(),
            "mx2": smtp_sink.Sink(A["mx2"], cls.port,
                                  extensions=["PIPELINING", "SIZE 10240000", "8BITMIME", "SMTPUTF8"]).start(),
            "busy": smtp_sink.Sink(A["busy"], cls.port, greeting="421 4.3.2 busy").start(),
            "auth": smtp_sink.Sink(A["auth"], cls.port, users={"usera": "s3cret"}).start(),
            "tls": smtp_sink.Sink(A["tls"], cls.port, tls_cert=cls.cert).start(),
            "seven": smtp_sink.Sink(A["seven"], cls.port, extensions=["PIPELINING", "SIZE 2000"]).start(),
            "nopipe": smtp_sink.Sink(A["nopipe"], cls.port, extensions=[]).start(),
            "small": smtp_sink.Sink(A["small"], cls.port, extensions=["SIZE 2000"]).start(),
            "badtls": smtp_sink.Sink(A["badtls"], cls.port, tls_broken=True).start(),
        }
        cls.dns = unbound.Unbound(os.path.join(cls.tmp, "dns"), ZONES)
        cls.addClassCleanup(cls.dns.stop)
        cls.dns.start()
        cls.res = ResolverProcess(cls.tmp, {"dns_servers": cls.dns.server, "resolver_query_timeout": "3"})
        cls.addClassCleanup(cls.res.stop)
        # The agent finds the resolver at $queue_directory/private/resolver.
        os.symlink(cls.res.socket, os.path.join(cls.qdir, "private", "resolver"))
        p = cls.port
        cls.agent = Agent(cls.qdir, {
            "smtp_destination_port": str(p), "smtp_connect_timeout": "3", "smtp_helo_timeout": "10",
            "smtp_command_timeout": "10", "smtp_data_done_timeout": "10", "myhostname": "relay.examplea.tst",
            "smtp_sasl_auth_enable": "yes",
            "smtp_sasl_password_maps": "inline:{[%s]:%d=usera:s3cret}" % (A["auth"], p),
            "smtp_tls_policy_maps": "inline:{[%s]:%d=encrypt, [%s]:%d=may, [%s]:%d=encrypt}"
                                    % (A["tls"], p, A["plain"], p, A["seven"], p),
        })
        cls.addClassCleanup(cls.agent.stop)

    def on_failure(self):
        sys.stderr.write("--- smtp log ---\n" + self.agent.log_text()[-4000:])
        sys.stderr.write("--- resolver log ---\n" + self.res.log_text()[-2000:])

    def test_literal_delivery_and_log_line(self):
        sink = self.sinks["plain"]
        n = len(sink.messages)
        run = self.agent.deliver("[%s]" % A["plain"], ["userb@exampleb.tst"])[0]
        self.assertEqual(run["rcpt"]["userb@exampleb.tst"]["result"], "sent", run)
        self.assertEqual(run["file"]["userb@exampleb.tst"], "delivered")
        harness.wait_for(lambda: len(sink.messages) > n, what="message at the sink")
        m = sink.messages[-1]
        self.assertEqual(m["from"], "a@examplea.tst")
        self.assertEqual(m["rcpts"], ["userb@exampleb.tst"])
        self.assertIn(b"Subject: relay test\r\n", m["data"])
        self.assertIn(b"\r\n..leading dot\r\n", m["data"])  # dot-stuffed on the wire
        self.assertIn("SIZE=", m["mail"])
        line = "%s: to=<userb@exampleb.tst>, relay=%s[%s]:%d" % (run["id"], A["plain"], A["plain"], self.port)
        harness.wait_for(lambda: line in self.agent.log_text(), what="log line")
        self.assertRegex(self.agent.log_text(),
                         re.escape(line) + r", delay=[0-9.e+-]+, delays=[0-9.e+-]+/0/[0-9.e+-]+/[0-9.e+-]+, "
                         r"dsn=2\.0\.0, status=sent \(250 2\.0\.0 Ok: queued as SINK\)")

    def test_recipient_replies(self):
        run = self.agent.deliver("[%s]" % A["plain"], ["good@b.tst", "bad@b.tst", "later@b.tst"])[0]
        self.assertEqual(run["rcpt"]["good@b.tst"]["result"], "sent")
        self.assertEqual(run["rcpt"]["bad@b.tst"]["result"], "bounce")
        self.assertEqual(run["rcpt"]["bad@b.tst"]["dsn"], "5.1.1")
        self.assertIn("(in reply to RCPT TO command)", run["rcpt"]["bad@b.tst"]["text"])
        self.assertEqual(run["rcpt"]["later@b.tst"]["result"], "defer")
        self.assertEqual(run["rcpt"]["later@b.tst"]["dsn"], "4.2.0")
        self.assertEqual(run["file"], {"good@b.tst": "delivered", "bad@b.tst": "bounced", "later@b.tst": "pending"})

    def test_mx_fallback_after_refused_connection(self):
        sink = self.sinks["mx2"]
        n = len(sink.messages)
        run = self.agent.deliver("fallback.tst", ["u@fallback.tst"])[0]
        self.assertEqual(run["rcpt"]["u@fallback.tst"]["result"], "sent", run)
        self.assertEqual(run["rcpt"]["u@fallback.tst"]["relay"], "mx2.fallback.tst[%s]:%d" % (A["mx2"], self.port))
        self.assertEqual(len(sink.messages), n + 1)
        self.assertIn("connect to mx1.fallback.tst[%s]:%d: Connection refused" % (A["down"], self.port),
                      self.agent.log_text())

    def test_4xx_greeting_goes_to_next_mx(self):
        n = len(self.sinks["mx2"].messages)
        run = self.agent.deliver("busy.tst", ["u@busy.tst"])[0]
        self.assertEqual(run["rcpt"]["u@busy.tst"]["result"], "sent", run)
        self.assertEqual(len(self.sinks["mx2"].messages), n + 1)
        self.assertGreaterEqual(self.sinks["busy"].connections, 1)
        self.assertEqual(self.sinks["busy"].messages, [])

    def test_all_hosts_down_defers(self):
        run = self.agent.deliver("down.tst", ["u@down.tst"])[0]
        r = run["rcpt"]["u@down.tst"]
        self.assertEqual(r["result"], "defer")
        self.assertTrue(r["dsn"].startswith("4."))
        self.assertIn("Connection refused", r["text"])
        self.assertEqual(run["file"]["u@down.tst"], "pending")

    def test_null_mx_and_nxdomain_bounce(self):
        run = self.agent.deliver("nullmx.tst", ["u@nullmx.tst"])[0]
        self.assertEqual(run["rcpt"]["u@nullmx.tst"]["result"], "bounce")
        self.assertEqual(run["rcpt"]["u@nullmx.tst"]["dsn"], "5.1.10")
        self.assertEqual(run["file"]["u@nullmx.tst"], "bounced")
        run = self.agent.deliver("nosuch.fallback.tst", ["u@nosuch.fallback.tst"])[0]
        self.assertEqual(run["rcpt"]["u@nosuch.fallback.tst"]["result"], "bounce")

    def test_implicit_mx(self):
        n = len(self.sinks["plain"].messages)
        run = self.agent.deliver("direct.tst", ["u@direct.tst"])[0]
        self.assertEqual(run["rcpt"]["u@direct.tst"]["result"], "sent", run)
        self.assertEqual(len(self.sinks["plain"].messages), n + 1)

    def test_auth_to_smarthost(self):
        sink = self.sinks["auth"]
        run = self.agent.deliver("[%s]" % A["auth"], ["u@b.tst"])[0]
        self.assertEqual(run["rcpt"]["u@b.tst"]["result"], "sent", run)
        self.assertEqual(sink.messages[-1]["auth"], "usera")

    def test_starttls_required_by_policy(self):
        run = self.agent.deliver("[%s]" % A["tls"], ["u@b.tst"])[0]
        self.assertEqual(run["rcpt"]["u@b.tst"]["result"], "sent", run)
        self.assertTrue(self.sinks["tls"].messages[-1]["tls"])
        self.assertIn("Anonymous TLS connection established to %s[%s]:%d" % (A["tls"], A["tls"], self.port),
                      self.agent.log_text())
        # encrypt for a server without STARTTLS: never in the clear.
        n = len(self.sinks["seven"].messages)
        run = self.agent.deliver("[%s]" % A["seven"], ["u@b.tst"])[0]
        self.assertEqual(run["rcpt"]["u@b.tst"]["result"], "defer")
        self.assertIn("TLS is required, but was not offered", run["rcpt"]["u@b.tst"]["text"])
        self.assertEqual(len(self.sinks["seven"].messages), n)

    def test_may_falls_back_to_plaintext_after_failed_handshake(self):
        sink = self.sinks["badtls"]
        run = self.agent.deliver("[%s]" % A["badtls"], ["u@b.tst"])[0]
        self.assertEqual(run["rcpt"]["u@b.tst"]["result"], "sent", run)
        self.assertFalse(sink.messages[-1]["tls"])
        self.assertEqual(sink.connections, 2)
        self.assertIn("trying again without TLS", self.agent.log_text())

    def test_connection_reuse(self):
        sink = self.sinks["mx2"]
        before_conn, before_msgs = sink.connections, len(sink.messages)
        runs = self.agent.deliver("[%s]" % A["mx2"], ["r@b.tst"], repeat=3)
        self.assertEqual([r["rcpt"]["r@b.tst"]["result"] for r in runs], ["sent"] * 3)
        self.assertEqual(len(sink.messages), before_msgs + 3)
        self.assertEqual(sink.connections, before_conn + 1, "three messages should share one connection")

    def test_8bit_downgrade_and_size(self):
        sink = self.sinks["nopipe"]  # no 8BITMIME, no PIPELINING
        body = "Subject: 8bit\r\nContent-Type: text/plain; charset=utf-8\r\n\r\ngr\u00fc\u00df\r\n".encode()
        run = self.agent.deliver("[%s]" % A["nopipe"], ["u@b.tst"], content=body)[0]
        self.assertEqual(run["rcpt"]["u@b.tst"]["result"], "sent", run)
        data = sink.messages[-1]["data"]
        self.assertIn(b"Content-Transfer-Encoding: quoted-printable", data)
        self.assertIn(b"gr=C3=BC=C3=9F", data)
        multi = b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\n\xff\r\n--x--\r\n"
        run = self.agent.deliver("[%s]" % A["nopipe"], ["u@b.tst"], content=multi)[0]
        self.assertEqual(run["rcpt"]["u@b.tst"]["result"], "bounce")
        self.assertEqual(run["rcpt"]["u@b.tst"]["dsn"], "5.6.3")
        big = b"Subject: big\r\n\r\n" + b"x" * 3000 + b"\r\n"
        run = self.agent.deliver("[%s]" % A["small"], ["u@b.tst"], content=big)[0]
        self.assertEqual(run["rcpt"]["u@b.tst"]["result"], "bounce", run)
        self.assertEqual(run["rcpt"]["u@b.tst"]["dsn"], "5.3.4")
        self.assertEqual(self.sinks["small"].messages, [])

    def test_smtputf8(self):
        utf8 = "Subject: \u00fc\r\n\r\nx\r\n".encode()
        run = self.agent.deliver("[%s]" % A["mx2"], ["u@b.tst"], content=utf8, attrs=["smtputf8=yes"])[0]
        self.assertEqual(run["rcpt"]["u@b.tst"]["result"], "sent", run)
        self.assertTrue(self.sinks["mx2"].messages[-1]["mail"].endswith(" SMTPUTF8"))
        n = len(self.sinks["nopipe"].messages)
        run = self.agent.deliver("[%s]" % A["nopipe"], ["u@b.tst"], content=utf8, attrs=["smtputf8=yes"])[0]
        self.assertEqual(run["rcpt"]["u@b.tst"]["result"], "bounce")
        self.assertEqual(run["rcpt"]["u@b.tst"]["dsn"], "5.6.7")
        self.assertEqual(len(self.sinks["nopipe"].messages), n)

    def test_bad_requests(self):
        from dns import pstipc
        r = pstipc.call(self.agent.socket, [("cmd", "deliver"), ("id", "../../etc"), ("file", "active/x")])
        self.assertEqual(pstipc.get(r, "status"), "error")
        self.assertIsNone(self.agent.proc.poll())


if __name__ == "__main__":
    unittest.main()
