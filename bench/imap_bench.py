#!/usr/bin/env python3
"""bench/imap_bench.py - IMAP on Postilion's imapd (with auth) and on Dovecot's imap in
the same run, each serving an equal Maildir of one user. Figures, not assertions:
  SELECT cold    the first SELECT INBOX after the messages were delivered into new/
                 (no index yet: the server builds it), in ms
  SELECT warm    SELECT INBOX of the unchanged mailbox in a new session, median of 5, ms
  UID FETCH      UID FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE), msgs/s (median of 3)
  BODY.PEEK[]    FETCH 1:* BODY.PEEK[], msgs/s (median of 3)
  sessions       20 clients at once, each repeating LOGIN, SELECT INBOX,
                 FETCH 1:* (UID FLAGS), LOGOUT on a new connection for 10 s: sessions/s
  IDLE memory    20 connections logged in, INBOX selected, in IDLE: growth of the
                 server's process tree per connection, RSS and PSS in KiB (summed RSS
                 counts shared pages once per process; PSS shares them out)
Server CPU (its whole process tree) is printed beside the rates.

Usage: BUILD_DIR=/path/to/build bench/imap_bench.py [messages]   (default 20000;
       100000 is the size issue 15 names, and takes a few minutes longer)
Run as root (Dovecot serves the mailbox as an unprivileged user, as Postilion does);
Dovecot comes from `scripts/install-deps --bench`.
"""
import os
import pwd
import shutil
import socket
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
from benchlib import harness  # noqa: E402

ADDR = harness.address()
USER, PASSWORD = "bench", "bench-password"
CLIENTS = 20
SESSION_SECONDS = 10
IDLE_CONNECTIONS = 20


def make_maildir(md, count, owner):
    """count messages of about 2 KiB in new/, named and dated as a burst of deliveries
    (50 a second) would leave them."""
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(md, sub), exist_ok=True)
    body = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\n" * 20)
    for i in range(count):
        t = 1700000000 + i // 50
        text = ("Return-Path: <sender%d@example.org>\n"
                "From: Sender %d <sender%d@example.org>\n"
                "To: Bench User <bench@bench.test>\n"
                "Cc: list@lists.example.org\n"
                "Subject: bench message %d about something\n"
                "Date: Tue, 14 Nov 2023 22:13:20 +0000\n"
                "Message-ID: <%d.bench@example.org>\n"
                "MIME-Version: 1.0\n"
                "Content-Type: text/plain; charset=us-ascii\n"
                "\n%s" % (i % 97, i % 97, i % 97, i, i, body)).encode()
        # The sizes in the name, as local(8) and Dovecot's LDA write them: S= on disk,
        # W= with CRLF line ends.
        name = "%d.M%dP4242Q%d.bench.test,S=%d,W=%d" % (t, (i % 50) * 20000 + 7, i, len(text),
                                                        len(text) + text.count(b"\n"))
        p = os.path.join(md, "new", name)
        with open(p, "wb") as f:
            f.write(text)
        os.utime(p, (t, t))
    if owner is not None:
        for dirpath, _, files in os.walk(os.path.dirname(md)):
            os.chown(dirpath, owner.pw_uid, owner.pw_gid)
            for n in files:
                os.chown(os.path.join(dirpath, n), owner.pw_uid, owner.pw_gid)


class Client:
    """A small IMAP client that reads responses in bulk: literals are skipped by their
    announced size, and untagged FETCH responses counted."""

    def __init__(self, port, timeout=300):
        self.s = socket.create_connection((ADDR, port), timeout=timeout)
        self.buf = b""
        self.n = 0
        self._line()  # greeting

    def _fill(self):
        chunk = self.s.recv(1 << 20)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buf += chunk

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                return line
            self._fill()

    def send(self, text):
        self.s.sendall(text.encode() + b"\r\n")

    def cmd(self, text):
        """Sends a tagged command; returns (tagged status line, untagged FETCH count)."""
        self.n += 1
        tag = b"t%d" % self.n
        self.s.sendall(tag + b" " + text.encode() + b"\r\n")
        return self.wait(tag)

    def wait(self, tag):
        fetches = 0
        buf, pos = self.buf, 0
        while True:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                buf = buf[pos:]
                pos = 0
                chunk = self.s.recv(1 << 20)
                if not chunk:
                    raise ConnectionError("server closed the connection")
                buf += chunk
                continue
            if buf.startswith(b"* ", pos) and buf.find(b" FETCH ", pos, eol) >= 0:
                fetches += 1
            if eol > pos and buf[eol - 1:eol] == b"}":
                lb = buf.rfind(b"{", pos, eol)
                size = int(buf[lb + 1:eol - 1].rstrip(b"+"))
                end = eol + 2 + size
                while len(buf) < end:
                    chunk = self.s.recv(max(1 << 20, end - len(buf)))
                    if not chunk:
                        raise ConnectionError("server closed the connection")
                    buf += chunk
                pos = end  # the response goes on after the literal
                continue
            line = buf[pos:eol]
            pos = eol + 2
            if line.startswith(tag + b" "):
                self.buf = buf[pos:]
                if not line.startswith(tag + b" OK"):
                    raise RuntimeError(line.decode("latin-1"))
                return line, fetches

    def login(self):
        self.cmd('LOGIN %s "%s"' % (USER, PASSWORD))

    def close(self):
        try:
            self.cmd("LOGOUT")
        except (OSError, RuntimeError):
            pass
        self.s.close()


def timed(f):
    t0 = time.monotonic()
    r = f()
    return time.monotonic() - t0, r


def tree_pids(root_pid):
    parents = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                parents[int(name)] = benchlib._proc_stat(int(name))[0]
            except (OSError, ValueError, IndexError):
                pass
    out = []
    for pid in parents:
        p = pid
        while p and p != root_pid:
            p = parents.get(p, 0)
        if p == root_pid:
            out.append(pid)
    return out


def tree_memory(root_pid):
    """(process count, summed RSS KiB, summed PSS KiB) of root_pid and its descendants."""
    n = rss = pss = 0
    for pid in tree_pids(root_pid):
        try:
            with open("/proc/%d/smaps_rollup" % pid) as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
            n += 1
        except (OSError, ValueError):
            pass
    return n, rss, pss


def settled_memory(root_pid, timeout=15):
    """tree_memory once the tree's process count has held still for half a second
    (sessions of an earlier phase end after their LOGOUT)."""
    end = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < end:
        m = tree_memory(root_pid)
        if last is None or m[0] != last[0]:
            last, since = m, time.monotonic()
        elif time.monotonic() - since >= 0.5:
            return m
        time.sleep(0.1)
    return tree_memory(root_pid)


def measure(name, port, server_pid, count):
    """Every row for one server; returns {row: value}."""
    rows = {}
    c = Client(port)
    c.login()
    t, (line, _) = timed(lambda: c.cmd("SELECT INBOX"))
    rows["SELECT cold ms"] = t * 1000
    c.close()
    warm = []
    for _ in range(5):
        c = Client(port)
        c.login()
        t, _ = timed(lambda: c.cmd("SELECT INBOX"))
        warm.append(t * 1000)
        c.close()
    rows["SELECT warm ms"] = statistics.median(warm)

    c = Client(port)
    c.login()
    c.cmd("SELECT INBOX")
    for row, command in (("UID FETCH env", "UID FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE)"),
                         ("BODY.PEEK[]", "FETCH 1:* BODY.PEEK[]")):
        rates, cpu = [], []
        for _ in range(3):
            with benchlib.Measure(server_pid) as m:
                _, fetched = c.cmd(command)
            if fetched != count:
                benchlib.log("  (%s: %s answered %d of %d messages)" % (name, command, fetched, count))
            rates.append(fetched / m.wall)
            cpu.append(m.server_cpu * 1e6 / max(1, fetched))
        rows[row + " msgs/s"] = statistics.median(rates)
        rows[row + " CPU us/msg"] = statistics.median(cpu)
    c.close()

    done = [0]
    errors = []
    lock = threading.Lock()
    stop_at = time.monotonic() + SESSION_SECONDS

    def client():
        n = 0
        try:
            while time.monotonic() < stop_at:
                s = Client(port, timeout=60)
                s.login()
                s.cmd("SELECT INBOX")
                s.cmd("FETCH 1:* (UID FLAGS)")
                s.cmd("LOGOUT")
                s.s.close()
                n += 1
        except (OSError, RuntimeError) as e:
            with lock:
                errors.append(str(e))
        with lock:
            done[0] += n
    with benchlib.Measure(server_pid) as m:
        threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(SESSION_SECONDS + 120)
    if errors:
        benchlib.log("  (%s: %d clients stopped early: %s)" % (name, len(errors), errors[0]))
    rows["sessions/s"] = done[0] / m.wall
    rows["session CPU ms"] = m.server_cpu * 1000 / max(1, done[0])

    base = settled_memory(server_pid)
    idlers = []
    try:
        for _ in range(IDLE_CONNECTIONS):
            s = Client(port)
            s.login()
            s.cmd("SELECT INBOX")
            s.send("i IDLE")
            if not s._line().startswith(b"+"):
                raise RuntimeError("IDLE refused")
            idlers.append(s)
        busy = settled_memory(server_pid)
    finally:
        for s in idlers:
            try:
                s.send("DONE")
                s.wait(b"i")
            except (OSError, RuntimeError):
                pass
            s.close()
    rows["IDLE RSS KiB/conn"] = (busy[1] - base[1]) / IDLE_CONNECTIONS
    rows["IDLE PSS KiB/conn"] = (busy[2] - base[2]) / IDLE_CONNECTIONS
    rows["IDLE procs/conn"] = (busy[0] - base[0]) / IDLE_CONNECTIONS
    for k, v in rows.items():
        benchlib.log("  %-10s %-22s %12.1f" % (name, k, v))
    return rows


def postilion(root, count):
    with benchlib.postilion_mailbox_server(root, "imapd", ADDR, USER, PASSWORD,
                                           lambda md, owner: make_maildir(md, count, owner),
                                           "imapd_client_connection_count_limit = 0\n") as (port, imap, _):
        return measure("postilion", port, imap.pid, count)


def dovecot(root, count):
    home = os.path.join(root, "dovecot-home")
    owner = pwd.getpwnam("nobody") if os.geteuid() == 0 else None
    make_maildir(os.path.join(home, "Maildir"), count, owner)
    port = harness.port()
    dc = benchlib.Dovecot(root, ADDR, USER, PASSWORD, home, port)
    if owner is not None:
        # Dovecot serves no mailbox as uid 0: the same unprivileged owner as Postilion's.
        conf = os.path.join(dc.dir, "dovecot.conf")
        text = open(conf).read().replace("uid=root gid=root", "uid=nobody gid=nogroup")
        open(conf, "w").write(text)
    try:
        dc.start()
        return measure("dovecot", port, dc.master_pid(), count)
    except Exception as e:  # a figure is missing, the run goes on
        benchlib.log("dovecot    failed: %s\n%s" % (e, harness.read_tail(os.path.join(dc.dir, "dovecot.log"), 2000)))
        return {}
    finally:
        dc.stop()


def main():
    args = sys.argv[1:]
    count = int(args[0]) if args else 20000
    benchlib.need(("doveadm", "/usr/lib/dovecot/imap"))
    root = benchlib.scratch()
    os.chmod(root, 0o755)
    benchlib.log("imap: one INBOX of %d messages of about 2 KiB, %d clients for sessions/s, "
                 "%d connections in IDLE" % (count, CLIENTS, IDLE_CONNECTIONS))
    started = time.monotonic()
    try:
        pst = postilion(root, count)
        dc = dovecot(root, count)
    finally:
        shutil.rmtree(root, ignore_errors=True)
        benchlib.remove_scratch()
    benchlib.log("\nimap, %d messages (%.0f s)" % (count, time.monotonic() - started))
    benchlib.log("  ratio: postilion / dovecot (rows in ms, us, KiB or procs: lower is better)")
    benchlib.log("  %-22s %12s %12s %8s" % ("", "postilion", "dovecot", "ratio"))
    for k, v in pst.items():
        d = dc.get(k)
        benchlib.log("  %-22s %12.1f %12s %8s" % (k, v, "%.1f" % d if d is not None else "-",
                                                    "%.2f" % (v / d) if d else "-"))


if __name__ == "__main__":
    main()
