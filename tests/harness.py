# tests/harness.py - what every integration test shares: finding Postilion's programs,
# waiting for things, loopback addresses and ports, and private Postilion instances.
#
# Programs: program(name) is $BUILD_DIR's build of it when BUILD_DIR is set, else the
# installed tree's; require_program() fails a test when the source builds the program but
# it is not there, and skips it only while no Makefile.am builds it (not written yet) or,
# for a test helper that is never installed (relay_probe), while BUILD_DIR is unset. The
# installed tree is made once per test run (`make install prefix=...` from $BUILD_DIR),
# or taken from $PST_PREFIX. The tools the tests use (swaks, unbound, ...) are not looked
# for here: scripts/check-deps, run-all's first step, fails when one is missing, and a
# test never skips for want of one.
#
# Waiting: tests wait for conditions with deadlines (wait_for, wait_listening,
# wait_socket), never by sleeping; they stop only the processes they started, by PID.
#
# Addresses and ports: every listener a test starts - an instance, a stand-alone daemon,
# an SMTP sink, unbound, nsd - listens on an address no other process on the machine
# uses. Each test process holds a block of the loopback net, 127.B.0.0/16, for as long as
# it lives: it claims B by binding the abstract Unix socket "@postilion-tests/127.B",
# which the kernel lets only one socket hold in the network namespace (a chroot shares
# it) and releases when the process ends, however it ends. address() hands out the
# block's addresses, each once. port() hands out port numbers below the kernel's range
# for ephemeral ports (net.ipv4.ip_local_port_range), which no connect() or bind to port
# 0 on the machine is ever given; on an address of our own nobody binds them by number
# either. So the port a daemon is told is still free when it binds it: there is no
# bind-close-rebind race, as there was when free_port() bound port 0, closed the socket
# and handed the number on for anyone to take meanwhile. (port() makes sure once that no
# wildcard listener of the machine's holds the number: that is set-up, not a race.)
#
# An Instance lives in its own temp dir: config dir, spool and maillog, on an address()
# with port()s, made by `postilionctl init` from the installed tree.
import os
import pwd
import random
import re
import shutil
import signal
import socket
import ssl
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


def _built(name):
    """$BUILD_DIR/FOLDER/name, where FOLDER is the source folder whose Makefile.am builds
    the program; None when none does or it is not built. A reused build folder may still
    hold a program a folder built before it moved (smtpd/anvil before anvil/ had its
    own): the source tree, not what lies in the build folder, says which one is current."""
    build = os.environ.get("BUILD_DIR")
    if not build or not os.path.isdir(build):
        return None
    found = source_of(name)
    if found is None:
        return None
    path = os.path.join(build, found[0], name)
    return path if os.path.isfile(path) and os.access(path, os.X_OK) else None


def program(name):
    """The path of a Postilion program: $BUILD_DIR's build when BUILD_DIR is set and it
    is built there (test helpers such as relay_probe are only there), else the installed
    tree's (sbin/ for commands, libexec/postilion/ for daemons)."""
    built = _built(name)
    if built:
        return built
    if os.path.exists(sbin(name)):
        return sbin(name)
    return os.path.join(daemon_dir(), name)


_PRIMARY_RX = re.compile(r"^(\w+)_PROGRAMS\s*\+?=(.*)$", re.M)
_programs_in_source = None


def _source_programs():
    """{program: [(folder relative to ROOT, primary)...]} from every Makefile.am's
    *_PROGRAMS (unit test programs of one name live in several folders)."""
    global _programs_in_source
    if _programs_in_source is None:
        table = {}
        for dirpath, dirnames, filenames in os.walk(ROOT):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            if "Makefile.am" not in filenames:
                continue
            with open(os.path.join(dirpath, "Makefile.am")) as f:
                text = f.read().replace("\\\n", " ")
            for m in _PRIMARY_RX.finditer(text):
                for prog in m.group(2).split():
                    if prog.startswith("$"):
                        continue
                    table.setdefault(prog, []).append((os.path.relpath(dirpath, ROOT), m.group(1)))
        _programs_in_source = table
    return _programs_in_source


def source_of(name):
    """(folder, primary) of the Makefile.am that builds the program, or None; an error
    when several folders build one of that name."""
    found = _source_programs().get(name)
    if not found:
        return None
    if len(found) > 1:
        raise HarnessError("more than one folder builds a program named %s: %s"
                           % (name, ", ".join(f for f, _ in found)))
    return found[0]


def in_source(name):
    """How the source builds a program of that name: the primary of the Makefile.am line
    that lists it ("sbin", "pkglibexec", "noinst", "check"...), or None."""
    found = source_of(name)
    return found[1] if found else None


def require_program(name):
    """program(name), for a test (or a setUpClass) that needs it. Skips while no
    Makefile.am builds the program (not written yet), and for a helper that is never
    installed (relay_probe) when BUILD_DIR is unset; fails when it should be there."""
    path = program(name)
    if os.access(path, os.X_OK):
        return path
    primary = in_source(name)
    if primary is None:
        raise unittest.SkipTest("%s not written yet" % name)
    if primary in ("noinst", "check") and not os.environ.get("BUILD_DIR"):
        raise unittest.SkipTest("%s is a test helper that is not installed: set BUILD_DIR" % name)
    raise AssertionError("%s is in the source tree but was not built (not found in %s nor %s)"
                         % (name, os.environ.get("BUILD_DIR") or "(BUILD_DIR unset)", os.path.dirname(path)))


def require_daemon(test, name):
    """Skips while a daemon's code has not been written; fails if written but not
    installed."""
    if have_daemon(name):
        return
    if in_source(name):
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


def listening(addr, port):
    """True when something accepts TCP connections on addr:port."""
    try:
        socket.create_connection((addr, port), timeout=1).close()
        return True
    except OSError:
        return False


def wait_listening(addr, port, proc=None, timeout=DEFAULT_TIMEOUT, what=None, log=None):
    """Waits until addr:port accepts connections. When proc (a Popen) is given and exits
    first, fails at once with its exit status and log() (a callable), if given."""
    def ready():
        if proc is not None and proc.poll() is not None:
            raise AssertionError("%s exited %s before listening on %s:%d%s"
                                 % (what or proc.args[0], proc.returncode, addr, port,
                                    (":\n" + log()) if log else ""))
        return listening(addr, port)
    wait_for(ready, timeout, "%s listening on %s:%d" % (what or "a server", addr, port))


def wait_socket(path, proc=None, timeout=DEFAULT_TIMEOUT, what=None, log=None):
    """Waits until the Unix socket path exists; fails at once when proc exits first."""
    def ready():
        if proc is not None and proc.poll() is not None:
            raise AssertionError("%s exited %s before making %s%s"
                                 % (what or proc.args[0], proc.returncode, path,
                                    (":\n" + log()) if log else ""))
        return os.path.exists(path)
    wait_for(ready, timeout, "%s socket %s" % (what or "a server's", path))


# ---- loopback addresses and ports (see the header) ---------------------------------------
class Loopback:
    """This process's block of 127.0.0.0/8, its addresses and its ports."""

    FIRST_BLOCK = 16  # 127.0-15.x.x stay for the machine's and older tests' own addresses

    def __init__(self):
        self.claim = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        blocks = list(range(self.FIRST_BLOCK, 255))
        start = random.randrange(len(blocks))
        for b in blocks[start:] + blocks[:start]:
            try:
                self.claim.bind("\0postilion-tests/127.%d" % b)
            except OSError:
                continue
            self.block = b
            break
        else:
            raise HarnessError("every 127.B.0.0/16 block is held by another test process")
        self.next_address = 0
        self.probe_addr = "127.%d.0.1" % self.block  # port() probes here; no listener uses it
        lo, hi = self.ephemeral_range()
        if lo - 1024 >= 2000:
            self.ports = range(max(1024, lo - 10000), lo)
        elif 65535 - hi >= 2000:
            self.ports = range(hi + 1, min(65536, hi + 10001))
        else:
            raise HarnessError("ip_local_port_range %d-%d leaves no ports outside it" % (lo, hi))
        self.next_port = 0

    @staticmethod
    def ephemeral_range():
        try:
            with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
                lo, hi = (int(x) for x in f.read().split())
            return lo, hi
        except (OSError, ValueError):
            return 32768, 60999  # Linux's default

    def address(self):
        n = self.next_address
        if n >= 255 * 254:
            raise HarnessError("this process has used all the addresses of 127.%d.0.0/16" % self.block)
        self.next_address += 1
        return "127.%d.%d.%d" % (self.block, 1 + n // 254, 1 + n % 254)

    def port(self):
        for _ in range(len(self.ports)):
            p = self.ports[self.next_port % len(self.ports)]
            self.next_port += 1
            if self._bindable(p):
                return p
        raise HarnessError("no port in %d-%d can be bound" % (self.ports[0], self.ports[-1]))

    def _bindable(self, p):
        """False when a wildcard socket of the machine's holds number p (TCP or UDP)."""
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            s = socket.socket(socket.AF_INET, kind)
            try:
                s.bind((self.probe_addr, p))
            except OSError:
                return False
            finally:
                s.close()
        return True


_loopback = None


def loopback():
    global _loopback
    if _loopback is None:
        _loopback = Loopback()
    return _loopback


def address():
    """A new loopback address of this process's own: no other process listens on it."""
    return loopback().address()


def port():
    """A port number to hand to a listener on one of address()'s addresses (or several:
    the same number may serve on many of them). A new number each call."""
    return loopback().port()


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


def process_table():
    """Every live process: {pid: (parent pid, command name)}, from one pass over /proc."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z":
            out[int(d)] = (int(fields[1]), stat[stat.index("(") + 1:stat.rindex(")")])
    return out


def children_of(pid):
    """PIDs whose parent is pid, with their command names: {pid: comm}."""
    return {p: comm for p, (ppid, comm) in process_table().items() if ppid == pid}


def tls_client_context():
    """A TLS client context that takes any certificate (the instances' are self-signed)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Instance:
    """One private Postilion instance, on an address() of its own unless addr is given.
    `ports` names the services to enable, each on a new port(), or maps names to port
    numbers; the others are 0 (off)."""

    PORT_OPTIONS = ("smtp", "submission", "smtps", "pop3", "pop3s", "imap", "imaps")

    def __init__(self, name="pst", ports=("smtp",), extra_args=(), domain="example.test",
                 tls=False, addr=None, hostname=None):
        self.name = name
        self.base = tempfile.mkdtemp(prefix=name + "-", dir=tmp_root())
        os.chmod(self.base, 0o755)
        self.config_dir = os.path.join(self.base, "etc")
        self.spool = os.path.join(self.base, "spool")
        self.maillog = os.path.join(self.base, "maillog")
        self.addr = addr or address()
        self.domain = domain
        self.hostname = hostname or "mail." + domain
        numbers = ports if isinstance(ports, dict) else {p: port() for p in ports}
        self.ports = {p: numbers.get(p, 0) for p in self.PORT_OPTIONS}
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
            try:
                self.on_failure()
            except Exception as e:  # showing the logs must never stop the whole run
                sys.stderr.write("on_failure of %s: %r\n" % (self.id(), e))
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
