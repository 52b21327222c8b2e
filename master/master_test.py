#!/usr/bin/env python3
# master/master_test.py - integration test of master(8) from the build tree: a private
# instance (tests/harness.py's, on an address of its own) with the test_echo service (inet
# and unix), driven over its control socket. Waits poll a condition with a deadline; only
# PIDs this test started (the master, and the children it reports) are ever signalled.
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import harness  # noqa: E402
from dns import pstipc  # noqa: E402  (the lib/ipc frames of the control socket)

BUILD = os.environ.get("MASTER_BUILD_DIR") or os.getcwd()
MASTER = os.path.join(BUILD, "master")

wait_for = harness.wait_for
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


class EchoInstance(harness.Instance):
    """A harness instance whose main.conf and master.conf the test writes itself, run by
    the master of the build folder (daemon_directory is that folder, for test_echo) and
    driven over its control socket."""

    def __init__(self, test):
        super().__init__(name="master", ports=())
        os.makedirs(self.config_dir)
        os.makedirs(self.spool)
        open(self.maillog, "w").close()
        os.chmod(self.maillog, 0o666)  # services log after dropping to mail_owner
        self.port = harness.port()
        self.seen_children = set()
        test.addCleanup(self.cleanup)

    def write(self, services, main_extra=""):
        with open(self.main_conf(), "w") as f:
            f.write("queue_directory = %s\ndaemon_directory = %s\nmaillog_file = %s\n"
                    "mail_owner = %s\nprocess_restart_delay = 1s\n%s"
                    % (self.spool, BUILD, self.maillog,
                       "nobody" if os.geteuid() == 0 else os.environ.get("USER", "nobody"),
                       main_extra))
        with open(self.master_conf(), "w") as f:
            f.write("# test services\n" + services)

    def run_master(self, *args):
        return subprocess.run([MASTER, "-c", self.config_dir] + list(args), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=30)

    def start(self):
        r = self.run_master()
        pid = self.master_pid()
        if pid and pid not in self.started_pids:
            self.started_pids.append(pid)
        if r.returncode != 0:
            raise AssertionError("master exited %d: %s" % (r.returncode, r.stdout))
        pid = wait_for(self.master_pid, what="pid file")
        if pid not in self.started_pids:
            self.started_pids.append(pid)
        wait_for(self.status_ready, what="control socket to say ready")
        return pid

    def status(self):
        r = call(self.control_socket, [("cmd", "status")])
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

    def cleanup(self):
        self.stop()
        for pid in self.seen_children:  # children of our master only, if any were left
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


ECHO = "%(addr)s:%(port)d inet n y n 0 3 test_echo\n" \
       "echoq unix y y n 0 1 test_echo\n"


class MasterTest(harness.LogsOnFailure):
    def setUp(self):
        if not os.access(MASTER, os.X_OK):
            self.fail("%s not built" % MASTER)
        self.inst = EchoInstance(self)

    def on_failure(self):
        if hasattr(self, "inst"):
            self.inst.dump()

    def start_echo(self, extra="", main_extra=""):
        i = self.inst
        i.write(ECHO % {"addr": i.addr, "port": i.port} + extra, main_extra)
        return i.start()

    def test_start_status_echo(self):
        i = self.inst
        pid = self.start_echo()
        self.assertIn("postilion/master[%d]: daemon started -- version" % pid, i.log_text())
        self.assertEqual(0o600, os.stat(i.control_socket).st_mode & 0o777)
        self.assertEqual(0o600, os.stat(os.path.join(i.spool, "private", "echoq")).st_mode & 0o777)
        # the inet service starts on demand; the unix maxproc-1 service at boot
        self.assertEqual(i.service("%s:%d" % (i.addr, i.port))["pids"], [])
        self.assertEqual(len(i.service("echoq")["pids"]), 1)
        self.assertEqual("hello", echo_line((i.addr, i.port), "hello"))
        self.assertEqual("over unix", echo_line(os.path.join(i.spool, "private", "echoq"), "over unix"))
        self.assertEqual(1, len(i.service("%s:%d" % (i.addr, i.port))["pids"]))
        r = call(i.control_socket, [("cmd", "bogus")])
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
        port2 = harness.port()
        self.start_echo("%s:%d inet n y n 0 1 test_echo -o max_use=1\n" % (i.addr, port2))
        # max_use=1: every client gets a fresh process
        p1 = int(echo_line((i.addr, port2), "pid"))
        wait_for(lambda: not alive(p1), what="the used-up process to exit")
        p2 = int(echo_line((i.addr, port2), "pid"))
        self.assertNotEqual(p1, p2)
        self.assertNotIn("service %s:%d: process" % (i.addr, port2), i.log_text(), "a normal exit is no crash")

    def test_killed_child_is_restarted(self):
        i = self.inst
        self.start_echo()
        old = i.service("echoq")["pids"][0]
        os.kill(old, signal.SIGKILL)
        new = wait_for(lambda: [p for p in i.service("echoq")["pids"] if p != old], what="echoq restarted")
        self.assertTrue(alive(new[0]))
        self.assertIn("warning: service echoq: process %d killed by signal 9" % old, i.log_text())
        # an inet child killed: the next client gets a new process
        inet = (i.addr, i.port)
        p1 = int(echo_line(inet, "pid"))
        os.kill(p1, signal.SIGKILL)
        wait_for(lambda: p1 not in i.service("%s:%d" % inet)["pids"], what="inet child reaped")
        p2 = int(wait_for(lambda: self.try_echo(inet, "pid"), what="inet service answers again"))
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
        wait_for(lambda: "throttling restarts for 60 s" in i.log_text(), what="the crash loop to be throttled")
        s0 = i.service("crashq")
        self.assertTrue(s0["throttled"], s0["line"])
        self.assertGreaterEqual(s0["starts"], 3)
        # A rate over a fixed window: a spinning master would start it hundreds of times.
        time.sleep(2)
        s1 = i.service("crashq")
        self.assertEqual(s0["starts"], s1["starts"], "restarted while throttled")
        self.assertIn("warning: service crashq: process", i.log_text())
        self.assertIn("exited with status 1", i.log_text())
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
        new_port = harness.port()
        with open(os.path.join(i.config_dir, "master.conf"), "w") as f:
            f.write("%s:%d inet n y n 0 3 test_echo\n%s:%d inet n y n 0 3 test_echo\n"
                    % (i.addr, i.port, i.addr, new_port))
        os.kill(pid, signal.SIGHUP)
        wait_for(lambda: "reload" in i.log_text(), what="reload logged")
        wait_for(lambda: self.try_echo((i.addr, new_port), "new") == "new", what="new listener answers")
        self.assertEqual(pid, i.master_pid())
        self.assertEqual("old", echo_line(inet, "old"), "unchanged listener still works")
        held.sendall(b"after\n")
        self.assertEqual(b"after\n", held.recv(100), "session across reload")
        held.close()
        wait_for(lambda: not os.path.exists(os.path.join(i.spool, "private", "echoq")),
                 what="removed unix socket gone")
        wait_for(lambda: not alive(old_echoq), what="removed service's process ended")
        names = [v.split()[0] for n, v in i.status() if n == "service"]
        self.assertEqual(sorted(names), sorted(["%s:%d" % (i.addr, i.port), "%s:%d" % (i.addr, new_port)]))
        # a broken master.conf is refused over the control socket; nothing changes
        with open(os.path.join(i.config_dir, "master.conf"), "a") as f:
            f.write("bad line\n")
        r = call(i.control_socket, [("cmd", "reload")])
        self.assertEqual("error", first(r, "status"))
        self.assertIn("master.conf:3", first(r, "text"))
        self.assertEqual("still", echo_line((i.addr, new_port), "still"))

    def test_second_master_refused(self):
        i = self.inst
        pid = self.start_echo()
        r = i.run_master("-f")
        self.assertNotEqual(0, r.returncode)
        self.assertIn("already running (pid %d)" % pid, r.stdout)
        self.assertEqual(pid, i.master_pid())
        self.assertTrue(i.status_ready())

    def test_bad_config_reports_file_line(self):
        i = self.inst
        i.write(ECHO % {"addr": i.addr, "port": i.port} + "broken unix y\n")
        r = i.run_master()
        self.assertNotEqual(0, r.returncode)
        self.assertIn("fatal: ", r.stdout)
        self.assertIn("master.conf:4", r.stdout)
        self.assertIsNone(i.master_pid())
        self.assertFalse(os.path.exists(i.control_socket))
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
        self.assertIsNone(i.master_pid())
        with open(os.path.join(i.config_dir, "main.conf"), "a") as f:
            f.write("max_use = lots\n")
        with open(os.path.join(i.config_dir, "main.conf")) as f:
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
        wait_for(lambda: not alive(pid), what="master to exit")
        for k in kids:
            self.assertFalse(alive(k), "child %d outlived the master" % k)
        self.assertFalse(os.path.exists(i.control_socket))
        self.assertFalse(os.path.exists(os.path.join(i.spool, "pid", "master.pid")))
        # and the control socket's stop does the same
        pid = i.start()
        r = call(i.control_socket, [("cmd", "stop")])
        self.assertEqual("ok", first(r, "status"))
        wait_for(lambda: not alive(pid), what="master to exit after cmd=stop")


if __name__ == "__main__":
    harness.main()
