# tests/test_master.py - the master under postilionctl: start/stop/status, restart of a
# killed child, crash-loop throttling, SIGHUP reload, a second master refused.
import os
import signal
import socket
import subprocess
import time

import harness
from harness import InstanceTestCase, wait_for

# Services the master may run in a fresh instance; comm names as in /proc.
UNIX_DAEMONS = ("qmgr", "resolver", "auth", "local", "smtp")


def shared_file(path):
    """An empty file any service user may append to (services run as mail_owner)."""
    open(path, "w").close()
    os.chmod(path, 0o666)
    return path


def lines_of(path):
    with open(path) as f:
        return len(f.readlines())


def write_program(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o755)


class MasterTest(InstanceTestCase):
    def setUp(self):
        super().setUp()
        harness.require_daemon(self, "master")

    def some_child(self, inst):
        """(pid, comm) of one child of the master, waiting until there is one."""
        if not any(harness.have_daemon(d) for d in UNIX_DAEMONS + ("smtpd",)):
            self.skipTest("no daemon besides master is installed")
        kids = wait_for(lambda: {p: c for p, c in inst.children().items()
                                 if c in UNIX_DAEMONS + ("smtpd",)},
                        what="a child of the master")
        return sorted(kids.items())[0]

    def test_start_status_stop(self):
        inst = self.started_instance()
        pid = inst.master_pid()
        self.assertIsNotNone(pid, "pid file names a live master")
        r = inst.status()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("master: pid %d" % pid, r.stdout)
        self.assertTrue(os.path.exists(inst.control_socket))
        r = inst.ctl("stop")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertFalse(harness.pid_alive(pid), "stop returns only when the master is gone")
        self.assertEqual(inst.status().returncode, 1)
        # and it starts again on the same spool
        inst.start()
        inst.wait_ready()
        self.assertNotEqual(inst.master_pid(), pid)

    def test_stop_and_status_with_a_broken_main_conf(self):
        # A typo made while the server runs must not keep the administrator from
        # stopping it: status and stop find the master through queue_directory alone.
        inst = self.started_instance()
        pid = inst.master_pid()
        with open(inst.main_conf()) as f:
            n = len(f.read().splitlines())
        with open(inst.main_conf(), "a") as f:
            f.write("message_size_limit = lots\n")
        r = inst.status()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("master: pid %d" % pid, r.stdout)
        self.assertIn("main.conf:%d" % (n + 1), r.stderr, "the broken line is still reported")
        self.assertEqual(inst.ctl("reload").returncode, 2, "reload refuses a broken main.conf")
        r = inst.ctl("stop")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("main.conf:%d" % (n + 1), r.stderr)
        self.assertFalse(harness.pid_alive(pid), "stop returns only when the master is gone")

    def test_status_lists_services(self):
        inst = self.started_instance(ports=("smtp",))
        r = inst.status()
        for line in open(inst.master_conf()):
            if line.strip() and not line.startswith("#"):
                self.assertIn(line.split()[0], r.stdout, "status names every service")

    def test_killed_child_is_restarted(self):
        inst = self.started_instance()
        pid, comm = self.some_child(inst)
        os.kill(pid, signal.SIGKILL)
        new = wait_for(lambda: [p for p, c in inst.children().items() if c == comm and p != pid],
                       what="%s restarted after kill -9" % comm)
        self.assertTrue(new)
        self.assertEqual(inst.status().returncode, 0)

    def test_crash_loop_is_throttled(self):
        inst = self.make_instance()
        inst.init()
        counter = shared_file(os.path.join(inst.base, "crash-count"))
        prog = "crashy%d" % os.getpid()
        path = os.path.join(harness.daemon_dir(), prog)
        write_program(path, "#!/bin/sh\necho start >> %s\nexit 1\n" % counter)
        self.addCleanup(os.unlink, path)
        with open(inst.master_conf(), "a") as f:
            f.write("%s unix y y n 0 1 %s\n" % (prog, prog))
        inst.start()
        inst.wait_ready()
        wait_for(lambda: lines_of(counter) >= 2,
                 what="the crashing service to be started twice")
        # A rate: how many starts in a fixed window. A spinning master makes hundreds.
        n0 = lines_of(counter)
        time.sleep(3)
        n1 = lines_of(counter)
        self.assertLess(n1 - n0, 15, "crash loop not throttled: %d starts in 3s" % (n1 - n0))
        self.assertEqual(inst.status().returncode, 0, "the master survives a crash loop")
        self.assertRegex(inst.log_text(), r"(?i)throttl")

    def test_sighup_reloads_changed_master_conf(self):
        inst = self.make_instance(ports=("smtp",))
        inst.init()
        marker = shared_file(os.path.join(inst.base, "added-service-ran"))
        prog = "added%d" % os.getpid()
        path = os.path.join(harness.daemon_dir(), prog)
        # A service that records that it ran, then stays until the master ends it.
        write_program(path, "#!/bin/sh\necho ran >> %s\nexec sleep 300\n" % marker)
        self.addCleanup(os.unlink, path)
        inst.start()
        inst.wait_ready()
        listener = None
        if harness.have_daemon("smtpd"):
            listener = (inst.addr, inst.ports["smtp"])
            socket.create_connection(listener, timeout=5).close()
        self.assertEqual(lines_of(marker), 0)
        with open(inst.master_conf(), "a") as f:
            f.write("%s unix y y n 0 1 %s\n" % (prog, prog))
        start = len(inst.log_text())
        pid = inst.master_pid()
        os.kill(pid, signal.SIGHUP)
        wait_for(lambda: lines_of(marker) > 0, what="the service added by reload to run")
        self.assertEqual(inst.master_pid(), pid, "reload keeps the same master")
        self.assertIn("reload", inst.log_text()[start:].lower())
        if listener:
            socket.create_connection(listener, timeout=5).close()
        # and `postilionctl reload` asks the same over the control socket
        r = inst.ctl("reload")
        self.assertEqual(r.returncode, 0, r.stderr)
        inst.wait_ready()

    def test_second_master_refused(self):
        inst = self.started_instance()
        pid = inst.master_pid()
        r = inst.ctl("start")
        self.assertEqual(r.returncode, 3)
        self.assertIn("already running", r.stderr)
        # the master program itself, bypassing postilionctl: refused by the lock
        p = subprocess.run([harness.program("master"), "-c", inst.config_dir],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertEqual(inst.master_pid(), pid)
        self.assertEqual(inst.status().returncode, 0)

    def test_bad_config_master_reports_file_line(self):
        inst = self.make_instance()
        inst.init()
        with open(inst.main_conf(), "a") as f:
            f.write("queue_directory\n")
        n = len(open(inst.main_conf()).read().splitlines())
        p = subprocess.run([harness.program("master"), "-c", inst.config_dir],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("main.conf:%d" % n, p.stdout + inst.log_text())
        self.assertIsNone(inst.master_pid())


if __name__ == "__main__":
    harness.main()
