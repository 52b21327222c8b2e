"""bench/benchlib.py - shared pieces of Postilion's benchmarks.

Runs Postfix and Dovecot (Debian's packages) as private instances in a scratch folder,
beside a private Postilion instance, so every figure is measured on the same machine in
the same run. Figures, not assertions: the scripts print msgs/s, CPU ms per message and
latencies; nothing here passes or fails on a number.
"""
import contextlib
import ctypes
import os
import pwd
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TOP, "tests"))
import harness  # noqa: E402  (programs, waits, addresses and ports: one place for all)


def log(msg):
    print(msg, flush=True)


_checked = False


def need(only=None):
    """Exits, naming the packages, unless everything scripts/deps lists for the benchmarks
    is there (scripts/install-deps --bench installs it); with `only` (names as
    scripts/deps spells them), unless those are there."""
    global _checked
    if _checked:
        return
    r = subprocess.run(["bash", os.path.join(TOP, "scripts", "check-deps"), "bench"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        missing = [l for l in r.stdout.splitlines() if l.startswith("missing: ")]
        if only is None or any(l.split()[1] in only for l in missing):
            sys.exit(r.stdout + "bench: scripts/install-deps --bench installs what is missing")
        return
    _checked = True


def _proc_stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    # comm may hold spaces: fields start after the last ')'.
    rest = data[data.rindex(")") + 2:].split()
    ppid = int(rest[1])
    utime, stime, cutime, cstime = (int(x) for x in rest[11:15])
    return ppid, utime + stime + cutime + cstime


def tree_cpu(root_pid):
    """CPU seconds used so far by root_pid and all its descendants, including the
    children they already reaped (cutime/cstime), so short-lived workers count too."""
    parents, cpu = {}, {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            parents[int(name)], cpu[int(name)] = _proc_stat(int(name))
        except (OSError, ValueError, IndexError):
            continue
    total = 0
    for pid in cpu:
        p = pid
        while p and p != root_pid:
            p = parents.get(p, 0)
        if p == root_pid:
            total += cpu[pid]
    return total / os.sysconf("SC_CLK_TCK")


def disk_flushes():
    """Cache flushes the block devices have completed so far (the 16th field of
    /sys/block/*/stat, Linux 5.5 and later; None where the kernel does not count them).
    Whole-machine: only meaningful while nothing else writes."""
    total, seen = 0, False
    for dev in os.listdir("/sys/block"):
        try:
            with open(f"/sys/block/{dev}/stat") as f:
                fields = f.read().split()
        except OSError:
            continue
        if len(fields) >= 16:
            total += int(fields[15])
            seen = True
    return total if seen else None


class Measure:
    """Wall time, CPU used by the server's process tree (rooted at its master's pid),
    and the disk's cache flushes between enter and exit. Other load on the machine does
    not count in the CPU figure; the flush count is the whole machine's."""

    def __init__(self, server_pid):
        self.pid = server_pid

    def __enter__(self):
        self.cpu0 = tree_cpu(self.pid)
        self.flush0 = disk_flushes()
        self.t0 = time.monotonic()
        return self

    def __exit__(self, *exc):
        self.wall = time.monotonic() - self.t0
        self.server_cpu = tree_cpu(self.pid) - self.cpu0
        f = disk_flushes()
        self.flushes = f - self.flush0 if f is not None and self.flush0 is not None else 0
        return False


class DirWatch:
    """Tells when a file appears in a folder (inotify: IN_CREATE for a link, as Postfix's
    local makes, IN_MOVED_TO for a rename, as Postilion's): the latency figures are
    taken when the kernel reports the new name, with no polling interval to round them."""

    IN_CREATE, IN_MOVED_TO, IN_NONBLOCK = 0x100, 0x80, 0o4000

    def __init__(self, folder):
        libc = ctypes.CDLL(None, use_errno=True)
        self.fd = libc.inotify_init1(self.IN_NONBLOCK)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        if libc.inotify_add_watch(self.fd, folder.encode(), self.IN_CREATE | self.IN_MOVED_TO) < 0:
            os.close(self.fd)
            raise OSError(ctypes.get_errno(), "inotify_add_watch " + folder)

    def drain(self):
        """Forgets what has been reported so far."""
        try:
            while os.read(self.fd, 65536):
                pass
        except BlockingIOError:
            pass

    def wait(self, timeout):
        """Waits for a new name; returns its monotonic arrival time, or None on timeout."""
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                return None
            try:
                if os.read(self.fd, 65536):
                    return time.monotonic()
            except BlockingIOError:
                pass

    def close(self):
        os.close(self.fd)


def smtp_source(addr, port, sessions, count, size, rcpt, sender="bench@bench.test"):
    """Postfix's standard SMTP load generator: count messages of size bytes over
    `sessions` parallel sessions. Returns wall seconds."""
    cmd = ["smtp-source", "-s", str(sessions), "-m", str(count), "-l", str(size),
           "-f", sender, "-t", rcpt, "-c", f"{addr}:{port}"]
    t0 = time.monotonic()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, timeout=600)
    return time.monotonic() - t0


MAIN_CF = """\
compatibility_level = 3.6
config_directory = {d}/etc
queue_directory = {d}/queue
data_directory = {d}/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
syslog_name = bench-postfix
maillog_file = {d}/maillog
maillog_file_prefixes = {d}
myhostname = mx.bench.test
mydomain = bench.test
myorigin = $mydomain
mydestination = bench.test, localhost
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relay_domains = relay.test, discard.test
transport_maps = inline:{{relay.test=smtp:[{sink}]:{sinkport}, discard.test=discard:}}
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
home_mailbox = Maildir/
alias_maps =
alias_database =
biff = no
mailbox_size_limit = 0
"""

MASTER_CF = """\
{addr}:{port} inet n     -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class Postfix:
    """A private Postfix instance (needs root, as Postfix does)."""

    def __init__(self, root, addr, port, sink_addr, sink_port, extra_main=""):
        need()
        self.dir = os.path.join(root, "postfix")
        self.addr, self.port = addr, port
        for sub in ("etc", "queue", "data"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        pf = pwd.getpwnam("postfix")
        os.chown(self.dir + "/data", pf.pw_uid, pf.pw_gid)
        os.chmod(self.dir, 0o755)
        os.chmod(os.path.dirname(self.dir), 0o755)
        with open(self.dir + "/etc/main.cf", "w") as f:
            f.write(MAIN_CF.format(d=self.dir, sink=sink_addr, sinkport=sink_port) + extra_main)
        with open(self.dir + "/etc/master.cf", "w") as f:
            f.write(MASTER_CF.format(addr=addr, port=port))

    def start(self):
        subprocess.run(["postfix", "-c", self.dir + "/etc", "start"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        harness.wait_listening(self.addr, self.port, what="postfix")

    def master_pid(self):
        with open(os.path.join(self.dir, "queue", "pid", "master.pid")) as f:
            return int(f.read().strip())

    def stop(self):
        subprocess.run(["postfix", "-c", self.dir + "/etc", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def queue_empty(self):
        for sub in ("incoming", "active", "maildrop"):
            p = os.path.join(self.dir, "queue", sub)
            for _, _, files in os.walk(p):
                if files:
                    return False
        return True


DOVECOT_CONF = """\
protocols = {protocols}
listen = {addr}
base_dir = {d}/run
state_dir = {d}/state
instance_name = bench-dovecot
log_path = {d}/dovecot.log
info_log_path = {d}/dovecot-info.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
first_valid_uid = 0
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/users
}}
userdb {{
  driver = static
  args = uid={user} gid={user} home={home}
}}
namespace inbox {{
  inbox = yes
}}
protocol imap {{
  mail_max_userip_connections = 200
}}
service imap-login {{
  inet_listener imap {{
    address = {addr}
    port = {imap}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
{pop3_service}service submission-login {{
  inet_listener submission {{
    port = 0
  }}
}}
"""

DOVECOT_POP3 = """\
protocol pop3 {{
  mail_max_userip_connections = 200
}}
service pop3-login {{
  inet_listener pop3 {{
    address = {addr}
    port = {pop3}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
"""


class Dovecot:
    """A private Dovecot serving one user's Maildir at home/Maildir, over IMAP and, when
    pop3_port is given, POP3 (dovecot-pop3d is needed only then)."""

    def __init__(self, root, addr, user, password, home, imap_port, pop3_port=None):
        need(None if pop3_port else ("doveadm", "/usr/lib/dovecot/imap"))
        self.dir = os.path.join(root, "dovecot")
        self.addr, self.imap_port, self.pop3_port = addr, imap_port, pop3_port
        os.makedirs(self.dir, exist_ok=True)
        with open(self.dir + "/users", "w") as f:
            f.write(f"{user}:{{PLAIN}}{password}\n")
        user_name = pwd.getpwuid(os.getuid()).pw_name
        pop3 = DOVECOT_POP3.format(addr=addr, pop3=pop3_port) if pop3_port else ""
        with open(self.dir + "/dovecot.conf", "w") as f:
            f.write(DOVECOT_CONF.format(d=self.dir, addr=addr, user=user_name, home=home, imap=imap_port,
                                        protocols="imap pop3" if pop3_port else "imap", pop3_service=pop3))

    def start(self):
        subprocess.run(["dovecot", "-c", self.dir + "/dovecot.conf"], check=True)
        harness.wait_listening(self.addr, self.pop3_port or self.imap_port, what="dovecot")
        # The master writes its pid file after its listeners are open.
        harness.wait_for(lambda: os.path.exists(os.path.join(self.dir, "run", "master.pid")), 30,
                         "dovecot's master.pid")

    def master_pid(self):
        with open(os.path.join(self.dir, "run", "master.pid")) as f:
            return int(f.read().strip())

    def stop(self):
        subprocess.run(["doveadm", "-c", self.dir + "/dovecot.conf", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@contextlib.contextmanager
def postilion_mailbox_server(root, daemon, addr, user, password, fill, extra_conf=""):
    """Postilion's auth(8) and DAEMON (imapd or pop3d) stand-alone from the build tree
    ($BUILD_DIR) in root/postilion, serving one virtual user (user, password) whose Maildir
    fill(path, owner) makes (owner: nobody when run as root, else None - the files are
    then the invoking user's). extra_conf: more main.conf lines. Yields (port, daemon's
    Popen, auth's Popen); both are stopped on the way out."""
    if not os.environ.get("BUILD_DIR") and not os.environ.get("PST_PREFIX"):
        sys.exit("bench: set BUILD_DIR to a built Postilion tree")
    as_root = os.geteuid() == 0
    d = os.path.join(root, "postilion")
    etc, spool = os.path.join(d, "etc"), os.path.join(d, "spool")
    os.makedirs(etc)
    os.makedirs(os.path.join(spool, "private"), mode=0o700)
    owner = pwd.getpwnam("nobody") if as_root else pwd.getpwuid(os.getuid())
    md = os.path.join(d, "mail", user, "Maildir")
    fill(md, owner if as_root else None)
    # The mailbox owner walks down to the Maildir (the scratch folder is made 0700).
    for p in (root, d, os.path.join(d, "mail")):
        os.chmod(p, 0o755)
    h = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=password, text=True,
                       stdout=subprocess.PIPE, check=True).stdout.strip()
    with open(os.path.join(etc, "users"), "w") as f:
        f.write("%s %s:%d:%d:%s/\n" % (user, h, owner.pw_uid, owner.pw_gid, md))
    with open(os.path.join(etc, "main.conf"), "w") as f:
        f.write("queue_directory = %s\nmail_owner = %s\nmaillog_file = %s/maillog\n"
                "auth_backends = virtual\nauth_virtual_users = hash:%s/users\n%s"
                % (spool, owner.pw_name, d, etc, extra_conf))
    open(os.path.join(etc, "master.conf"), "w").close()
    subprocess.run([harness.program("postilionctl"), "-c", etc, "map", "build",
                    os.path.join(etc, "users")], check=True)
    port = harness.port()
    auth = subprocess.Popen([harness.program("auth"), "--standalone", "-c", etc])
    server = subprocess.Popen([harness.program(daemon), "--standalone", "-c", etc,
                               "-l", "%s:%d" % (addr, port)])
    try:
        harness.wait_listening(addr, port, server, what=daemon)
        yield port, server, auth
    finally:
        for p in (server, auth):
            os.kill(p.pid, signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(10)


_scratch_dirs = []


def scratch():
    """A new scratch folder, removed by remove_scratch()."""
    d = tempfile.mkdtemp(prefix="pst-bench-")
    _scratch_dirs.append(d)
    return d


def remove_scratch():
    while _scratch_dirs:
        shutil.rmtree(_scratch_dirs.pop(), ignore_errors=True)


SETTLE_SECONDS = 61


def settle():
    """Writes back what earlier runs left dirty, then waits SETTLE_SECONDS (61 s): ext4
    without a journal does not reuse the inodes of files deleted in the last 60 s (360 s
    while their inode table block is dirty) and every file create walks past them, so
    the queue files one server deleted in its run would slow down the creates of the
    next run - the other server's. Each run starts from the same state of the disk and
    pays only for its own deletions."""
    os.sync()
    time.sleep(SETTLE_SECONDS)
