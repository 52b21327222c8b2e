#!/usr/bin/env python3
# tests/test_content_filter.py - an after-queue content filter (content_filter, as in
# Postfix's FILTER_README) in a whole instance under master(8): smtpd records the filter
# in the queue file, qmgr sends every recipient to it with the smtp client
# ([host]:port, no MX lookup), the filter - a small SMTP proxy in this file that adds
# a header - re-injects into a second smtpd listener run with -o content_filter= and
# -o receive_override_options=..., and that copy goes on to its destination (an SMTP
# sink as relayhost). Checked: one pass through the filter and one delivery with the
# filter's header; with the filter down the mail waits in the queue and arrives once
# after postilionctl queue flush; sendmail mail is filtered too; nothing loops.
import os
import re
import smtplib
import socketserver
import subprocess
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from dns import smtp_sink  # noqa: E402

FILTER_HEADER = "X-Content-Filter: scanned by test proxy"


class FilterProxy:
    """An after-queue filter: takes mail over SMTP, adds FILTER_HEADER and re-injects it
    with smtplib into reinject (host, port) before answering the end of DATA, so that
    the queue it came from keeps the message until the re-injection is durable (a
    failed re-injection answers 451). Threads; stopped by stop() (listener closed)."""

    def __init__(self, addr, port, reinject):
        self.addr, self.port, self.reinject = addr, port, reinject
        self.received = []  # (sender, rcpts) of each message taken
        self.lock = threading.Lock()
        self.server = None

    def start(self):
        proxy = self

        class Handler(socketserver.StreamRequestHandler):
            timeout = 30

            def reply(self, line):
                self.wfile.write((line + "\r\n").encode())
                self.wfile.flush()

            def handle(self):
                self.reply("220 filter.test ESMTP test proxy")
                sender, rcpts = None, []
                for _ in range(1000):  # bounded: commands per connection
                    raw = self.rfile.readline(4096)
                    if not raw:
                        return
                    line = raw.decode(errors="replace").rstrip("\r\n")
                    verb = line[:4].upper()
                    if verb in ("EHLO", "HELO"):
                        self.reply("250-filter.test\r\n250 8BITMIME" if verb == "EHLO" else "250 filter.test")
                    elif verb == "MAIL":
                        sender, rcpts = re.search(r"<([^>]*)>", line).group(1), []
                        self.reply("250 2.1.0 Ok")
                    elif verb == "RCPT":
                        rcpts.append(re.search(r"<([^>]*)>", line).group(1))
                        self.reply("250 2.1.5 Ok")
                    elif verb == "DATA":
                        self.reply("354 End data with <CR><LF>.<CR><LF>")
                        lines = []
                        for _ in range(100000):
                            l = self.rfile.readline(65536)
                            if not l or l == b".\r\n":
                                break
                            lines.append(l[1:] if l.startswith(b"..") else l)
                        data = FILTER_HEADER.encode() + b"\r\n" + b"".join(lines)
                        try:
                            with smtplib.SMTP(proxy.reinject[0], proxy.reinject[1], timeout=30) as s:
                                s.sendmail(sender, rcpts, data)
                        except (OSError, smtplib.SMTPException) as e:
                            self.reply("451 4.3.0 re-injection failed: %s" % str(e).replace("\n", " ")[:200])
                            continue
                        with proxy.lock:
                            proxy.received.append((sender, list(rcpts)))
                        self.reply("250 2.0.0 Ok: filtered")
                    elif verb == "RSET":
                        sender, rcpts = None, []
                        self.reply("250 2.0.0 Ok")
                    elif verb == "NOOP":
                        self.reply("250 2.0.0 Ok")
                    elif verb == "QUIT":
                        self.reply("221 2.0.0 Bye")
                        return
                    else:
                        self.reply("502 5.5.2 Error: command not recognized")

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

        self.server = Server((self.addr, self.port), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def count(self):
        with self.lock:
            return len(self.received)


class ContentFilterTest(harness.InstanceTestCase):

    def setUp(self):
        super().setUp()
        for d in ("master", "smtpd", "qmgr", "smtp", "resolver"):
            harness.require_daemon(self, d)
        self.sink = smtp_sink.Sink(harness.address(), harness.port()).start()
        self.addCleanup(self.sink.stop)
        self.inst = self.make_instance(ports=("smtp",))
        self.inst.init(*(["--user", "postilion"] if os.geteuid() == 0 else []))
        self.filter_addr, self.filter_port = harness.address(), harness.port()
        self.reinject_port = harness.port()
        # FILTER_README's re-injection listener: no filter again, no milters, no
        # content checks, no unknown-recipient checks (done before the filter).
        with open(self.inst.master_conf(), "a") as f:
            f.write("%s:%d inet n - n - - smtpd -o content_filter= "
                    "-o receive_override_options=no_unknown_recipient_checks,no_header_body_checks,"
                    "no_milters,no_address_mappings -o mynetworks=127.0.0.0/8\n"
                    % (self.inst.addr, self.reinject_port))
        conf = {"mynetworks": "127.0.0.0/8", "minimal_backoff_time": "300s", "maximal_backoff_time": "600s",
                "queue_run_delay": "300s", "smtp_connect_timeout": "3s",
                "relayhost": "[%s]:%d" % (self.sink.address, self.sink.port),
                "content_filter": "smtp:[%s]:%d" % (self.filter_addr, self.filter_port),
                # A header check the re-injection listener must not apply again.
                "header_checks": "regexp:" + self.header_checks()}
        with open(self.inst.main_conf(), "a") as f:
            for k, v in conf.items():
                f.write("%s = %s\n" % (k, v))
        self.proxy = FilterProxy(self.filter_addr, self.filter_port, (self.inst.addr, self.reinject_port))
        self.addCleanup(self.proxy.stop)

    def header_checks(self):
        path = os.path.join(self.inst.config_dir, "header_checks")
        with open(path, "w") as f:
            f.write("/^X-Content-Filter:/ REJECT filtered mail seen again by the first smtpd\n")
        return path

    def start(self):
        self.inst.start()
        self.inst.wait_ready()
        harness.wait_listening(self.inst.addr, self.reinject_port, timeout=20, what="re-injection listener")

    def send(self, subject, rcpts=("someone@elsewhere.test",)):
        with smtplib.SMTP(self.inst.addr, self.inst.ports["smtp"], timeout=30) as s:
            s.sendmail("alice@example.test", list(rcpts),
                       "From: alice@example.test\r\nSubject: %s\r\n\r\nbody of %s\r\n" % (subject, subject))

    def delivered(self, subject):
        return [m for m in self.sink.messages if ("Subject: %s\r\n" % subject).encode() in m["data"]]

    def lines(self, pattern):
        return [l for l in self.inst.log_text().splitlines() if re.search(pattern, l)]

    def filter_relay(self):
        return r"relay=%s\[%s\]:%d" % (re.escape(self.filter_addr), re.escape(self.filter_addr), self.filter_port)

    def wait_queue_empty(self):
        harness.wait_for(lambda: harness.queue_empty(self.inst.spool), 20, "an empty queue")

    def test_mail_passes_the_filter_once(self):
        self.proxy.start()
        self.start()
        self.send("through the filter", rcpts=("someone@elsewhere.test", "other@elsewhere.test"))
        harness.wait_for(lambda: self.delivered("through the filter"), 30, "the filtered delivery")
        self.wait_queue_empty()
        got = self.delivered("through the filter")
        self.assertEqual(len(got), 1, got)
        self.assertEqual(sorted(got[0]["rcpts"]), ["other@elsewhere.test", "someone@elsewhere.test"])
        self.assertIn(FILTER_HEADER.encode() + b"\r\n", got[0]["data"])
        # Through the filter exactly once: the re-injected copy went to its destination,
        # not back into the filter; the first smtpd's Received: line and the second's.
        self.assertEqual(self.proxy.received,
                         [("alice@example.test", ["someone@elsewhere.test", "other@elsewhere.test"])])
        self.assertEqual(got[0]["data"].count(b"\r\nReceived: ") + got[0]["data"].startswith(b"Received: "), 2)
        # Postfix's delivery line for the hand-off to the filter, then the final one.
        to_filter = self.lines(r"postilion/smtp\[\d+\]: \w+: to=<someone@elsewhere\.test>, %s, .*status=sent \(250 2\.0\.0 Ok: filtered\)"
                               % self.filter_relay())
        self.assertEqual(len(to_filter), 1, to_filter)
        to_sink = self.lines(r"to=<someone@elsewhere\.test>, relay=%s\[%s\]:%d, .*status=sent"
                             % (re.escape(self.sink.address), re.escape(self.sink.address), self.sink.port))
        self.assertEqual(len(to_sink), 1, to_sink)

    def test_filter_down_mail_waits_then_flush(self):
        self.start()  # the filter is not running
        self.send("while the filter is down")
        harness.wait_for(lambda: self.lines(r"to=<someone@elsewhere\.test>, .*status=deferred"), 30, "the deferral")
        deferred = self.lines(r"to=<someone@elsewhere\.test>, .*status=deferred")
        self.assertRegex(deferred[0], r"%s, .*dsn=4\.4\.1, status=deferred \(connect to .*Connection refused\)"
                         % self.filter_relay())
        self.assertEqual(self.sink.messages, [])
        self.assertFalse(harness.queue_empty(self.inst.spool))
        # A second message meanwhile waits as well (the filter's destination is dead).
        self.send("second while down")
        harness.wait_for(lambda: len(self.lines(r"status=deferred")) >= 2, 30, "the second deferral")
        self.assertEqual(self.sink.messages, [])
        self.proxy.start()
        r = self.inst.ctl("queue", "flush")
        self.assertEqual(r.returncode, 0, r.stderr)
        harness.wait_for(lambda: self.delivered("while the filter is down") and self.delivered("second while down"),
                         30, "both deliveries after the flush")
        self.wait_queue_empty()
        for subject in ("while the filter is down", "second while down"):
            got = self.delivered(subject)
            self.assertEqual(len(got), 1, got)
            self.assertIn(FILTER_HEADER.encode(), got[0]["data"])
        self.assertEqual(self.proxy.count(), 2)

    def test_sendmail_mail_passes_the_filter(self):
        self.proxy.start()
        self.start()
        r = subprocess.run([harness.sbin("sendmail"), "-C", self.inst.config_dir, "-f", "alice@example.test",
                            "someone@elsewhere.test"],
                           input="Subject: from sendmail\n\nlocal submission\n", stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        harness.wait_for(lambda: self.delivered("from sendmail"), 30, "the filtered sendmail delivery")
        self.wait_queue_empty()
        got = self.delivered("from sendmail")
        self.assertEqual(len(got), 1, got)
        self.assertIn(FILTER_HEADER.encode(), got[0]["data"])
        self.assertEqual(self.proxy.received, [("alice@example.test", ["someone@elsewhere.test"])])
        self.assertTrue(self.lines(r"postilion/pickup\[\d+\]: \w+: uid=\d+ from=<alice@example\.test>"))

    def test_reinjection_listener_does_not_filter(self):
        # Mail given straight to the re-injection listener is not sent to the filter
        # (content_filter= there), and its header is not checked again.
        self.proxy.start()
        self.start()
        with smtplib.SMTP(self.inst.addr, self.reinject_port, timeout=30) as s:
            s.sendmail("alice@example.test", ["someone@elsewhere.test"],
                       FILTER_HEADER + "\r\nSubject: reinjected\r\n\r\nbody\r\n")
        harness.wait_for(lambda: self.delivered("reinjected"), 30, "the direct delivery")
        self.wait_queue_empty()
        self.assertEqual(self.proxy.count(), 0)
        # The main listener's header_checks still refuse that header from a client.
        with smtplib.SMTP(self.inst.addr, self.inst.ports["smtp"], timeout=30) as s:
            with self.assertRaises(smtplib.SMTPDataError) as e:
                s.sendmail("alice@example.test", ["someone@elsewhere.test"],
                           FILTER_HEADER + "\r\nSubject: not again\r\n\r\nbody\r\n")
            self.assertEqual(e.exception.smtp_code, 550)


if __name__ == "__main__":
    harness.main()
