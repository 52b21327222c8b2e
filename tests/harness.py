# tests/harness.py - private Postilion instances for integration tests.
#
# An Instance lives in its own temp dir: config dir, spool and maillog, on a 127.0.0.x
# address with free high ports, made by `postilionctl init` from an installed tree.
# The tree is installed once per test run (`make install prefix=...` from $BUILD_DIR),
# or taken from $PST_PREFIX. Tests wait for conditions with deadlines (wait_for), never
# by sleeping; they stop only the processes they started, by PID.
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_TIMEOUT = 20.0

_prefix = None
_tmp_root = None


class HarnessError(Exception):
    pass


def tmp_root():
    """One scratch folder per test run, readable by the unprivileged mail_owner."""
    global _tmp_root
    if _tmp_root is None:
        _tmp_root = tempfile.mkdtemp(prefix="pst-it-")
        os.chmod(_tmp_root, 0o755)
    return _tmp_root


def cleanup_tmp_root():
    global _tmp_root
    if _tmp_root and not os.environ.get("PST_KEEP"):
        shutil.rmtree(_tmp_root, ignore_errors=True)
    _tmp_root = None


def prefix():
    """The installed tree: $PST_PREFIX, or `make install` from $BUILD_DIR (once)."""
    global _prefix
    if _prefix:
        return _prefix
    if os.environ.get("PST_PREFIX"):
        _prefix = os.environ["PST_PREFIX"]
    else:
        build = os.environ.get("BUILD_DIR")
        if not build:
            raise HarnessError("set BUILD_DIR (a configured build folder) or PST_PREFIX")
        inst = os.path.join(tmp_root(), "inst")
        r = subprocess.run(["make", "-s", "install", "prefix=" + inst], cwd=build,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=600)
        if r.returncode != 0:
            raise HarnessError("make install failed:\n" + r.stdout[-4000:])
        _prefix = inst
    return _prefix


def sbin(name):
    return os.path.join(prefix(), "sbin", name)


def daemon_dir():
    return os.path.join(prefix(), "libexec", "postilion")


def have_daemon(name):
    return os.access(os.path.join(daemon_dir(), name), os.X_OK)


def source_has(folder):
    """True when the Postilion source holds code for that program (not only a Makefile),
    so a test of it must run - and fail if the program was not built."""
    d = os.path.join(ROOT, folder)
    return os.path.isdir(d) and any(f.endswith(".cc") for f in os.listdir(d))


def require_daemon(test, name, folder=None):
    """Skips while a daemon's code has not been written; fails if written but missing."""
    if have_daemon(name):
        return
    if source_has(folder or name):
        test.fail("%s is in the source tree but not installed in %s" % (name, daemon_dir()))
    test.skipTest("%s not written yet" % name)


def wait_for(cond, timeout=DEFAULT_TIMEOUT, what="condition", interval=0.05):
    """Polls cond() until it returns a true value (returned) or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def free_port(addr):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((addr, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def pick_address():
    """A 127.0.0.x address other than .1, so instances and system services do not meet."""
    return "127.0.0.%d" % random.randint(2, 250)


def user_exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def add_system_user(test, prefix, homes):
    """A real account (prefix + 5 digits, shell /bin/sh) with its home made below homes,
    owned by it, mode 0755; removed when the test ends. Root only; skips the test when
    useradd fails. Returns its pwd entry."""
    name = "%s%05d" % (prefix, random.randint(0, 99999))
    home = os.path.join(homes, name)
    r = subprocess.run(["useradd", "-M", "-d", home, "-s", "/bin/sh", name],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        test.skipTest("useradd failed: " + r.stdout)
    test.addCleanup(subprocess.run, ["userdel", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pw = pwd.getpwnam(name)
    os.makedirs(home)
    os.chown(home, pw.pw_uid, pw.pw_gid)
    os.chmod(home, 0o755)
    return pw


def queue_empty(spool):
    """True when no message waits in the spool's maildrop, incoming, active or deferred
    queue (dot files, a writer's temporary names, do not count)."""
    for q in ("maildrop", "incoming", "active", "deferred"):
        d = os.path.join(spool, q)
        if os.path.isdir(d) and any(not f.startswith(".") for f in os.listdir(d)):
            return False
    return True


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours is not alive.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def stop_process(proc, timeout=10):
    """Stops a subprocess.Popen this test started: SIGTERM, then SIGKILL if it has not
    exited within timeout seconds. Does nothing when it has already ended (or is None)."""
    if proc is None or proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)


def class_tempdir(cls, prefix):
    """A new temporary folder for a test class, removed by its class cleanups (which run
    even when setUpClass fails half-way); kept when PST_KEEP is set."""
    tmp = tempfile.mkdtemp(prefix=prefix)
    if not os.environ.get("PST_KEEP"):
        cls.addClassCleanup(shutil.rmtree, tmp, ignore_errors=True)
    return tmp


def read_tail(path, limit=None):
    """The text of a log file, its last limit characters when limit is given; "" when it
    cannot be read."""
    try:
        with open(path, errors="replace") as f:
            text = f.read()
    except OSError:
        return ""
    return text[-limit:] if limit else text


def children_of(pid):
    """PIDs whose parent is pid, with their command names: {pid: comm}."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            out[int(d)] = comm
    return out


class Instance:
    """One private Postilion instance. Ports are chosen on a random 127.0.0.x address;
    `ports` names which services to enable (others are 0 = off)."""

    PORT_OPTIONS = ("smtp", "submission", "smtps", "pop3", "pop3s", "imap", "imaps")

    def __init__(self, name="pst", ports=("smtp",), extra_args=(), domain="example.test",
                 tls=False):
        self.name = name
        self.base = tempfile.mkdtemp(prefix=name + "-", dir=tmp_root())
        os.chmod(self.base, 0o755)
        self.config_dir = os.path.join(self.base, "etc")
        self.spool = os.path.join(self.base, "spool")
        self.maillog = os.path.join(self.base, "maillog")
        self.addr = pick_address()
        self.domain = domain
        self.hostname = "mail." + domain
        self.ports = {p: (free_port(self.addr) if p in ports else 0) for p in self.PORT_OPTIONS}
        self.extra_args = list(extra_args)
        self.tls = tls
        self.started_pids = []

    # ---- commands --------------------------------------------------------------
    def ctl(self, *args, timeout=60, check=False):
        """Runs postilionctl -c CONFIG_DIR args...; returns the CompletedProcess."""
        cmd = [sbin("postilionctl"), "-c", self.config_dir] + [str(a) for a in args]
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError("%s exited %d\nstdout: %s\nstderr: %s" %
                                 (" ".join(cmd), r.returncode, r.stdout, r.stderr))
        return r

    def init(self, *more):
        args = ["init", "--listen", self.addr, "--hostname", self.hostname,
                "--domain", self.domain, "--spool", self.spool, "--prefix", prefix(),
                "--maillog", self.maillog]
        for p, v in self.ports.items():
            args += ["--%s-port" % p, str(v)]
        if self.tls:
            args.append("--tls-selfsigned")
        return self.ctl(*(args + self.extra_args + list(more)), check=True)

    def start(self):
        r = self.ctl("start")
        # Recorded even when start failed: a master that never became ready is still ours.
        pid = self.master_pid()
        if pid and pid not in self.started_pids:
            self.started_pids.append(pid)
        if r.returncode != 0:
            raise AssertionError("postilionctl start exited %d: %s%s" %
                                 (r.returncode, r.stdout, r.stderr))
        return r

    def stop(self):
        """Stops every master this instance started, by PID: SIGTERM (the master's clean
        stop), then SIGKILL if it has not exited within the deadline."""
        for pid in self.started_pids:
            if not pid_alive(pid):
                continue
            os.kill(pid, signal.SIGTERM)
            try:
                wait_for(lambda: not pid_alive(pid), 30, "master %d to exit" % pid)
            except AssertionError:
                self.kill_pid(pid)

    def kill_pid(self, pid):
        if pid in self.started_pids and pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
            wait_for(lambda: not pid_alive(pid), 10, "pid %d to die" % pid)

    # ---- state -------------------------------------------------------------------
    @property
    def pid_file(self):
        return os.path.join(self.spool, "pid", "master.pid")

    @property
    def control_socket(self):
        return os.path.join(self.spool, "pid", "master.ctl")

    def master_pid(self):
        try:
            with open(self.pid_file) as f:
                pid = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if pid_alive(pid) else None

    def status(self):
        return self.ctl("status")

    def wait_ready(self, timeout=DEFAULT_TIMEOUT):
        wait_for(lambda: self.status().returncode == 0, timeout, "instance ready")

    def children(self):
        pid = self.master_pid()
        return children_of(pid) if pid else {}

    def log_text(self):
        try:
            with open(self.maillog, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def wait_log(self, needle, timeout=DEFAULT_TIMEOUT, start=0):
        """Waits until needle appears in the maillog after byte offset start."""
        return wait_for(lambda: needle in self.log_text()[start:], timeout,
                        "%r in %s" % (needle, self.maillog))

    def main_conf(self):
        return os.path.join(self.config_dir, "main.conf")

    def master_conf(self):
        return os.path.join(self.config_dir, "master.conf")

    def dump(self, out=sys.stderr):
        out.write("---- %s: maillog %s ----\n" % (self.name, self.maillog))
        out.write(self.log_text()[-20000:] or "(empty)\n")
        out.write("---- end of %s maillog ----\n" % self.name)


class LogsOnFailure(unittest.TestCase):
    """A test case that shows what its daemons logged when one of its tests fails:
    subclasses write that in on_failure()."""

    def on_failure(self):
        pass

    def run(self, result=None):
        before = (len(result.failures) + len(result.errors)) if result else 0
        r = super().run(result)
        res = result or r
        if res is not None and len(res.failures) + len(res.errors) > before:
            self.on_failure()
        return r


class InstanceTestCase(LogsOnFailure):
    """A test case whose instances are stopped afterwards and whose maillogs are printed
    when the test fails."""

    def setUp(self):
        self.instances = []
        prefix()  # install (or fail) before the test body

    def make_instance(self, **kw):
        inst = Instance(name=kw.pop("name", self._testMethodName.replace("test_", "")[:20]), **kw)
        self.instances.append(inst)
        self.addCleanup(inst.stop)
        return inst

    def started_instance(self, **kw):
        require_daemon(self, "master")
        inst = self.make_instance(**kw)
        inst.init()
        inst.start()
        inst.wait_ready()
        return inst

    def on_failure(self):
        for inst in getattr(self, "instances", []):
            inst.dump()


def main():
    """Entry point for running one test file by itself."""
    try:
        unittest.main(verbosity=2)
    finally:
        cleanup_tmp_root()
