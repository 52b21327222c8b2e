# tests/dns/unbound.py - a private unbound on a loopback address and port of its own
# (tests/harness.py: address(), port()), serving test zones from local-zone/local-data,
# run in the foreground (-d) by the test and stopped by its PID. Sends nothing beyond
# 127.0.0.0/8: every zone is local.
import os
import shutil
import socket
import struct
import subprocess
import time

import harness  # tests/ is on sys.path for every test that imports this module

UNBOUND = shutil.which("unbound") or "/usr/sbin/unbound"


def config_text(address, port, zones, workdir, extra=""):
    """unbound.conf for zones: {zone: [record lines in zone-file syntax]}.
    A zone with no records still exists (names under it are NXDOMAIN)."""
    lines = [
        "server:",
        "  interface: %s" % address,
        "  port: %d" % port,
        "  do-ip6: no",
        "  do-not-query-localhost: no",
        '  username: ""',
        '  chroot: ""',
        '  directory: "%s"' % workdir,
        '  pidfile: "%s"' % os.path.join(workdir, "unbound.pid"),
        "  use-syslog: no",
        '  logfile: ""',
        "  verbosity: 1",
        "  num-threads: 1",
        "  access-control: 127.0.0.0/8 allow",
        "  module-config: \"iterator\"",
        "  cache-max-ttl: 5",
        "  cache-max-negative-ttl: 5",
    ]
    for zone, records in zones.items():
        lines.append('  local-zone: "%s." static' % zone.rstrip("."))
        for r in records:
            # A record holding double quotes (TXT) is written in single quotes.
            q = "'" if '"' in r else '"'
            lines.append("  local-data: %s%s%s" % (q, r, q))
    lines.append("remote-control:")
    lines.append("  control-enable: no")
    return "\n".join(lines) + "\n" + extra


def dns_query(address, port, name, qtype=1, timeout=0.5):
    """One UDP query; returns the rcode or None on timeout."""
    qid = os.getpid() & 0xffff
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack(">HH", qtype, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(q, (address, port))
        data, _ = s.recvfrom(4096)
        return data[3] & 0x0f
    except OSError:
        return None
    finally:
        s.close()


class Unbound:
    """A running unbound: start() waits until it answers; stop() ends it by PID."""

    def __init__(self, workdir, zones, address=None, port=None, extra=""):
        self.workdir = workdir
        self.address = address or harness.address()
        self.port = port or harness.port()
        self.zones = zones
        self.extra = extra
        self.proc = None
        os.makedirs(workdir, exist_ok=True)
        self.conf = os.path.join(workdir, "unbound.conf")
        self.log = os.path.join(workdir, "unbound.log")

    @property
    def server(self):
        """The dns_servers value for Postilion: address@port."""
        return "%s@%d" % (self.address, self.port)

    def start(self, timeout=15.0):
        with open(self.conf, "w") as f:
            f.write(config_text(self.address, self.port, self.zones, self.workdir, self.extra))
        r = subprocess.run([UNBOUND + "-checkconf", self.conf], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True) if os.path.exists(UNBOUND + "-checkconf") else None
        if r is not None and r.returncode != 0:
            raise RuntimeError("unbound-checkconf: " + r.stdout)
        logf = open(self.log, "w")
        self.proc = subprocess.Popen([UNBOUND, "-d", "-c", self.conf], stdout=logf, stderr=subprocess.STDOUT)
        logf.close()
        zone = next(iter(self.zones))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("unbound exited: " + self.log_text())
            if dns_query(self.address, self.port, zone, 6) is not None:
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("unbound did not answer within %.0fs: %s" % (timeout, self.log_text()))

    def stop(self):
        harness.stop_process(self.proc)
        self.proc = None

    def log_text(self):
        return harness.read_tail(self.log, 4000)
