#!/usr/bin/env python3
# tests/test_qmgr_route.py - qmgr's address classes and destination scheduling in a
# whole instance under master(8), with SMTP sinks on loopback as next hops:
#  - relay_domains go to relay_transport (the "relay" service: smtp with its own -o
#    smtp_helo_name, so the sink tells which service delivered), other remote mail to
#    default_transport, virtual_mailbox_domains to virtual_transport;
#  - relay_destination_rate_delay spaces deliveries to one destination;
#  - a next hop that refuses connections gets its destination suspended ("dead"), and
#    what waits for it is deferred without trying, with Postfix's log line.
import json
import os
import re
import smtplib
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from dns import smtp_sink  # noqa: E402

RELAY_HELO = "relay-service.test"
STAMP = re.compile(r"^\w{3} +\d+ (\d\d):(\d\d):(\d\d) ")
# The relay client's own line for each delivery (qmgr logs the outcome as well).
SENT = r"postilion/smtp\[\d+\]: \w+: to=<x@relayed\.test>, .*status=sent"


def refused_destination():
    """A loopback address and port with nothing listening (an address of our own)."""
    return harness.address(), harness.port()


class Routed:
    """An instance with smtpd, qmgr, smtp (as smtp and as relay) and resolver."""

    def __init__(self, test, conf):
        for d in ("master", "smtpd", "qmgr", "smtp", "resolver"):
            harness.require_daemon(test, d)
        self.inst = test.make_instance(ports=("smtp",))
        self.inst.init(*(["--user", "postilion"] if os.geteuid() == 0 else []))
        with open(self.inst.master_conf()) as f:
            master = f.read()
        # The relay service, as Postfix's master.cf has it ("relay unix - - n - - smtp"),
        # with a HELO name of its own so that the next hop can tell it from smtp.
        master = "\n".join(l for l in master.splitlines() if not l.startswith("relay "))
        master += "\nrelay unix - - n - - smtp -o smtp_helo_name=%s\n" % RELAY_HELO
        with open(self.inst.master_conf(), "w") as f:
            f.write(master)
        base = {"mynetworks": "127.0.0.0/8", "minimal_backoff_time": "2s", "maximal_backoff_time": "4s",
                "queue_run_delay": "1s", "smtp_connect_timeout": "3s"}
        base.update(conf)
        with open(self.inst.main_conf(), "a") as f:
            for k, v in base.items():
                f.write("%s = %s\n" % (k, v))
        test.addCleanup(self.inst.stop)
        self.inst.start()
        self.inst.wait_ready()

    def send(self, rcpts, n=1, subject="routed"):
        with smtplib.SMTP(self.inst.addr, self.inst.ports["smtp"], timeout=30) as s:
            for i in range(n):
                s.sendmail("alice@example.test", rcpts, "Subject: %s %d\r\n\r\nbody\r\n" % (subject, i))

    def lines(self, pattern):
        return [l for l in self.inst.log_text().splitlines() if re.search(pattern, l)]


def seconds(line):
    h, m, s = (int(x) for x in STAMP.match(line).groups())
    return h * 3600 + m * 60 + s


class QmgrRouteTest(harness.InstanceTestCase):

    def sink(self, **kw):
        s = smtp_sink.Sink(harness.address(), harness.port(), **kw).start()
        self.addCleanup(s.stop)
        return s

    @staticmethod
    def helo_of(sink, msg):
        for conn, line in sink.commands:
            if conn == msg["conn"] and line.upper().startswith(("EHLO ", "HELO ")):
                return line.split()[1]
        return None

    def test_address_classes(self):
        hop = self.sink()
        store = self.sink()
        r = Routed(self, {
            "relay_domains": "relayed.test",
            "relayhost": "[%s]:%d" % (hop.address, hop.port),
            "virtual_mailbox_domains": "vbox.test",
            "virtual_mailbox_maps": "inline:{ann@vbox.test=vbox.test/ann/}",
            # No virtual delivery agent: the virtual class goes to a mail store by SMTP.
            "virtual_transport": "smtp:[%s]:%d" % (store.address, store.port),
        })
        r.send(["x@relayed.test"], subject="to relay")
        r.send(["y@elsewhere.test"], subject="to default")
        r.send(["ann@vbox.test"], subject="to virtual")
        harness.wait_for(lambda: len(hop.messages) == 2 and len(store.messages) == 1, 30,
                         "three deliveries")
        by_rcpt = {m["rcpts"][0]: m for m in hop.messages}
        self.assertEqual(set(by_rcpt), {"x@relayed.test", "y@elsewhere.test"})
        # relay_domains went through the relay service, the rest through smtp.
        self.assertEqual(self.helo_of(hop, by_rcpt["x@relayed.test"]), RELAY_HELO)
        self.assertNotEqual(self.helo_of(hop, by_rcpt["y@elsewhere.test"]), RELAY_HELO)
        self.assertEqual(store.messages[0]["rcpts"], ["ann@vbox.test"])
        self.assertNotEqual(self.helo_of(store, store.messages[0]), RELAY_HELO)
        # One line per delivery, as in Postfix: the agent's; qmgr does not repeat it.
        harness.wait_for(lambda: r.lines(r"to=<y@elsewhere\.test>, .*status=sent"), 10, "y's delivery line")
        for rcpt in ("x@relayed", "y@elsewhere"):
            sent = r.lines(r"to=<%s\.test>, relay=%s\[%s\]:%d, .*status=sent"
                           % (rcpt, re.escape(hop.address), re.escape(hop.address), hop.port))
            self.assertEqual(len(sent), 1, sent)
            self.assertIn("postilion/smtp[", sent[0])

    def test_virtual_alias_to_a_remote_address(self):
        # A virtual alias with one remote target goes out by SMTP to the target, with the
        # alias as the original recipient; a local alias target of the same table too.
        hop = self.sink()
        r = Routed(self, {
            "relayhost": "[%s]:%d" % (hop.address, hop.port),
            "virtual_alias_domains": "valias.test",
            "virtual_alias_maps": "inline:{info@valias.test=someone@elsewhere.test}",
        })
        r.send(["info@valias.test"], subject="via alias")
        harness.wait_for(lambda: len(hop.messages) == 1, 30, "the aliased delivery")
        self.assertEqual(hop.messages[0]["rcpts"], ["someone@elsewhere.test"])
        harness.wait_for(lambda: r.lines(r"to=<someone@elsewhere\.test>, orig_to=<info@valias\.test>, .*status=sent"),
                         10, "the delivery line with orig_to")
        harness.wait_for(lambda: harness.queue_empty(r.inst.spool), 10, "an empty queue")

    def test_rate_delay_spaces_deliveries(self):
        hop = self.sink()
        r = Routed(self, {"relay_domains": "relayed.test",
                          "relay_transport": "relay:[%s]:%d" % (hop.address, hop.port),
                          "relay_destination_rate_delay": "2s"})
        r.send(["x@relayed.test"], n=3)
        harness.wait_for(lambda: len(hop.messages) == 3, 40, "three relayed messages")
        harness.wait_for(lambda: len(r.lines(SENT)) == 3, 10, "three log lines")
        sent = r.lines(SENT)
        t = [seconds(l) for l in sent]
        # Each delivery starts at least 2 s after the previous one ended: the ends (the
        # log lines, stamped to the second) are at least 2 s apart.
        for a, b in zip(t, t[1:]):
            self.assertGreaterEqual(b - a, 2, sent)
        # Each message arrived once.
        self.assertEqual(sorted(m["rcpts"][0] for m in hop.messages), ["x@relayed.test"] * 3)

    def test_without_rate_delay_no_spacing(self):
        # The control for the test above: the same three messages without a delay are
        # delivered in parallel within a moment.
        hop = self.sink()
        r = Routed(self, {"relay_domains": "relayed.test",
                          "relay_transport": "relay:[%s]:%d" % (hop.address, hop.port)})
        r.send(["x@relayed.test"], n=3)
        harness.wait_for(lambda: len(r.lines(SENT)) == 3, 40, "three sent")
        t = [seconds(l) for l in r.lines(SENT)]
        self.assertLess(max(t) - min(t), 4)

    def test_dead_destination(self):
        addr, port = refused_destination()
        r = Routed(self, {"relay_domains": "relayed.test",
                          "relay_transport": "relay:[%s]:%d" % (addr, port),
                          # One delivery at first: its failure is a whole cohort.
                          "relay_initial_destination_concurrency": "1",
                          "minimal_backoff_time": "30s", "maximal_backoff_time": "60s"})
        r.send(["x@relayed.test"], n=3)
        suspended = r"to=<x@relayed\.test>, relay=none, .*dsn=4\.4\.\d, status=deferred " \
                    r"\(delivery temporarily suspended: .*%s.*:%d" % (re.escape(addr), port)
        harness.wait_for(lambda: len(r.lines(suspended)) == 2, 30, "two deliveries suspended")
        # Exactly one real attempt; the qmgr says the destination is suspended.
        tried = r.lines(r"postilion/smtp\[\d+\]: \w+: to=<x@relayed\.test>, .*status=deferred")
        self.assertEqual(len(tried), 1, tried)
        self.assertTrue(r.lines(r"postilion/qmgr\[\d+\]: relay: destination \[%s\]:%d: "
                                r"delivery temporarily suspended for 30s" % (re.escape(addr), port)))
        # Mail that arrives while the destination is dead waits without an attempt too.
        r.send(["x@relayed.test"], subject="late")
        harness.wait_for(lambda: len(r.lines(suspended)) == 3, 30, "the late message suspended")
        self.assertEqual(len(r.lines(r"postilion/smtp\[\d+\]: \w+: to=<x@relayed\.test>, .*status=deferred")), 1)
        # All four wait in deferred/ (the log line comes just before the move).
        def queues():
            out = r.inst.ctl("queue", "-j", check=True).stdout
            return [json.loads(l)["queue_name"] for l in out.splitlines() if l.strip()]
        harness.wait_for(lambda: queues() == ["deferred"] * 4, 20, "four deferred messages")


if __name__ == "__main__":
    unittest.main()
