#!/usr/bin/env python3
# master/master_test.py - integration test of master(8) from the build tree: a private
# instance on 127.0.0.x with the test_echo service (inet and unix), driven over its
# control socket. Waits poll a condition with a deadline; only PIDs this test started
# (the master, and the children it reports) are ever signalled.
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import harness  # noqa: E402  (pid_alive)
from dns import pstipc  # noqa: E402  (the lib/ipc frames of the control socket)

BUILD = os.environ.get("MASTER_BUILD_DIR") or os.getcwd()
MASTER = os.path.join(BUILD, "master")
DEADLINE = 20.0


def wait_for(cond, what, timeout=DEADLINE):
    end = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError("timed out after %.0fs waiting for %s" % (timeout, what))
        time.sleep(0.05)


alive = harness.pid_alive
call = pstipc.call
first = pstipc.get


def echo_line(addr, line, timeout=5):
    if isinstance(addr, str):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(addr)
        s.sendall(line.encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(100)
            if not chunk:
                break
            buf += chunk
        return buf.decode().rstrip("\n")
    finally:
        s.close()


def free_port(addr):
    s = socket.socket()
    s.bind((addr, 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Instance:
    def __init__(self, test):
        self.base = tempfile.mkdtemp(prefix="pst-master-")
        os.chmod(self.base, 0o755)
        self.etc = os.path.join(self.base, "etc")
        self.spool = os.path.join(self.base, "spool")
        os.makedirs(self.etc)
        os.makedirs(self.spool)
        self.maillog = os.path.join(self.base, "maillog")
        open(self.maillog, "w").close()
        os.chmod(self.maillog, 0o666)  # services log after dropping to mail_owner
        self.addr = "127.0.0.%d" % random.randint(2, 250)
        self.port = free_port(self.addr)
        self.master_pid = None
        self.seen_children = set()
        self.main_extra = ""
        test.addCleanup(self.cleanup, test)

    def write(self, services, main_extra=""):
        with open(os.path.join(self.etc, "main.conf"), "w") as f:
            f.write("queue_directory = %s\ndaemon_directory = %s\nmaillog_file = %s\n"
                    "mail_owner = %s\nprocess_restart_delay = 1s\n%s"
                    % (self.spool, BUILD, self.maillog,
                       "nobody" if os.geteuid() == 0 else os.environ.get("USER", "nobody"),
                       main_extra))
        with open(os.path.join(self.etc, "master.conf"), "w") as f:
            f.write("# test services\n" + services)

    @property
    def ctl(self):
        return os.path.join(self.spool, "pid", "master.ctl")

    def run_master(self, *args):
        return subprocess.run([MASTER, "-c", self.etc] + list(args), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=30)

    def start(self):
        r = self.run_master()
        if r.returncode != 0:
            raise AssertionError("master exited %d: %s" % (r.returncode, r.stdout))
        self.master_pid = wait_for(self.pid_from_file, "pid file")
        wait_for(lambda: self.status_ready(), "control socket to say ready")
        return self.master_pid

    def pid_from_file(self):
        try:
            with open(os.path.join(self.spool, "pid", "master.pid")) as f:
                pid = int(f.read().split()[0])
            return pid if alive(pid) else None
        except (OSError, ValueError, IndexError):
            return None

    def status(self):
        r = call(self.ctl, [("cmd", "status")])
        for line in [v for n, v in r if n == "service"]:
            pids = line.split("pids=")[1].split()[0]
            if pids != "-":
                self.seen_children.update(int(p) for p in pids.split(","))
        return r

    def status_ready(self):
        try:
            r = self.status()
        except OSError:
            return False
        return first(r, "status") == "ok" and first(r, "ready") == "1"

    def service(self, name):
        """{procs, pids, starts, crashes, throttled} of the service named name."""
        for n, v in self.status():
            if n == "service" and v.split()[0] == name:
                f = dict(w.split("=", 1) for w in v.split()[3:])
                pids = [] if f["pids"] == "-" else [int(p) for p in f["pids"].split(",")]
                return {"pids": pids, "starts": int(f["starts"]), "crashes": int(f["crashes"]),
                        "throttled": "throttled" in f, "line": v}
        raise AssertionError("service %s not in status" % name)

    def log(self):
        with open(self.maillog, errors="replace") as f:
            return f.read()

    def stop_master(self):
        pid = self.master_pid
        if pid and alive(pid):
            os.kill(pid, signal.SIGTERM)
            try:
                wait_for(lambda: not alive(pid), "master %d to exit" % pid, 30)
            except AssertionError:
                os.kill(pid, signal.SIGKILL)

    def cleanup(self, test):
        self.stop_master()
        for pid in self.seen_children:  # children of our master only, if any were left
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        if os.environ.get("PST_KEEP"):
            return
        shutil.rmtree(self.base, ignore_errors=True)


ECHO = "%(addr)s:%(port)d inet n y n 0 3 test_echo\n" \
       "echoq unix y y n 0 1 test_echo\n"


class MasterTest(unittest.TestCase):
    def setUp(self):
        if not os.access(MASTER, os.X_OK):
            self.fail("%s not built" % MASTER)
        self.inst = Instance(self)

    def run(self, result=None):
        r = super().run(result)
        res = result or r
        if res is not None and (res.failures or res.errors) and \
                any(t is self for t, _ in res.failures + res.errors):
            try:
                sys.stderr.write("---- maillog ----\n" + self.inst.log()[-8000:] + "---- end ----\n")
            except Exception:
                pass
        return r

    def start_echo(self, extra="", main_extra=""):
        i = self.inst
        i.write(ECHO % {"addr": i.addr, "port": i.port} + extra, main_extra)
        return i.start()

    def test_start_status_echo(self):
        i = self.inst
        pid = self.start_echo()
        self.assertIn("postilion/master[%d]: daemon started -- version" % pid, i.log())
        self.assertEqual(0o600, os.stat(i.ctl).st_mode & 0o777)
        self.assertEqual(0o600, os.stat(os.path.join(i.spool, "private", "echoq")).st_mode & 0o777)
        # the inet service starts on demand; the unix maxproc-1 service at boot
        self.assertEqual(i.service("%s:%d" % (i.addr, i.port))["pids"], [])
        self.assertEqual(len(i.service("echoq")["pids"]), 1)
        self.assertEqual("hello", echo_line((i.addr, i.port), "hello"))
        self.assertEqual("over unix", echo_line(os.path.join(i.spool, "private", "echoq"), "over unix"))
        self.assertEqual(1, len(i.service("%s:%d" % (i.addr, i.port))["pids"]))
        r = call(i.ctl, [("cmd", "bogus")])
        self.assertEqual("error", first(r, "status"))
        self.assertIn("unknown command", first(r, "text"))
        if os.geteuid() == 0:  # unprivileged services run as mail_owner
            echo_pid = i.service("echoq")["pids"][0]
            self.assertNotEqual(0, os.stat("/proc/%d" % echo_pid).st_uid)

    def test_spawn_on_demand_up_to_maxproc(self):
        i = self.inst
        self.start_echo()
        inet = (i.addr, i.port)
        name = "%s:%d" % inet
        # test_echo takes one client per process: each held client needs a process
        held = []
        for n in range(3):
            c = socket.create_connection(inet, timeout=5)
            c.sendall(b"pid\n")
            held.append((c, int(c.recv(100))))
        self.assertEqual(3, len(set(p for _, p in held)), "three clients, three processes")
        self.assertEqual(3, len(i.service(name)["pids"]))
        # maxproc 3 reached: a fourth client waits in the backlog until one is free
        fourth = socket.create_connection(inet, timeout=5)
        fourth.sendall(b"pid\n")
        fourth.settimeout(0.5)
        with self.assertRaises(socket.timeout):
            fourth.recv(100)
        held[0][0].close()
        fourth.settimeout(5)
        self.assertEqual(held[0][1], int(fourth.recv(100)), "the freed process takes it")
        self.assertEqual(3, len(i.service(name)["pids"]))
        for c, _ in held[1:]:
            c.close()
        fourth.close()

    def test_service_options_from_master_conf(self):
        i = self.inst
        port2 = free_port(i.addr)
        self.start_echo("%s:%d inet n y n 0 1 test_echo -o max_use=1\n" % (i.addr, port2))
        # max_use=1: every client gets a fresh process
        p1 = int(echo_line((i.addr, port2), "pid"))
        wait_for(lambda: not alive(p1), "the used-up process to exit")
        p2 = int(echo_line((i.addr, port2), "pid"))
        self.assertNotEqual(p1, p2)
        self.assertNotIn("service %s:%d: process" % (i.addr, port2), i.log(), "a normal exit is no crash")

    def test_killed_child_is_restarted(self):
        i = self.inst
        self.start_echo()
        old = i.service("echoq")["pids"][0]
        os.kill(old, signal.SIGKILL)
        new = wait_for(lambda: [p for p in i.service("echoq")["pids"] if p != old], "echoq restarted")
        self.assertTrue(alive(new[0]))
        self.assertIn("warning: service echoq: process %d killed by signal 9" % old, i.log())
        # an inet child killed: the next client gets a new process
        inet = (i.addr, i.port)
        p1 = int(echo_line(inet, "pid"))
        os.kill(p1, signal.SIGKILL)
        wait_for(lambda: p1 not in i.service("%s:%d" % inet)["pids"], "inet child reaped")
        p2 = int(wait_for(lambda: self.try_echo(inet, "pid"), "inet service answers again"))
        self.assertNotEqual(p1, p2)

    def try_echo(self, addr, line):
        try:
            return echo_line(addr, line, timeout=2)
        except OSError:
            return None

    def test_crash_loop_is_throttled(self):
        i = self.inst
        self.start_echo("crashq unix y y n 0 1 test_echo crash\n",
                        "master_crash_limit = 3\nmaster_throttle_time = 60s\n")
        wait_for(lambda: "throttling restarts for 60 s" in i.log(), "the crash loop to be throttled")
        s0 = i.service("crashq")
        self.assertTrue(s0["throttled"], s0["line"])
        self.assertGreaterEqual(s0["starts"], 3)
        # A rate over a fixed window: a spinning master would start it hundreds of times.
        time.sleep(2)
        s1 = i.service("crashq")
        self.assertEqual(s0["starts"], s1["starts"], "restarted while throttled")
        self.assertIn("warning: service crashq: process", i.log())
        self.assertIn("exited with status 1", i.log())
        # the other services are unaffected
        self.assertEqual("still here", echo_line((i.addr, i.port), "still here"))

    def test_sighup_reload(self):
        i = self.inst
        pid = self.start_echo()
        inet = (i.addr, i.port)
        # a client connected before the reload keeps its session
        held = socket.create_connection(inet, timeout=5)
        held.sendall(b"before\n")
        self.assertEqual(b"before\n", held.recv(100))
        old_echoq = i.service("echoq")["pids"][0]
        new_port = free_port(i.addr)
        with open(os.path.join(i.etc, "master.conf"), "w") as f:
            f.write("%s:%d inet n y n 0 3 test_echo\n%s:%d inet n y n 0 3 test_echo\n"
                    % (i.addr, i.port, i.addr, new_port))
        os.kill(pid, signal.SIGHUP)
        wait_for(lambda: "reload" in i.log(), "reload logged")
        wait_for(lambda: self.try_echo((i.addr, new_port), "new") == "new", "new listener answers")
        self.assertEqual(i.master_pid, i.pid_from_file())
        self.assertEqual("old", echo_line(inet, "old"), "unchanged listener still works")
        held.sendall(b"after\n")
        self.assertEqual(b"after\n", held.recv(100), "session across reload")
        held.close()
        wait_for(lambda: not os.path.exists(os.path.join(i.spool, "private", "echoq")),
                 "removed unix socket gone")
        wait_for(lambda: not alive(old_echoq), "removed service's process ended")
        names = [v.split()[0] for n, v in i.status() if n == "service"]
        self.assertEqual(sorted(names), sorted(["%s:%d" % (i.addr, i.port), "%s:%d" % (i.addr, new_port)]))
        # a broken master.conf is refused over the control socket; nothing changes
        with open(os.path.join(i.etc, "master.conf"), "a") as f:
            f.write("bad line\n")
        r = call(i.ctl, [("cmd", "reload")])
        self.assertEqual("error", first(r, "status"))
        self.assertIn("master.conf:3", first(r, "text"))
        self.assertEqual("still", echo_line((i.addr, new_port), "still"))

    def test_second_master_refused(self):
        i = self.inst
        pid = self.start_echo()
        r = i.run_master("-f")
        self.assertNotEqual(0, r.returncode)
        self.assertIn("already running (pid %d)" % pid, r.stdout)
        self.assertEqual(pid, i.pid_from_file())
        self.assertTrue(i.status_ready())

    def test_bad_config_reports_file_line(self):
        i = self.inst
        i.write(ECHO % {"addr": i.addr, "port": i.port} + "broken unix y\n")
        r = i.run_master()
        self.assertNotEqual(0, r.returncode)
        self.assertIn("fatal: ", r.stdout)
        self.assertIn("master.conf:4", r.stdout)
        self.assertIsNone(i.pid_from_file())
        self.assertFalse(os.path.exists(i.ctl))
        with self.assertRaises(OSError):
            socket.create_connection((i.addr, i.port), timeout=2).close()
        # an address in use: found before the master goes into the background
        busy = socket.socket()
        busy.bind((i.addr, i.port))
        busy.listen(1)
        try:
            i.write(ECHO % {"addr": i.addr, "port": i.port})
            r = i.run_master()
        finally:
            busy.close()
        self.assertEqual(1, r.returncode, r.stdout)
        self.assertIn("master.conf:2: bind %s:%d" % (i.addr, i.port), r.stdout)
        self.assertIsNone(i.pid_from_file())
        with open(os.path.join(i.etc, "main.conf"), "a") as f:
            f.write("max_use = lots\n")
        with open(os.path.join(i.etc, "main.conf")) as f:
            n = len(f.read().splitlines())
        r = i.run_master()
        self.assertNotEqual(0, r.returncode)
        self.assertIn("main.conf:%d" % n, r.stdout)

    def test_sigterm_stops_everything(self):
        i = self.inst
        pid = self.start_echo()
        echo_line((i.addr, i.port), "x")
        kids = set(i.service("echoq")["pids"] + i.service("%s:%d" % (i.addr, i.port))["pids"])
        self.assertEqual(2, len(kids))
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not alive(pid), "master to exit")
        for k in kids:
            self.assertFalse(alive(k), "child %d outlived the master" % k)
        self.assertFalse(os.path.exists(i.ctl))
        self.assertFalse(os.path.exists(os.path.join(i.spool, "pid", "master.pid")))
        # and the control socket's stop does the same
        pid = i.start()
        r = call(i.ctl, [("cmd", "stop")])
        self.assertEqual("ok", first(r, "status"))
        wait_for(lambda: not alive(pid), "master to exit after cmd=stop")


if __name__ == "__main__":
    unittest.main(verbosity=2)
