# tests/test_smtpd_milter.py - smtpd(8) with mail filters (smtpd_milters) it did not
# write: a python3-milter (pymilter, over Sendmail's libmilter) filter that rejects with
# its own reply, tempfails, discards, edits headers, replaces the body, changes the sender
# and recipients, quarantines, dies or hangs mid-message; a raw filter that sends garbage;
# smtpd_milter_maps choosing the filters per client address (none, another, a bad value);
# and rspamd in milter mode (its proxy worker). Each failure costs only its transaction,
# as milter_default_action says; edits are checked in the queue file smtpd commits.
# smtpd runs standalone (test_smtpd.Smtpd), the filters on loopback.
import json
import os
import shutil
import signal
import smtplib
import socket
import struct
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from test_smtpd import Smtpd  # noqa: E402

SYSTEM_PYTHON = "/usr/bin/python3"  # python3-milter is a Debian package of the system python
FILTER = os.path.join(HERE, "milter", "pymilter_filter.py")


def have_system_module(name):
    return os.access(SYSTEM_PYTHON, os.X_OK) and subprocess.run(
        [SYSTEM_PYTHON, "-c", "import " + name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


def have_pymilter():
    return have_system_module("Milter")


def parse_queue_file(data):
    """(sender, [recipients], content) of a queue file (lib/queue/queue_file.h)."""
    assert data[:4] == b"PSTQ", data[:8]
    pos, sender, rcpts, content = 6, None, [], None
    while pos < len(data):
        t, n = data[pos:pos + 1], struct.unpack(">I", data[pos + 1:pos + 5])[0]
        p = data[pos + 5:pos + 5 + n]
        pos += 5 + n
        if t == b"S":
            sender = p.decode()
        elif t == b"P":
            alen = struct.unpack(">H", p[3:5])[0]
            rcpts.append(p[5:5 + alen].decode())
        elif t == b"M":
            content = p
        elif t == b"E":
            break
    return sender, rcpts, content


class PyFilter:
    """pymilter_filter.py on a loopback port: started, killed and restarted by PID."""

    def __init__(self, base, stamp=()):
        self.addr, self.port = harness.address(), harness.port()
        self.stamp = list(stamp)  # (name, value): a header field added to every message
        self.log = os.path.join(base, "filter-%d.jsonl" % self.port)
        self.proc = None
        self.procs = []  # every process started, so that stop() leaves none behind
        self.start()

    @property
    def spec(self):
        return "inet:%s:%d" % (self.addr, self.port)

    def start(self):
        self.stderr = open(self.log + ".err", "a")
        self.proc = subprocess.Popen([SYSTEM_PYTHON, FILTER, "inet:%d@%s" % (self.port, self.addr), self.log] + self.stamp,
                                     stdout=subprocess.DEVNULL, stderr=self.stderr)
        self.procs.append(self.proc)
        harness.wait_listening(self.addr, self.port, self.proc, 20, "pymilter filter")

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
        self.stderr.close()

    def events(self, kind=None):
        try:
            with open(self.log) as f:
                ev = [json.loads(line) for line in f if line.strip()]
        except OSError:
            return []
        return [e for e in ev if kind is None or e["event"] == kind]


class GarbageFilter(threading.Thread):
    """A raw "filter": answers the negotiation properly, then sends garbage (a packet
    with a length of 2 GiB) in reply to the first command after it."""

    def __init__(self):
        super().__init__(daemon=True)
        self.addr, self.port = harness.address(), harness.port()
        self.sock = socket.socket()
        self.sock.bind((self.addr, self.port))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.stopping = False
        self.connections = 0

    @property
    def spec(self):
        return "inet:%s:%d" % (self.addr, self.port)

    def run(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        try:
            c.settimeout(10)
            buf = b""
            answered = 0
            while True:
                chunk = c.recv(65536)
                if not chunk:
                    return
                buf += chunk
                while len(buf) >= 5:
                    n = struct.unpack(">I", buf[:4])[0]
                    if len(buf) < 4 + n:
                        break
                    cmd, buf = buf[4:5], buf[4 + n:]
                    if cmd == b"O":
                        # version 6, no actions, no protocol steps left out
                        c.sendall(struct.pack(">IcIII", 13, b"O", 6, 0, 0))
                    elif cmd == b"D":
                        continue  # macros: no reply
                    elif cmd in (b"C", b"H") and answered < 2:
                        answered += 1
                        c.sendall(struct.pack(">Ic", 1, b"c"))  # connect, HELO: continue
                    else:
                        c.sendall(b"\x7f\xff\xff\xffgarbage follows \x00\x01\x02")
        except OSError:
            pass
        finally:
            c.close()

    def stop(self):
        self.stopping = True
        self.sock.close()


def data(s, msg):
    """DATA through smtplib: (code, text) whatever the code."""
    try:
        return s.data(msg)
    except smtplib.SMTPDataError as e:
        return e.smtp_code, e.smtp_error


MSG = ("From: sender@client.test\r\nTo: root@ours.test\r\nSubject: %s\r\n"
       "X-Remove-Me: please\r\nMessage-ID: <m1@client.test>\r\n\r\nHello from the test.\r\nLine two.\r\n")


@unittest.skipUnless(have_pymilter(), "python3-milter (system python3) not installed")
class PymilterTest(unittest.TestCase):
    default_action = "tempfail"

    @classmethod
    def setUpClass(cls):
        cls.base_dir = os.path.join(harness.tmp_root(), "milter-%d" % os.getpid())
        os.makedirs(cls.base_dir, exist_ok=True)
        cls.filter = PyFilter(cls.base_dir)
        cls.srv = Smtpd({"smtpd_milters": cls.filter.spec, "milter_default_action": cls.default_action,
                         "milter_content_timeout": "3s", "milter_command_timeout": "3s",
                         "milter_connect_timeout": "3s"}, tls=False)
        os.makedirs(os.path.join(cls.srv.spool, "hold"), exist_ok=True)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.filter.stop()

    def run(self, result=None):
        before = (len(result.failures) + len(result.errors)) if result else 0
        r = super().run(result)
        res = result or r
        if res is not None and len(res.failures) + len(res.errors) > before:
            sys.stderr.write("---- smtpd log ----\n" + self.srv.log()[-8000:] + "\n")
        return r

    def send(self, subject, rcpts=("root@ours.test",), sender="sender@client.test"):
        """Sends one message; returns (code, text) of the DATA reply and the queue id."""
        before = set(self.srv.queue_ids())
        with smtplib.SMTP(self.srv.addr, self.srv.port, timeout=20) as s:
            s.ehlo("client.test")
            self.assertEqual(250, s.mail(sender)[0])
            for r in rcpts:
                self.assertEqual(250, s.rcpt(r)[0])
            code, text = data(s, (MSG % subject).encode())
            new = sorted(set(self.srv.queue_ids()) - before)
            return code, text.decode(), new

    def queued(self, qid, folder="incoming"):
        with open(os.path.join(self.srv.spool, folder, qid), "rb") as f:
            return parse_queue_file(f.read())

    def test_clean_message_passes_with_macros(self):
        code, text, new = self.send("clean")
        self.assertEqual(250, code, text)
        self.assertEqual(1, len(new))
        sender, rcpts, content = self.queued(new[0])
        self.assertEqual("sender@client.test", sender)
        self.assertEqual(["root@ours.test"], rcpts)
        self.assertIn(b"Subject: clean\r\n", content)
        eom = self.filter.events("eom")[-1]
        # The filter saw the queue id the message got, its headers and its body.
        self.assertEqual(new[0], eom["i"])
        self.assertIn(["Subject", "clean"], eom["headers"])
        self.assertEqual(len(b"Hello from the test.\r\nLine two.\r\n"), eom["body_len"])
        conn = self.filter.events("connect")[-1]
        self.assertEqual("mail.ours.test", conn["j"])
        self.assertEqual("127.0.0.1", conn["addr"])
        self.assertEqual("unknown [127.0.0.1]", conn["underscore"])
        self.assertEqual("mail.ours.test", conn["daemon_name"])
        self.assertEqual("<sender@client.test>", self.filter.events("mail")[-1]["sender"])
        self.assertEqual("sender@client.test", self.filter.events("mail")[-1]["mail_addr"])
        rcpt = self.filter.events("rcpt")[-1]
        self.assertEqual("root@ours.test", rcpt["rcpt_addr"])
        self.assertEqual("local", rcpt["rcpt_mailer"])
        self.assertIsNone(rcpt["rcpt_host"])

    def test_reject_with_the_filters_own_reply(self):
        code, text, new = self.send("please reject")
        self.assertEqual(554, code)
        self.assertIn("5.7.1 Rejected by the pymilter test filter", text)
        self.assertEqual([], new)
        self.assertEqual([], self.srv.temp_files())
        self.assertIn("milter-reject: END-OF-MESSAGE", self.srv.log())

    def test_tempfail_with_the_filters_own_reply(self):
        code, text, new = self.send("tempfail")
        self.assertEqual(451, code)
        self.assertIn("4.7.1 Try again, says the pymilter test filter", text)
        self.assertEqual([], new)

    def test_421_from_the_filter_ends_the_session(self):
        from test_smtpd import Client
        c = Client(self.srv, timeout=20)
        self.addCleanup(c.close)
        self.assertEqual(220, c.reply()[0])
        self.assertEqual(250, c.cmd("EHLO client.test")[0])
        self.assertEqual(250, c.cmd("MAIL FROM:<sender@client.test>")[0])
        self.assertEqual(250, c.cmd("RCPT TO:<root@ours.test>")[0])
        self.assertEqual(354, c.cmd("DATA")[0])
        c.send((MSG % "goodbye").replace("\r\n.", "\r\n..") + ".\r\n")
        self.assertEqual((421, ["421 4.7.0 Closing, says the pymilter test filter"]), c.reply())
        self.assertTrue(c.closed())

    def test_recipient_refused_by_the_filter(self):
        with smtplib.SMTP(self.srv.addr, self.srv.port, timeout=20) as s:
            s.ehlo("client.test")
            s.mail("sender@client.test")
            code, text = s.rcpt("refuse-me@relayed.test")
            rcpt = self.filter.events("rcpt")[-1]
            self.assertEqual(("smtp", "relayed.test"), (rcpt["rcpt_mailer"], rcpt["rcpt_host"]))
            self.assertEqual(550, code)
            self.assertIn(b"5.1.1 recipient refused by the filter", text)
            self.assertEqual(250, s.rcpt("root@ours.test")[0])
            code, _ = data(s, (MSG % "clean").encode())
            self.assertEqual(250, code)

    def test_discard(self):
        code, text, new = self.send("discard")
        self.assertEqual(250, code)
        self.assertEqual([], new)  # told 250, not kept
        self.assertIn("milter-discard: END-OF-MESSAGE", self.srv.log())

    def test_add_change_delete_headers(self):
        code, text, new = self.send("headers")
        self.assertEqual(250, code, text)
        _, _, content = self.queued(new[0])
        head, body = content.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        self.assertEqual(b"X-Top: first", lines[0])  # inserted at index 0
        self.assertIn(b"X-Filtered: yes", lines)
        self.assertIn(b"Subject: changed headers", lines)
        self.assertNotIn(b"Subject: headers", lines)
        self.assertFalse(any(l.startswith(b"X-Remove-Me") for l in lines))
        self.assertTrue(any(l.startswith(b"Received: ") for l in lines))
        self.assertEqual(b"Hello from the test.\r\nLine two.\r\n", body)

    def test_replace_body(self):
        code, text, new = self.send("body")
        self.assertEqual(250, code, text)
        _, _, content = self.queued(new[0])
        head, body = content.split(b"\r\n\r\n", 1)
        self.assertEqual(b"The body was replaced.\r\nSecond line.\r\n", body)
        self.assertIn(b"Subject: body", head)

    def test_change_sender_and_recipients(self):
        code, text, new = self.send("sender rcpts", rcpts=("root@ours.test", "postmaster@ours.test"))
        self.assertEqual(250, code, text)
        sender, rcpts, _ = self.queued(new[0])
        self.assertEqual("changed@sender.test", sender)
        self.assertEqual(["postmaster@ours.test", "added@relayed.test"], rcpts)

    def test_quarantine_goes_to_hold(self):
        before = set(os.listdir(os.path.join(self.srv.spool, "hold")))
        code, text, new = self.send("quarantine")
        self.assertEqual(250, code, text)
        self.assertEqual([], new)
        held = sorted(set(os.listdir(os.path.join(self.srv.spool, "hold"))) - before)
        self.assertEqual(1, len(held))
        self.assertIn(held[0], text)
        sender, rcpts, content = self.queued(held[0], "hold")
        self.assertEqual(["root@ours.test"], rcpts)
        self.assertIn(b"Subject: quarantine", content)
        self.assertIn("milter-hold: END-OF-MESSAGE", self.srv.log())

    def test_bdat_and_a_large_message(self):
        # BDAT: the DATA stage comes at the end of the last chunk; 300 KB of body go to
        # the filter in chunks and the header edits land in the queue file.
        from test_smtpd import Client
        body = ("x" * 998 + "\r\n") * 300
        msg = (MSG % "headers").replace("Hello from the test.\r\nLine two.\r\n", body).encode()
        c = Client(self.srv, timeout=20)
        self.addCleanup(c.close)
        self.assertEqual(220, c.reply()[0])
        self.assertEqual(250, c.cmd("EHLO client.test")[0])
        self.assertEqual(250, c.cmd("MAIL FROM:<sender@client.test>")[0])
        self.assertEqual(250, c.cmd("RCPT TO:<root@ours.test>")[0])
        half = len(msg) // 2
        c.send(b"BDAT %d\r\n" % half + msg[:half])
        self.assertEqual(250, c.reply()[0])
        c.send(b"BDAT %d LAST\r\n" % (len(msg) - half) + msg[half:])
        code, lines = c.reply()
        self.assertEqual(250, code, lines)
        qid = lines[-1].rsplit(" ", 1)[1]
        _, _, content = self.queued(qid)
        head, got_body = content.split(b"\r\n\r\n", 1)
        self.assertIn(b"X-Filtered: yes", head.split(b"\r\n"))
        self.assertEqual(body.encode(), got_body)
        self.assertEqual(len(body), self.filter.events("eom")[-1]["body_len"])

    def test_filter_that_hangs_costs_one_message(self):
        t0 = time.time()
        code, text, new = self.send("hang")
        self.assertEqual(451, code, text)  # milter_default_action = tempfail
        self.assertIn("4.7.1", text)
        self.assertLess(time.time() - t0, 15)
        self.assertEqual([], new)
        self.assertIsNone(self.srv.proc.poll())
        self.assertIn("timeout waiting for a reply", self.srv.log())
        # A new session gets a new connection to the filter, which works.
        code, text, new = self.send("clean")
        self.assertEqual(250, code, text)

    def test_filter_killed_mid_transaction(self):
        # Between RCPT and DATA the filter process is killed: the message gets the
        # default action (451), smtpd goes on, and once the filter is back all is well.
        with smtplib.SMTP(self.srv.addr, self.srv.port, timeout=20) as s:
            s.ehlo("client.test")
            s.mail("sender@client.test")
            s.rcpt("root@ours.test")
            self.filter.proc.kill()
            self.filter.proc.wait(10)
            code, text = data(s, (MSG % "clean").encode())
            self.assertEqual(451, code, text)
            self.assertEqual(b"4.7.1 Service unavailable - try again later", text)
            self.assertEqual(250, s.noop()[0])
        self.assertIsNone(self.srv.proc.poll())
        self.filter.stderr.close()
        self.filter.start()
        code, text, new = self.send("clean")
        self.assertEqual(250, code, text)
        self.assertEqual(1, len(new))

    def test_filter_dies_at_end_of_message(self):
        code, text, new = self.send("die")
        self.assertEqual(451, code, text)
        self.assertEqual([], new)
        self.assertIsNone(self.srv.proc.poll())
        self.filter.stderr.close()
        self.filter.start()
        code, text, new = self.send("clean")
        self.assertEqual(250, code, text)


@unittest.skipUnless(have_pymilter(), "python3-milter (system python3) not installed")
@unittest.skipUnless(have_pymilter(), "python3-milter (system python3) not installed")
class MilterMapsTest(unittest.TestCase):
    """smtpd_milter_maps: an inline table and a cidr table keyed by the client address
    choose the filters of each session instead of smtpd_milters (filter A): none
    (DISABLE), filter B, or A for a client in neither table; a value that names no
    filter tempfails the session's mail."""

    @classmethod
    def setUpClass(cls):
        cls.base_dir = os.path.join(harness.tmp_root(), "milter-maps-%d" % os.getpid())
        os.makedirs(cls.base_dir, exist_ok=True)
        cls.a = PyFilter(cls.base_dir, ("X-Filter-A", "yes"))
        cls.b = PyFilter(cls.base_dir, ("X-Filter-B", "yes"))
        cls.disabled, cls.to_b, cls.cidr_b, cls.other, cls.bad = [harness.address() for _ in range(5)]
        cidr = os.path.join(cls.base_dir, "smtpd_milter_map")
        with open(cidr, "w") as f:
            f.write("# trusted relay, and a client that gets filter B\n%s/32 DISABLE\n%s/32 %s\n"
                    % (cls.disabled, cls.cidr_b, cls.b.spec))
        table = "inline:{%s=%s, %s=inet:mail.example:25}, cidr:%s" % (cls.to_b, cls.b.spec, cls.bad, cidr)
        cls.srv = Smtpd({"smtpd_milters": cls.a.spec, "smtpd_milter_maps": table,
                         "milter_command_timeout": "5s", "milter_content_timeout": "5s"}, tls=False)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.a.stop()
        cls.b.stop()

    def send(self, client, subject):
        """One message from the address client; (code, text, queued content or None)."""
        before = set(self.srv.queue_ids())
        with smtplib.SMTP(self.srv.addr, self.srv.port, timeout=20, source_address=(client, 0)) as s:
            s.ehlo("client.test")
            code, text = s.mail("sender@client.test")
            if code != 250:
                return code, text.decode(), None
            self.assertEqual(250, s.rcpt("root@ours.test")[0])
            code, text = data(s, (MSG % subject).encode())
        new = sorted(set(self.srv.queue_ids()) - before)
        if code != 250:
            return code, text.decode(), None
        self.assertEqual(1, len(new))
        with open(os.path.join(self.srv.spool, "incoming", new[0]), "rb") as f:
            return code, text.decode(), parse_queue_file(f.read())[2]

    def filters_saw(self, subject):
        return [f for f in (self.a, self.b) if any(e["subject"] == subject for e in f.events("eom"))]

    def test_disable_skips_the_filters(self):
        code, text, content = self.send(self.disabled, "trusted relay")
        self.assertEqual(250, code, text)
        self.assertIn(b"Subject: trusted relay\r\n", content)
        self.assertNotIn(b"X-Filter-A", content)
        self.assertNotIn(b"X-Filter-B", content)
        self.assertEqual([], self.filters_saw("trusted relay"))

    def test_inline_entry_chooses_the_other_filter(self):
        code, text, content = self.send(self.to_b, "inline to b")
        self.assertEqual(250, code, text)
        self.assertIn(b"X-Filter-B: yes\r\n", content)
        self.assertNotIn(b"X-Filter-A", content)
        self.assertEqual([self.b], self.filters_saw("inline to b"))
        self.assertEqual(self.to_b, self.b.events("connect")[-1]["addr"])

    def test_cidr_entry_chooses_the_other_filter(self):
        code, text, content = self.send(self.cidr_b, "cidr to b")
        self.assertEqual(250, code, text)
        self.assertIn(b"X-Filter-B: yes\r\n", content)
        self.assertNotIn(b"X-Filter-A", content)
        self.assertEqual([self.b], self.filters_saw("cidr to b"))

    def test_client_not_in_the_tables_gets_smtpd_milters(self):
        code, text, content = self.send(self.other, "not listed")
        self.assertEqual(250, code, text)
        self.assertIn(b"X-Filter-A: yes\r\n", content)
        self.assertNotIn(b"X-Filter-B", content)
        self.assertEqual([self.a], self.filters_saw("not listed"))

    def test_bad_value_tempfails_the_mail(self):
        code, text, content = self.send(self.bad, "bad value")
        self.assertEqual(451, code)
        self.assertIn("4.7.1 Service unavailable - try again later", text)
        self.assertIsNone(content)
        self.assertEqual([], self.filters_saw("bad value"))
        log = self.srv.log()
        self.assertIn("smtpd_milter_maps: bad value \"inet:mail.example:25\" for %s" % self.bad, log)
        self.assertIn("milter-reject: MAIL from unknown[%s]: 451 4.7.1 Service unavailable" % self.bad, log)


class TlsMacrosTest(unittest.TestCase):
    """After STARTTLS the filter hears EHLO again, with {tls_version} and {cipher}."""

    @classmethod
    def setUpClass(cls):
        cls.base_dir = os.path.join(harness.tmp_root(), "milter-tls-%d" % os.getpid())
        os.makedirs(cls.base_dir, exist_ok=True)
        cls.filter = PyFilter(cls.base_dir)
        cls.srv = Smtpd({"smtpd_milters": cls.filter.spec}, tls=True)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.filter.stop()

    def test_tls_macros_at_helo(self):
        ctx = harness.tls_client_context()
        with smtplib.SMTP(self.srv.addr, self.srv.port, timeout=20) as s:
            s.ehlo("plain.test")
            s.starttls(context=ctx)
            s.ehlo("secure.test")
            self.assertEqual(250, s.mail("sender@client.test")[0])
            self.assertEqual(250, s.rcpt("root@ours.test")[0])
            self.assertEqual(250, data(s, (MSG % "clean").encode())[0])
        helos = {e["name"]: e for e in self.filter.events("helo")}
        self.assertIsNone(helos["plain.test"]["tls_version"])
        self.assertIn(helos["secure.test"]["tls_version"], ("TLSv1.2", "TLSv1.3"))
        self.assertTrue(helos["secure.test"]["cipher"])


@unittest.skipUnless(have_pymilter(), "python3-milter (system python3) not installed")
class DefaultAcceptTest(unittest.TestCase):
    """milter_default_action = accept: a filter that sends garbage, and one that is not
    there at all, are gone around; reject: the transaction is refused."""

    @classmethod
    def setUpClass(cls):
        cls.garbage = GarbageFilter()
        cls.garbage.start()
        cls.nobody = (harness.address(), harness.port())  # nothing listens there
        cls.accept = Smtpd({"smtpd_milters": "%s inet:%s:%d" % (cls.garbage.spec, cls.nobody[0], cls.nobody[1]),
                            "milter_default_action": "accept", "milter_command_timeout": "3s"}, tls=False)
        cls.reject = Smtpd({"smtpd_milters": cls.garbage.spec, "milter_default_action": "reject",
                            "milter_command_timeout": "3s"}, tls=False)
        cls.tempfail = Smtpd({"smtpd_milters": cls.garbage.spec, "milter_command_timeout": "3s"}, tls=False)

    @classmethod
    def tearDownClass(cls):
        for s in (cls.accept, cls.reject, cls.tempfail):
            s.stop()
        cls.garbage.stop()

    def test_garbage_and_unreachable_with_accept(self):
        with smtplib.SMTP(self.accept.addr, self.accept.port, timeout=20) as s:
            s.ehlo("client.test")
            self.assertEqual(250, s.mail("a@client.test")[0])
            self.assertEqual(250, s.rcpt("root@ours.test")[0])
            self.assertEqual(250, s.data((MSG % "x").encode())[0])
        self.assertEqual(1, len(self.accept.queue_ids()))
        log = self.accept.log()
        self.assertIn("malformed packet", log)
        self.assertIn("connect: Connection refused", log)

    def test_garbage_with_reject(self):
        with smtplib.SMTP(self.reject.addr, self.reject.port, timeout=20) as s:
            s.ehlo("client.test")
            code, text = s.mail("a@client.test")
            self.assertEqual(550, code)
            self.assertEqual(b"5.7.1 Command rejected", text)
        self.assertIsNone(self.reject.proc.poll())

    def test_garbage_with_tempfail(self):
        with smtplib.SMTP(self.tempfail.addr, self.tempfail.port, timeout=20) as s:
            code, _ = s.ehlo("client.test")
            self.assertEqual(250, code)
            code, text = s.mail("a@client.test")
            self.assertEqual(451, code)
        # Other sessions are served meanwhile.
        with smtplib.SMTP(self.tempfail.addr, self.tempfail.port, timeout=20) as s:
            self.assertEqual(250, s.noop()[0])
        self.assertIsNone(self.tempfail.proc.poll())


@unittest.skipUnless(have_pymilter(), "python3-milter (system python3) not installed")
class InstanceTest(harness.InstanceTestCase):
    """A whole instance (master, smtpd, qmgr, smtp, resolver) with a pymilter filter: the
    message the next hop gets is the one the filter made, and a quarantined message waits
    in hold/ until `postilionctl queue release`."""

    def setUp(self):
        super().setUp()
        for d in ("master", "smtpd", "qmgr", "smtp", "resolver"):
            harness.require_daemon(self, d)
        from dns import smtp_sink
        self.sink = smtp_sink.Sink(harness.address(), harness.port()).start()
        self.addCleanup(self.sink.stop)
        self.filter = PyFilter(harness.tmp_root())
        self.addCleanup(self.filter.stop)
        self.inst = self.make_instance(ports=("smtp",))
        self.inst.init(*(["--user", "postilion"] if os.geteuid() == 0 else []))
        with open(self.inst.main_conf(), "a") as f:
            f.write("relay_domains = relayed.test\nrelayhost = [%s]:%d\n" % (self.sink.address, self.sink.port))
            f.write("smtpd_milters = %s\nmilter_default_action = tempfail\n" % self.filter.spec)
            f.write("minimal_backoff_time = 1s\nmaximal_backoff_time = 2s\nqueue_run_delay = 1s\n")
        self.inst.start()
        self.inst.wait_ready()

    def send(self, subject, rcpts):
        with smtplib.SMTP(self.inst.addr, self.inst.ports["smtp"], timeout=30) as s:
            s.ehlo("client.test")
            self.assertEqual(250, s.mail("sender@client.test")[0])
            for r in rcpts:
                self.assertEqual(250, s.rcpt(r)[0])
            code, text = data(s, (MSG % subject).encode())
        self.assertEqual(250, code, text)
        return text.decode().rsplit(" ", 1)[1]

    def test_delivered_message_is_the_filtered_one(self):
        self.send("headers body sender rcpts", ["first@relayed.test", "second@relayed.test"])
        harness.wait_for(lambda: len(self.sink.messages) >= 1, 60, "delivery to the next hop")
        harness.wait_for(lambda: sum(len(m["rcpts"]) for m in self.sink.messages) == 2, 30, "both recipients")
        rcpts = sorted(r for m in self.sink.messages for r in m["rcpts"])
        self.assertEqual(["added@relayed.test", "second@relayed.test"], rcpts)
        m = self.sink.messages[0]
        self.assertEqual("changed@sender.test", m["from"])
        data_ = m["data"] if isinstance(m["data"], bytes) else m["data"].encode()
        head, body = data_.split(b"\r\n\r\n", 1)
        self.assertIn(b"X-Filtered: yes", head.split(b"\r\n"))
        self.assertIn(b"Subject: changed headers", head.split(b"\r\n"))
        self.assertTrue(body.startswith(b"The body was replaced.\r\nSecond line.\r\n"), body)

    def test_quarantined_message_waits_in_hold(self):
        qid = self.send("quarantine", ["held@relayed.test"])
        hold = os.path.join(self.inst.spool, "hold", qid)
        harness.wait_for(lambda: os.path.exists(hold), 10, "the message in hold/")
        self.inst.wait_log("%s: milter-hold: END-OF-MESSAGE" % qid)
        # Nothing goes out while it is held...
        self.send("clean", ["other@relayed.test"])
        harness.wait_for(lambda: len(self.sink.messages) == 1, 60, "the clean message delivered")
        self.assertEqual(["other@relayed.test"], self.sink.messages[0]["rcpts"])
        self.assertTrue(os.path.exists(hold))
        # ... until it is released.
        self.inst.ctl("queue", "release", qid, check=True)
        harness.wait_for(lambda: len(self.sink.messages) == 2, 60, "the released message delivered")
        self.assertEqual(["held@relayed.test"], self.sink.messages[1]["rcpts"])


GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

# A private rspamd: only its proxy worker, in milter mode, scanning itself (self_scan:
# no normal worker, no redis); modules left unconfigured stay off, and DNS goes to a
# loopback port where nothing answers, so no lookup leaves the host.
RSPAMD_CONF = """
lua = "$RULESDIR/rspamd.lua"
.include "$CONFDIR/metrics.conf"
.include "$CONFDIR/actions.conf"
.include "$CONFDIR/groups.conf"
modules { path = "${PLUGINSDIR}"; }
milter_headers {
  use = ["x-spamd-result", "x-rspamd-server", "x-rspamd-queue-id", "x-spam-status"];
  skip_local = false;
  skip_authenticated = false;
}
options {
  pidfile = "$RUNDIR/rspamd.pid";
  dns { nameserver = ["127.0.0.1:1"]; timeout = 0.1s; retransmits = 1; }
  local_addrs = [];
  hs_cache_dir = "$DBDIR/";
  cache_file = "$DBDIR/symbols.cache";
  control_socket = "$DBDIR/rspamd.sock mode=0600";
}
logging { type = "file"; filename = "$LOGDIR/rspamd.log"; level = "info"; }
worker "rspamd_proxy" {
  bind_socket = "%(addr)s:%(port)d";
  milter = yes;
  timeout = 60s;
  upstream "local" { default = yes; self_scan = yes; }
  count = 1;
  reject_message = "Spam message rejected";
}
"""


@unittest.skipUnless(shutil.which("rspamd"), "rspamd not installed")
class RspamdTest(unittest.TestCase):
    """rspamd (its proxy worker in milter mode) as smtpd's filter: GTUBE is refused with
    rspamd's own 5xx, a clean message gets rspamd's headers."""

    @classmethod
    def setUpClass(cls):
        cls.dir = os.path.join(harness.tmp_root(), "rspamd-%d" % os.getpid())
        for d in ("db", "local"):
            os.makedirs(os.path.join(cls.dir, d), exist_ok=True)
        cls.addr, cls.port = harness.address(), harness.port()
        conf = os.path.join(cls.dir, "rspamd.conf")
        with open(conf, "w") as f:
            f.write(RSPAMD_CONF % {"addr": cls.addr, "port": cls.port})
        args = ["rspamd", "-f", "-c", conf, "--var=DBDIR=" + os.path.join(cls.dir, "db"), "--var=RUNDIR=" + cls.dir,
                "--var=LOGDIR=" + cls.dir, "--var=LOCAL_CONFDIR=" + os.path.join(cls.dir, "local")]
        if os.geteuid() == 0:
            args.append("--insecure")  # workers as root: a private test instance only
        cls.rspamd = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      start_new_session=True)
        try:
            # Loading the rules and compiling its URL suffix list takes rspamd a while.
            harness.wait_listening(cls.addr, cls.port, cls.rspamd, 120, "rspamd proxy worker",
                                   log=lambda: harness.read_tail(os.path.join(cls.dir, "rspamd.log"), 4000))
        except BaseException:
            cls.stop_rspamd()
            raise
        cls.srv = Smtpd({"smtpd_milters": "inet:%s:%d" % (cls.addr, cls.port),
                         "milter_content_timeout": "60s"}, tls=False)

    @classmethod
    def stop_rspamd(cls):
        if cls.rspamd.poll() is None:
            cls.rspamd.terminate()  # the main process stops its workers
            try:
                cls.rspamd.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(cls.rspamd.pid, signal.SIGKILL)  # its own session: only its workers
                cls.rspamd.wait(10)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.stop_rspamd()

    def run(self, result=None):
        before = (len(result.failures) + len(result.errors)) if result else 0
        r = super().run(result)
        res = result or r
        if res is not None and len(res.failures) + len(res.errors) > before:
            sys.stderr.write("---- smtpd log ----\n" + self.srv.log()[-8000:] + "\n")
            sys.stderr.write("---- rspamd log ----\n" +
                             harness.read_tail(os.path.join(self.dir, "rspamd.log"), 6000) + "\n")
        return r

    def send(self, body):
        before = set(self.srv.queue_ids())
        msg = ("From: sender@client.test\r\nTo: root@ours.test\r\nSubject: rspamd test\r\n"
               "Message-ID: <r%d@client.test>\r\nDate: Mon, 7 Dec 2026 10:00:00 +0000\r\n\r\n%s\r\n" %
               (time.time_ns(), body))
        with smtplib.SMTP(self.srv.addr, self.srv.port, timeout=60) as s:
            s.ehlo("client.test")
            self.assertEqual(250, s.mail("sender@client.test")[0])
            self.assertEqual(250, s.rcpt("root@ours.test")[0])
            code, text = data(s, msg.encode())
        return code, text.decode(), sorted(set(self.srv.queue_ids()) - before)

    def test_gtube_is_rejected_with_rspamds_reply(self):
        code, text, new = self.send("This is spam.\r\n" + GTUBE)
        self.assertEqual(554, code, text)
        self.assertIn("5.7.1", text)
        self.assertIn("Gtube pattern", text)
        self.assertEqual([], new)
        self.assertIn("milter-reject: END-OF-MESSAGE", self.srv.log())

    def test_clean_message_gets_rspamds_headers(self):
        code, text, new = self.send("Just a short note about the meeting tomorrow.")
        self.assertEqual(250, code, text)
        self.assertEqual(1, len(new))
        with open(os.path.join(self.srv.spool, "incoming", new[0]), "rb") as f:
            _, _, content = parse_queue_file(f.read())
        head = content.split(b"\r\n\r\n", 1)[0]
        self.assertIn(b"\r\nX-Spamd-Result: default: False [", head)
        self.assertIn(b"\r\nX-Rspamd-Server: ", head)
        # rspamd was told the queue id the message got ({i}).
        self.assertIn(("X-Rspamd-Queue-Id: " + new[0]).encode(), head)


# Checks a DKIM signature with python3-dkim (the module behind its dkimverify), the
# public key from opendkim-genkey's TXT record file instead of DNS: no lookup leaves
# the host. Prints True or False.
DKIM_VERIFY = r"""
import re, sys, dkim
msg = open(sys.argv[1], "rb").read()
txt = "".join(re.findall(r'"([^"]*)"', open(sys.argv[2]).read())).encode()
print(dkim.verify(msg, dnsfunc=lambda name, timeout=5: txt))
"""


@unittest.skipUnless(shutil.which("opendkim") and shutil.which("opendkim-genkey") and have_system_module("dkim"),
                     "opendkim, opendkim-tools or python3-dkim not installed")
class OpendkimTest(unittest.TestCase):
    """OpenDKIM as a signing filter: the message smtpd keeps carries a signature that
    python3-dkim verifies against the key's published record."""

    @classmethod
    def setUpClass(cls):
        cls.dir = os.path.join(harness.tmp_root(), "opendkim-%d" % os.getpid())
        os.makedirs(cls.dir, exist_ok=True)
        subprocess.run(["opendkim-genkey", "-D", cls.dir, "-d", "client.test", "-s", "pst"], check=True)
        cls.addr, cls.port = harness.address(), harness.port()
        conf = os.path.join(cls.dir, "opendkim.conf")
        with open(conf, "w") as f:
            f.write("Syslog no\nBackground no\nMode s\nDomain client.test\nSelector pst\n"
                    "Socket inet:%d@%s\nKeyFile %s\nInternalHosts 127.0.0.0/8\nPidFile %s\n"
                    "RequireSafeKeys no\n" % (cls.port, cls.addr, os.path.join(cls.dir, "pst.private"),
                                              os.path.join(cls.dir, "opendkim.pid")))
        cls.log = open(os.path.join(cls.dir, "opendkim.log"), "w")
        cls.opendkim = subprocess.Popen(["opendkim", "-f", "-x", conf], stdout=cls.log, stderr=cls.log,
                                        start_new_session=True)
        harness.wait_listening(cls.addr, cls.port, cls.opendkim, 20, "opendkim")
        cls.srv = Smtpd({"smtpd_milters": "inet:%s:%d" % (cls.addr, cls.port)}, tls=False)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        if cls.opendkim.poll() is None:
            cls.opendkim.terminate()
            try:
                cls.opendkim.wait(10)
            except subprocess.TimeoutExpired:
                cls.opendkim.kill()
                cls.opendkim.wait(10)
        cls.log.close()

    def test_message_is_signed(self):
        msg = ("From: sender@client.test\r\nTo: root@ours.test\r\nSubject: signed\r\n"
               "Date: Mon, 7 Dec 2026 10:00:00 +0000\r\nMessage-ID: <dkim1@client.test>\r\n\r\n"
               "A message worth signing.\r\n")
        with smtplib.SMTP(self.srv.addr, self.srv.port, timeout=20) as s:
            s.ehlo("client.test")
            s.mail("sender@client.test")
            s.rcpt("root@ours.test")
            code, text = data(s, msg.encode())
        self.assertEqual(250, code, text)
        qid = text.decode().rsplit(" ", 1)[1]
        with open(os.path.join(self.srv.spool, "incoming", qid), "rb") as f:
            _, _, content = parse_queue_file(f.read())
        self.assertIn(b"DKIM-Signature: v=1; a=rsa-sha256;", content)
        self.assertIn(b"d=client.test", content)
        path = os.path.join(self.dir, "signed.eml")
        with open(path, "wb") as f:
            f.write(content)
        r = subprocess.run([SYSTEM_PYTHON, "-c", DKIM_VERIFY, path, os.path.join(self.dir, "pst.txt")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
        self.assertEqual("True", r.stdout.strip(), r.stderr)
        # A changed body no longer verifies: the check can fail.
        with open(path, "wb") as f:
            f.write(content.replace(b"worth signing", b"worth forging"))
        r = subprocess.run([SYSTEM_PYTHON, "-c", DKIM_VERIFY, path, os.path.join(self.dir, "pst.txt")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
        self.assertEqual("False", r.stdout.strip(), r.stderr)


if __name__ == "__main__":
    harness.main()
