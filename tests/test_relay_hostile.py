# tests/test_relay_hostile.py - smtp(8) against hostile SMTP servers: small python fake
# servers on loopback that send an over-long reply line, an endless multi-line reply,
# binary garbage, nothing at all, a reply that trickles in, garbage after the message,
# or that stops reading in the middle of the message; and a large message streamed in
# pieces arrives whole. Each delivery must end in a clean defer (4.x.x, the recipient still pending
# in the queue file) with a log line that says what the server did, within the
# configured time limits, and the agent must live on to deliver the next message.
import os
import re
import socket
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from test_relay_agent import Agent  # noqa: E402

ADDR = harness.address()  # the fake servers' (each binds port 0 and keeps the socket)
MAX_LINES = 200000  # every fake server loop is bounded


def read_line(conn, buf):
    """One CRLF line from conn (bytes), with what is left over; None when closed."""
    while b"\n" not in buf:
        try:
            chunk = conn.recv(4096)
        except OSError:
            return None, b""
        if not chunk:
            return None, b""
        buf += chunk
    line, _, rest = buf.partition(b"\n")
    return line.rstrip(b"\r"), rest


def send(conn, data):
    try:
        conn.sendall(data)
        return True
    except OSError:
        return False


def normal_until(conn, stop_at, pipelining=False):
    """Speaks plain SMTP until the client sends the command stop_at (b"EHLO", b"DATA"
    or b"." for the end of the message; after "." with pipelining, the reply is sent
    first); returns False if the client went away."""
    buf = b""
    if stop_at != b"GREETING" and not send(conn, b"220 fake.tst ESMTP\r\n"):
        return False
    if stop_at == b"GREETING":
        return True
    in_data = False
    for _ in range(MAX_LINES):
        line, buf = read_line(conn, buf)
        if line is None:
            return False
        if in_data:
            if line == b".":
                if stop_at == b"." and not pipelining:
                    return True
                in_data = False
                send(conn, b"250 2.0.0 Ok\r\n")
                if stop_at == b".":
                    return True
            continue
        verb = line.split(b" ")[0].upper()
        if verb == stop_at:
            return True
        if verb == b"EHLO":
            send(conn, b"250-fake.tst\r\n" + (b"250-PIPELINING\r\n" if pipelining else b"") + b"250 8BITMIME\r\n")
        elif verb == b"DATA":
            in_data = True
            send(conn, b"354 go ahead\r\n")
        elif verb == b"QUIT":
            send(conn, b"221 bye\r\n")
            return False
        else:
            send(conn, b"250 2.0.0 Ok\r\n")
    return False


class FakeServer:
    """Accepts connections on ADDR:port and runs behaviour(conn, server) for each, in a
    thread; records how each connection ended."""

    def __init__(self, behaviour):
        self.behaviour = behaviour
        self.sock = socket.socket()
        self.sock.bind((ADDR, 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        self.connections = 0
        self.client_closed = 0  # connections the client ended while we still talked
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.connections += 1
            conn.settimeout(30)
            try:
                if self.behaviour(conn, self) is False:
                    self.client_closed += 1
            finally:
                conn.close()

    def stop(self):
        self.stopping = True
        self.thread.join(10)
        self.sock.close()


# ---- behaviours: each returns False when the client closed the connection on it ----
def overlong_greeting(conn, srv):
    if not send(conn, b"220 " + b"x" * 20000):  # no line end
        return False
    return wait_for_close(conn)


def endless_ehlo(conn, srv):
    if not normal_until(conn, b"EHLO"):
        return False
    for _ in range(MAX_LINES):
        if srv.stopping or not send(conn, b"250-SOMETHING-ELSE\r\n"):
            return False
    return True


def garbage_greeting(conn, srv):
    if not send(conn, bytes(range(256)) + b"\r\n"):
        return False
    return wait_for_close(conn)


def silent(conn, srv):
    return wait_for_close(conn)


def trickle_ehlo(conn, srv):
    if not normal_until(conn, b"EHLO"):
        return False
    for _ in range(200):  # one more line every 100 ms, never the last one
        if srv.stopping or not send(conn, b"250-slow\r\n"):
            return False
        time.sleep(0.1)
    return True


def garbage_after_data(conn, srv):
    if not normal_until(conn, b"."):
        return False
    if not send(conn, b"\x00\x01 not a reply\r\n"):
        return False
    return wait_for_close(conn)


def stalled_after_data(conn, srv):
    """Takes DATA, then reads nothing for 5 s (the client's writes block; its limit is
    3 s), then drains what was sent to see whether the client hung up."""
    if not normal_until(conn, b"DATA"):
        return False
    if not send(conn, b"354 go ahead\r\n"):
        return False
    for _ in range(50):
        if srv.stopping:
            return True
        time.sleep(0.1)
    conn.settimeout(5)
    try:
        for _ in range(MAX_LINES):
            if not conn.recv(1 << 20):
                return False
    except OSError:
        return False  # reset: hung up too
    return True


def one_message_then_hang_up(conn, srv):
    """A pipelining server that drops every connection, without a word, after one
    message: the client's cached connection is dead when it comes back."""
    normal_until(conn, b".", pipelining=True)
    return True


def wait_for_close(conn):
    """Reads until the client closes (False) or 20 s pass (True: the client hung)."""
    conn.settimeout(20)
    try:
        while conn.recv(4096):
            pass
    except socket.timeout:
        return True
    except OSError:
        pass
    return False


class RelayHostileTest(harness.LogsOnFailure):
    @classmethod
    def setUpClass(cls):
        harness.require_program("smtp")
        harness.require_program("relay_probe")
        cls.tmp = harness.class_tempdir(cls, "pst-hostile-")  # nothing started leaks
        cls.qdir = os.path.join(cls.tmp, "spool")
        os.makedirs(os.path.join(cls.qdir, "private"))
        cls.agent = Agent(cls.qdir, {
            "smtp_connect_timeout": "3", "smtp_helo_timeout": "3", "smtp_command_timeout": "3",
            "smtp_data_done_timeout": "3", "myhostname": "relay.examplea.tst",
        })
        cls.addClassCleanup(cls.agent.stop)
        cls.good = FakeServer(lambda conn, srv: normal_until(conn, b"NEVER"))
        cls.addClassCleanup(cls.good.stop)

    def on_failure(self):
        sys.stderr.write("--- smtp log ---\n" + self.agent.log_text()[-4000:])

    def hostile(self, behaviour, log_needle, max_seconds):
        srv = FakeServer(behaviour)
        self.addCleanup(srv.stop)
        start_log = len(self.agent.log_text())
        t0 = time.monotonic()
        run = self.agent.deliver("[%s]:%d" % (ADDR, srv.port), ["u@b.tst"])[0]
        took = time.monotonic() - t0
        r = run["rcpt"]["u@b.tst"]
        self.assertEqual(r["result"], "defer", run)
        self.assertTrue(r["dsn"].startswith("4."), run)
        self.assertIn(log_needle, r["text"])
        self.assertEqual(run["file"]["u@b.tst"], "pending", run)  # nothing recorded as final
        self.assertLess(took, max_seconds, "the agent took too long to give up")
        log = self.agent.log_text()[start_log:]
        self.assertRegex(log, r"to=<u@b\.tst>, relay=\[?%s\]?\[%s\]:%d, .*status=deferred \(.*%s"
                         % (ADDR.replace(".", r"\."), ADDR.replace(".", r"\."), srv.port,
                            log_needle.replace("(", r"\(").replace(")", r"\)")))
        # The client hung up on the server rather than waiting for more.
        harness.wait_for(lambda: srv.connections >= 1 and srv.client_closed >= 1, 10, "the client to hang up")
        # The agent lives on and delivers the next message normally.
        self.assertIsNone(self.agent.proc.poll(), "smtp exited")
        ok = self.agent.deliver("[%s]:%d" % (ADDR, self.good.port), ["v@b.tst"])[0]
        self.assertEqual(ok["rcpt"]["v@b.tst"]["result"], "sent", ok)
        return log

    def test_overlong_reply_line(self):
        self.hostile(overlong_greeting, "sent a malformed reply while receiving the initial server greeting: "
                                        "reply line too long", 10)

    def test_endless_multiline_reply(self):
        self.hostile(endless_ehlo, "sent a malformed reply while receiving the EHLO reply: too many reply lines", 10)

    def test_garbage_greeting(self):
        self.hostile(garbage_greeting, "sent a malformed reply while receiving the initial server greeting: "
                                       "malformed reply line", 10)

    def test_silent_server_times_out(self):
        self.hostile(silent, "timed out while receiving the initial server greeting", 10)

    def test_trickling_reply_times_out(self):
        # Each line arrives in time, the reply never ends: the deadline is per reply.
        self.hostile(trickle_ehlo, "timed out while receiving the EHLO reply", 10)

    def test_stalled_server_while_sending_content(self):
        # More than the socket buffers hold, so the writes block until the deadline.
        big = b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 40000
        srv = FakeServer(stalled_after_data)
        self.addCleanup(srv.stop)
        t0 = time.monotonic()
        run = self.agent.deliver("[%s]:%d" % (ADDR, srv.port), ["u@b.tst"], content=big)[0]
        self.assertLess(time.monotonic() - t0, 15)
        r = run["rcpt"]["u@b.tst"]
        self.assertEqual((r["result"], run["file"]["u@b.tst"]), ("defer", "pending"), run)
        self.assertIn("timed out while sending message content", r["text"])
        harness.wait_for(lambda: srv.client_closed >= 1, 10, "the client to hang up")

    def test_large_message_streamed(self):
        # Several read pieces (64 KiB each), lines with leading dots on both sides of
        # the piece boundaries, bare LF line ends: the server gets them stuffed and CRLF.
        from dns import smtp_sink
        sink = smtp_sink.Sink(harness.address(), harness.port(), extensions=["PIPELINING"]).start()
        self.addCleanup(sink.stop)
        lines = [b"Subject: streamed", b""]
        size = 0
        i = 0
        while size < 5 * 65536:
            line = (b"." if i % 7 == 0 else b"") + (b"line %d " % i) + b"y" * (i % 90)
            lines.append(line)
            size += len(line) + 1
            i += 1
        content = b"\n".join(lines) + b"\n"
        run = self.agent.deliver("[%s]:%d" % (sink.address, sink.port), ["u@b.tst"], content=content)[0]
        self.assertEqual(run["rcpt"]["u@b.tst"]["result"], "sent", run)
        expect = b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n" for l in lines)
        got = sink.messages[-1]["data"]
        self.assertEqual(len(got), len(expect))
        self.assertEqual(got, expect)

    def test_dead_cached_connection(self):
        # The RSET that checks a reused connection goes out with the next MAIL FROM; a
        # dead connection is then noticed there and the message goes over a new one.
        srv = FakeServer(one_message_then_hang_up)
        self.addCleanup(srv.stop)
        start_log = len(self.agent.log_text())
        for n in range(3):
            run = self.agent.deliver("[%s]:%d" % (ADDR, srv.port), ["u@b.tst"])[0]
            self.assertEqual(run["rcpt"]["u@b.tst"]["result"], "sent", run)
            self.assertEqual(run["file"]["u@b.tst"], "delivered", run)
        self.assertEqual(srv.connections, 3)
        self.assertEqual(len(re.findall(r"cached connection: lost connection with .* while receiving the RSET reply",
                                        self.agent.log_text()[start_log:])), 2)

    def test_garbage_after_the_message(self):
        self.hostile(garbage_after_data, "sent a malformed reply while receiving the end of data reply", 10)


if __name__ == "__main__":
    unittest.main()
