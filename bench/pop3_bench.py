#!/usr/bin/env python3
"""bench/pop3_bench.py - POP3 on Postilion's pop3d (with auth) and on Dovecot's pop3 in
the same run, serving equal Maildirs. Figures, not assertions:
  fetch   login, then RETR of every message: msgs/s and server CPU ms per message
  login   USER/PASS/STAT/QUIT on a large mailbox whose index exists (the first login
          built it): median and best time of a login, in ms

Usage: BUILD_DIR=/path/to/build bench/pop3_bench.py [messages] [size] [parallel]
Dovecot comes from `scripts/install-deps --bench`.
       BUILD_DIR=/path/to/build bench/pop3_bench.py login [messages]   (default 10000)
"""
import os
import poplib
import pwd
import shutil
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
from benchlib import harness  # noqa: E402

ADDR = harness.address()
USER, PASSWORD = "bench", "bench-password"
ROOT = os.geteuid() == 0


def make_maildir(md, count, size, owner):
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(md, sub), exist_ok=True)
    line = "x" * 70 + "\n"
    body = line * max(1, size // len(line))
    for i in range(count):
        with open(os.path.join(md, "new", "%d.M%dP1.bench" % (1700000000 + i, i)), "w") as f:
            f.write("From: a@bench.test\nSubject: message %d\n\n%s" % (i, body))
    if owner is not None:
        for dirpath, _, files in os.walk(os.path.dirname(md)):
            os.chown(dirpath, owner.pw_uid, owner.pw_gid)
            for n in files:
                os.chown(os.path.join(dirpath, n), owner.pw_uid, owner.pw_gid)


def fetch_all(port, parallel):
    """Each of `parallel` clients logs in in turn and RETRs every message (sessions follow
    each other, as with pop3d_lock_session). Returns messages fetched."""
    fetched = [0]
    lock = threading.Lock()
    gate = threading.Semaphore(1)

    def client():
        with gate:
            p = poplib.POP3(ADDR, port, timeout=120)
            p.user(USER)
            p.pass_(PASSWORD)
            n = p.stat()[0]
            for i in range(1, n + 1):
                p.retr(i)
            p.quit()
        with lock:
            fetched[0] += n
    threads = [threading.Thread(target=client) for _ in range(parallel)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return fetched[0]


def login_times(port, rounds=15):
    """Times of USER, PASS, STAT, QUIT, each a new connection; the first login (which
    may build the index) is not counted. Returns (median, best) in ms."""
    def once():
        start = time.monotonic()
        p = poplib.POP3(ADDR, port, timeout=120)
        p.user(USER)
        p.pass_(PASSWORD)
        n = p.stat()[0]
        p.quit()
        return (time.monotonic() - start) * 1000.0, n
    once()
    times = []
    for _ in range(rounds):
        ms, n = once()
        times.append(ms)
    times.sort()
    return times[len(times) // 2], times[0], n


def report_login(name, port):
    median, best, n = login_times(port)
    benchlib.log("%-10s login with %d messages: median %7.1f ms, best %7.1f ms" % (name, n, median, best))


def report(name, m, n):
    benchlib.log("%-10s %6d msgs  %7.2fs  %8.0f msgs/s  server CPU %6.3f ms/msg" %
                 (name, n, m.wall, n / m.wall if m.wall else 0, 1000.0 * m.server_cpu / n if n else 0))


def postilion(root, count, size, parallel, mode):
    with benchlib.postilion_mailbox_server(root, "pop3d", ADDR, USER, PASSWORD,
                                           lambda md, owner: make_maildir(md, count, size, owner)) as (port, pop, auth):
        if mode == "login":
            report_login("postilion", port)
            return
        fetch_all(port, 1)  # warm-up: builds the mailbox index
        with benchlib.Measure(pop.pid) as m:
            auth_cpu0 = benchlib.tree_cpu(auth.pid)
            n = fetch_all(port, parallel)
        m.server_cpu += benchlib.tree_cpu(auth.pid) - auth_cpu0
        report("postilion", m, n)


def dovecot(root, count, size, parallel, mode):
    home = os.path.join(root, "dovecot-home")
    owner = pwd.getpwnam("nobody") if ROOT else None
    make_maildir(os.path.join(home, "Maildir"), count, size, owner)
    port = harness.port()
    dc = benchlib.Dovecot(root, ADDR, USER, PASSWORD, home, harness.port(), port)
    if ROOT:
        # Dovecot serves no mailbox as uid 0: the same unprivileged owner as Postilion's.
        conf = os.path.join(dc.dir, "dovecot.conf")
        text = open(conf).read().replace("uid=root gid=root", "uid=nobody gid=nogroup")
        open(conf, "w").write(text)
    try:
        dc.start()
        if mode == "login":
            report_login("dovecot", port)
            return
        fetch_all(port, 1)
        with benchlib.Measure(dc.master_pid()) as m:
            n = fetch_all(port, parallel)
        report("dovecot", m, n)
    except Exception as e:  # a figure is missing, the run goes on
        benchlib.log("dovecot    failed: %s" % e)
    finally:
        dc.stop()


def main():
    args = sys.argv[1:]
    mode = "fetch"
    if args and args[0] == "login":
        mode = "login"
        args = args[1:]
    count = int(args[0]) if len(args) > 0 else (10000 if mode == "login" else 2000)
    size = int(args[1]) if len(args) > 1 else (300 if mode == "login" else 4096)
    parallel = int(args[2]) if len(args) > 2 else 3
    benchlib.need()
    root = benchlib.scratch()
    os.chmod(root, 0o755)
    if mode == "login":
        benchlib.log("pop3: login on a mailbox of %d messages of %d bytes" % (count, size))
    else:
        benchlib.log("pop3: %d messages of %d bytes, %d sessions each fetching all" % (count, size, parallel))
    try:
        postilion(root, count, size, parallel, mode)
        dovecot(root, count, size, parallel, mode)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
