#!/usr/bin/env python3
"""bench/postscreen_bench.py - postscreen(8) holding many clients at once. Figures, not
assertions: an instance with postscreen on its SMTP port (smtpd as the pass service) and
a long postscreen_greet_wait, so that every client stays in the pregreet test; the
script opens N connections (default 1,000) and waits, within a deadline, until each has
its "220-" banner, then prints
  memory   postscreen's RSS and PSS before and with the N clients, and per client (KiB)
  time     wall time to connect all and get every banner, per connection (ms); the
           latency from connect to banner (p50/p99, ms); postscreen's CPU per connection (us)
It raises this process's open-file limit to the hard limit (postscreen raises its own,
and warns when the hard limit is below 2 x postscreen_pre_queue_limit + 64) and stops
with a message when the limit cannot hold N clients.

Usage: BUILD_DIR=/path/to/build bench/postscreen_bench.py [connections] [deadline_s]
"""
import os
import resource
import selectors
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
from benchlib import harness  # noqa: E402

sys.path.insert(0, os.path.join(benchlib.TOP, "tests"))
from test_postscreen import use_postscreen  # noqa: E402


def open_files(n):
    """Raises the soft RLIMIT_NOFILE to the hard one; exits when n clients cannot fit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    if soft != resource.RLIM_INFINITY and soft < n + 64:
        sys.exit("postscreen_bench: open file limit %d cannot hold %d clients (ulimit -n %d or more)"
                 % (soft, n, n + 64))
    return soft


def memory(pid):
    """(RSS KiB, PSS KiB) of one process."""
    rss = pss = 0
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    return rss, pss


def postscreen_pid(inst, timeout=20):
    found = []

    def look():
        found[:] = [p for p, comm in inst.children().items() if comm == "postscreen"]
        return bool(found)
    harness.wait_for(look, timeout, "postscreen process")
    return found[0]


def main(argv):
    n = int(argv[1]) if len(argv) > 1 else 1000
    deadline_s = float(argv[2]) if len(argv) > 2 else 120
    limit = open_files(n)
    inst = harness.Instance(name="psbench")
    try:
        inst.init()
        use_postscreen(inst)
        with open(inst.main_conf(), "a") as f:
            # Every client waits in the pregreet test for the whole run.
            f.write("postscreen_access_list =\npostscreen_greet_wait = %ds\n"
                    "postscreen_pre_queue_limit = %d\npostscreen_client_connection_count_limit = 0\n"
                    "postscreen_cache_map =\n" % (int(deadline_s) + 60, n + 100))
        inst.start()
        inst.wait_ready()
        addr, port = inst.addr, inst.ports["smtp"]
        # The first client starts postscreen (master spawns it on demand).
        first = socket.create_connection((addr, port), timeout=30)
        first.recv(1000)
        pid = postscreen_pid(inst)
        first.close()
        time.sleep(0.5)
        before = memory(pid)
        cpu0 = benchlib.tree_cpu(pid)
        sel = selectors.DefaultSelector()
        started, latency, socks = {}, [], []
        t0 = time.monotonic()
        end = t0 + deadline_s
        for i in range(n):
            if time.monotonic() > end:
                break
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(max(1, end - time.monotonic()))
            s.connect((addr, port))
            s.setblocking(False)
            started[s.fileno()] = time.monotonic()
            sel.register(s, selectors.EVENT_READ)
            socks.append(s)
            for key, _ in sel.select(timeout=0):
                banner(key, sel, started, latency)
        while len(latency) < len(socks) and time.monotonic() < end:
            for key, _ in sel.select(timeout=max(0.01, end - time.monotonic())):
                banner(key, sel, started, latency)
        wall = time.monotonic() - t0
        cpu = benchlib.tree_cpu(pid) - cpu0
        time.sleep(0.5)
        held = memory(pid)
        got = len(latency)
        benchlib.log("postscreen: %d connections opened, %d banners within %.0f s (open file limit %s)"
                     % (len(socks), got, deadline_s, limit))
        benchlib.log("  memory  before: RSS %d KiB, PSS %d KiB; with %d clients: RSS %d KiB, PSS %d KiB"
                     % (before[0], before[1], got, held[0], held[1]))
        if got:
            benchlib.log("  memory  per client: RSS %.2f KiB, PSS %.2f KiB"
                         % ((held[0] - before[0]) / got, (held[1] - before[1]) / got))
            lat = sorted(latency)
            benchlib.log("  time    %.2f s for all, %.3f ms per connection; connect->banner p50 %.2f ms, "
                         "p99 %.2f ms; postscreen CPU %.0f us per connection"
                         % (wall, wall * 1000 / got, statistics.median(lat) * 1000,
                            lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000, cpu * 1e6 / got))
        for s in socks:
            s.close()
        warnings = [l for l in inst.log_text().splitlines() if "postscreen" in l and "warning" in l]
        for w in warnings[:5]:
            benchlib.log("  " + w)
        return 0 if got == n else 1
    except BaseException:
        benchlib.log(inst.log_text()[-3000:])
        raise
    finally:
        inst.stop()


def banner(key, sel, started, latency):
    s = key.fileobj
    try:
        data = s.recv(1000)
    except BlockingIOError:
        return
    sel.unregister(s)
    if data.startswith(b"220-"):
        latency.append(time.monotonic() - started[s.fileno()])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
