#!/usr/bin/env python3
# tests/test_ctl_queue.py - `postilionctl queue` on a real instance: mail to a next hop
# that refuses connections stays deferred; the listing (mailq format and JSON lines)
# shows it with its reason; show, hold, release, requeue and delete act on it by id,
# address or ALL. `postilionctl user hash` makes hashes crypt(3) verifies.
import crypt
import json
import os
import smtplib
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402

ROOT = os.getuid() == 0


class CtlQueueTest(harness.InstanceTestCase):

    def deferred_instance(self):
        for d in ("master", "smtpd", "qmgr", "smtp", "resolver"):
            harness.require_daemon(self, d)
        inst = self.make_instance(ports=("smtp",))
        inst.init(*(["--user", "postilion"] if ROOT else []))
        with open(inst.main_conf(), "a") as f:
            # Port 1 on loopback refuses every connection: the mail is deferred.
            f.write("transport_maps = inline:{nowhere.test=smtp:[127.0.0.1]:1}\n")
            f.write("relay_domains = nowhere.test\nmynetworks = 127.0.0.0/8\n")
            f.write("minimal_backoff_time = 1h\nmaximal_backoff_time = 2h\nqueue_run_delay = 1h\n")
        inst.start()
        inst.wait_ready()
        return inst

    def send(self, inst, sender, rcpt):
        with smtplib.SMTP(inst.addr, inst.ports["smtp"], timeout=30) as s:
            s.sendmail(sender, [rcpt], "Subject: queued\r\n\r\nbody\r\n")

    def listing(self, inst):
        r = inst.ctl("queue", "-j", check=True)
        return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]

    def wait_deferred(self, inst, n):
        harness.wait_for(lambda: len([e for e in self.listing(inst) if e["queue_name"] == "deferred"]) == n,
                         30, "%d deferred messages" % n)

    def test_listing_and_controls(self):
        inst = self.deferred_instance()
        self.send(inst, "alice@example.test", "bob@nowhere.test")
        self.send(inst, "carol@example.test", "dave@nowhere.test")
        self.wait_deferred(inst, 2)
        entries = self.listing(inst)
        by_sender = {e["sender"]: e for e in entries}
        self.assertEqual(set(by_sender), {"alice@example.test", "carol@example.test"})
        alice = by_sender["alice@example.test"]
        self.assertEqual(alice["recipients"][0]["address"], "bob@nowhere.test")
        self.assertTrue(alice["recipients"][0]["delay_reason"], alice)
        # mailq format: the id, the sender, the reason in parentheses, the total line.
        text = inst.ctl("queue", check=True).stdout
        self.assertIn(alice["queue_id"], text)
        self.assertIn("alice@example.test", text)
        self.assertIn("Requests", text.splitlines()[-1] + text)
        # show: the envelope and the content.
        shown = inst.ctl("queue", "show", alice["queue_id"], check=True).stdout
        self.assertIn("sender: <alice@example.test>", shown)
        self.assertIn("Subject: queued", shown)
        self.assertEqual(inst.ctl("queue", "show", "NOSUCHID").returncode != 0, True)
        # hold by address, then release by id.
        r = inst.ctl("queue", "hold", "alice@example.test", check=True)
        self.assertIn(alice["queue_id"], r.stdout)
        held = {e["queue_id"]: e["queue_name"] for e in self.listing(inst)}
        self.assertEqual(held[alice["queue_id"]], "hold")
        self.assertEqual(held[by_sender["carol@example.test"]["queue_id"]], "deferred")
        inst.ctl("queue", "release", alice["queue_id"], check=True)
        self.assertNotEqual({e["queue_id"]: e["queue_name"] for e in self.listing(inst)}[alice["queue_id"]], "hold")
        # requeue: tried again at once, and deferred again by the refusing next hop.
        inst.ctl("queue", "requeue", "ALL", check=True)
        self.wait_deferred(inst, 2)
        # delete ALL empties the queue.
        r = inst.ctl("queue", "delete", "ALL", check=True)
        self.assertEqual(len([l for l in r.stdout.splitlines() if l.endswith(": delete")]), 2)
        self.assertEqual(self.listing(inst), [])
        self.assertIn("Mail queue is empty", inst.ctl("queue", check=True).stdout)
        # Bad usage is an error, not a silent success.
        self.assertNotEqual(inst.ctl("queue", "frobnicate").returncode, 0)

    def test_user_hash(self):
        harness.require_daemon(self, "master")
        ctl = harness.sbin("postilionctl")
        for method, prefix in (([], "$y$"), (["sha512"], "$6$")):
            r = subprocess.run([ctl, "user", "hash"] + method, input="s3cret\n", text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            h = r.stdout.strip()
            self.assertTrue(h.startswith(prefix), h)
            self.assertEqual(crypt.crypt("s3cret", h), h)
            self.assertNotEqual(crypt.crypt("wrong", h), h)
        r = subprocess.run([ctl, "user", "hash"], input="\n", text=True, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=30)
        self.assertNotEqual(r.returncode, 0)


if __name__ == "__main__":
    unittest.main()
