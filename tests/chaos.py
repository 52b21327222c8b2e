#!/usr/bin/env python3
"""tests/chaos.py - kill -9 any Postilion daemon at any moment under load, and account for
every message that got a 250.

Two private instances under master(8): "front" takes mail over SMTP (smtplib clients,
several at once) for a virtual mailbox of its own (smtpd -> qmgr -> virtual) and for a
domain it relays (qmgr -> smtp -> the resolver) to "sink", a second instance that
delivers it into a virtual mailbox too. An IMAP client (imaplib) and a POP3 client
(poplib) read the front's mailbox all along (through auth, imapd and pop3d), without
deleting. Meanwhile a killer sends SIGKILL to a random daemon of either instance at
random moments - smtpd, qmgr, virtual, smtp, resolver, auth, anvil, imapd, pop3d, their
session processes, whatever master runs - and, every few kills, to the front's master
itself, which is then started again as systemd would (`postilionctl start`). At the end,
with no more kills, both queues drain and every message acknowledged with 250 must be in
its mailbox: the run prints

    chaos: acknowledged N, delivered N, lost 0, duplicated D

and fails on any loss. Duplicates are allowed (counted): a kill between a delivery and the
write of its status makes the retry deliver again, as the queue-file discipline says.

By hand (a long run):   BUILD_DIR=build python3 tests/chaos.py --seconds 600
In the test suite:      tests/test_chaos.py runs it for PST_CHAOS_SECONDS (default 40).
Bounded: the load runs --seconds, at most --messages messages; draining waits at most
--drain seconds.
"""
import argparse
import email
import email.policy
import glob
import imaplib
import os
import poplib
import pwd
import random
import signal
import smtplib
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from test_pop3d import sha512_crypt  # noqa: E402

ROOT = os.geteuid() == 0
PASSWORD = "chaos password"
FRONT_DOMAIN, SINK_DOMAIN = "front.test", "sink.test"
FAST_RETRY = {
    "minimal_backoff_time": "1s",
    "maximal_backoff_time": "2s",
    "queue_run_delay": "1s",
    "smtp_connect_timeout": "2s",
    "mynetworks": "127.0.0.0/8",
    # the load comes from one address: no per-client limits in the way
    "smtpd_client_connection_count_limit": "0",
    "imapd_client_connection_count_limit": "0",
    "pop3d_client_connection_count_limit": "0",
}


class Side:
    """One instance with a virtual mailbox domain and one user in it."""

    def __init__(self, name, domain, ports, owner, extra):
        # The instance's own domain is another (mydestination): the mailbox domain is virtual.
        self.inst = harness.Instance(name=name, ports=ports, domain="host." + domain, tls=True)
        self.domain = domain
        self.user = "u@" + domain
        init_extra = ["--user", "postilion"] if ROOT and harness.user_exists("postilion") else []
        self.inst.init(*init_extra)
        self.base = os.path.join(self.inst.base, "vmail")
        os.makedirs(self.base)
        os.chown(self.base, owner.pw_uid, owner.pw_gid)
        self.maildir = os.path.join(self.base, domain, "u")
        # Made before the first delivery, so that the readers find it from the start.
        for sub in ("", "tmp", "new", "cur"):
            os.makedirs(os.path.join(self.maildir, sub), exist_ok=True)
        for d in (os.path.join(self.base, domain), self.maildir) + tuple(
                os.path.join(self.maildir, sub) for sub in ("tmp", "new", "cur")):
            os.chown(d, owner.pw_uid, owner.pw_gid)
        table = os.path.join(self.inst.config_dir, "vmailbox")
        with open(table, "w") as f:
            f.write("%s %s/u/\n" % (self.user, domain))
        self.inst.ctl("map", "build", table, check=True)
        users = os.path.join(self.inst.config_dir, "users")
        with open(users, "w") as f:
            f.write("%s %s:%d:%d:%s/\n" % (self.user, sha512_crypt(PASSWORD), owner.pw_uid, owner.pw_gid,
                                           self.maildir))
        self.inst.ctl("map", "build", users, check=True)
        conf = dict(FAST_RETRY)
        conf.update({
            "virtual_mailbox_domains": domain,
            "virtual_mailbox_maps": "hash:" + table,
            "virtual_mailbox_base": self.base,
            "virtual_uid_maps": "static:%d" % owner.pw_uid,
            "virtual_gid_maps": "static:%d" % owner.pw_gid,
            "virtual_minimum_uid": str(min(100, owner.pw_uid)),
            "auth_backends": "virtual",
            "auth_virtual_users": "hash:" + users,
        })
        conf.update(extra)
        with open(self.inst.main_conf(), "a") as f:
            for k, v in conf.items():
                f.write("%s = %s\n" % (k, v))

    def start(self):
        self.inst.start()
        self.inst.wait_ready()

    def messages(self):
        """The chaos numbers of the messages in the mailbox (new/ and cur/), with repeats."""
        out = []
        for path in glob.glob(os.path.join(self.maildir, "new", "*")) + glob.glob(os.path.join(self.maildir, "cur", "*")):
            try:
                with open(path, "rb") as f:
                    m = email.message_from_binary_file(f, policy=email.policy.compat32)
            except FileNotFoundError:
                continue  # moved from new/ to cur/ while listed: seen in cur/
            n = m.get("X-Chaos")
            if n is not None:
                out.append(int(n))
        return out


class Chaos:
    def __init__(self, seconds, messages, senders, seed, log=print):
        self.seconds, self.max_messages, self.senders = seconds, messages, senders
        self.rnd = random.Random(seed)
        self.log = log
        owner = pwd.getpwnam("nobody") if ROOT else pwd.getpwuid(os.getuid())
        self.sink = Side("chaos-sink", SINK_DOMAIN, ("smtp",), owner, {})
        self.front = Side("chaos-front", FRONT_DOMAIN, ("smtp", "imap", "pop3"), owner, {
            "transport_maps": "inline:{%s=smtp:[%s]:%d}" % (SINK_DOMAIN, self.sink.inst.addr,
                                                           self.sink.inst.ports["smtp"]),
        })
        self.lock = threading.Lock()
        self.acked = {}          # number -> the side it is for
        self.refused = 0         # sends that got no 250 (not owed)
        self.kills = {}          # daemon name -> count
        self.master_restarts = 0
        self.reads = {"imap": 0, "pop3": 0, "imap_errors": 0, "pop3_errors": 0}
        self.stop = threading.Event()
        self.next_number = 0

    # ---- load ----------------------------------------------------------------------
    def take_number(self):
        with self.lock:
            if self.next_number >= self.max_messages:
                return None
            self.next_number += 1
            return self.next_number

    def sender(self, seed):
        rnd = random.Random(seed)
        inst = self.front.inst
        while not self.stop.is_set():
            n = self.take_number()
            if n is None:
                return
            side = self.front if rnd.random() < 0.6 else self.sink
            body = "\r\n".join(["x" * 76] * rnd.choice((1, 3, 40, 500)))
            msg = ("From: load@remote.test\r\nTo: %s\r\nSubject: chaos %d\r\nX-Chaos: %d\r\n\r\n%s\r\n"
                   % (side.user, n, n, body))
            try:
                with smtplib.SMTP(inst.addr, inst.ports["smtp"], timeout=20) as s:
                    s.sendmail("load@remote.test", [side.user], msg)
                with self.lock:
                    self.acked[n] = side
            except (smtplib.SMTPException, OSError):
                with self.lock:
                    self.refused += 1
                time.sleep(rnd.uniform(0.01, 0.1))

    def imap_reader(self):
        inst = self.front.inst
        ctx = harness.tls_client_context()
        while not self.stop.wait(0.2):
            try:
                with imaplib.IMAP4(inst.addr, inst.ports["imap"], timeout=20) as c:
                    c.starttls(ctx)
                    c.login(self.front.user, PASSWORD)
                    c.select("INBOX", readonly=True)
                    typ, data = c.uid("SEARCH", None, "ALL")
                    uids = data[0].split() if typ == "OK" and data and data[0] else []
                    if uids:
                        c.uid("FETCH", uids[-1], "(BODY.PEEK[HEADER.FIELDS (X-Chaos)])")
                    c.logout()
                self.reads["imap"] += 1
            except (imaplib.IMAP4.error, OSError, EOFError):
                self.reads["imap_errors"] += 1

    def pop3_reader(self):
        inst = self.front.inst
        ctx = harness.tls_client_context()
        while not self.stop.wait(0.2):
            try:
                c = poplib.POP3(inst.addr, inst.ports["pop3"], timeout=20)
                try:
                    c.stls(ctx)
                    c.user(self.front.user)
                    c.pass_(PASSWORD)
                    count, _ = c.stat()
                    if count:
                        c.top(count, 0)
                    c.quit()
                finally:
                    c.close()
                self.reads["pop3"] += 1
            except (poplib.error_proto, OSError, EOFError):
                self.reads["pop3_errors"] += 1

    # ---- kills ---------------------------------------------------------------------
    def daemons(self):
        """{pid: (side, comm)} of every process below either master."""
        procs = harness.process_table()
        out = {}
        for side in (self.front, self.sink):
            master = side.inst.master_pid()
            if not master:
                continue
            for pid, (ppid, comm) in procs.items():
                p, hops = ppid, 0
                while p and p != master and hops < 8:  # up the tree to the master, if it is ours
                    p, hops = procs.get(p, (0, ""))[0], hops + 1
                if p == master:
                    out[pid] = (side, comm)
        return out

    def restart_front_master(self):
        inst = self.front.inst
        pid = inst.master_pid()
        if not pid:
            return
        before = set(harness.children_of(pid))
        os.kill(pid, signal.SIGKILL)
        harness.wait_for(lambda: not harness.pid_alive(pid), 10, "master to die")
        # Its children end too (idle ones at once, busy ones when their work is done);
        # the listening sockets are free once they have.
        harness.wait_for(lambda: not any(harness.pid_alive(p) for p in before), 60, "the old daemons to end")
        inst.start()
        inst.wait_ready()
        self.master_restarts += 1

    def killer(self):
        """Rounds over every kind of daemon running (instance and name), in a new random
        order each round, so each kind dies about as often as the others; the pid within a
        kind (one of several smtpd, say) is random."""
        n = 0
        todo = []
        while not self.stop.wait(self.rnd.uniform(0.05, 0.6)):
            n += 1
            if n % 25 == 0:
                self.restart_front_master()
                continue
            procs = self.daemons()
            if not procs:
                continue
            kinds = sorted({(id(side) == id(self.front), comm) for side, comm in procs.values()})
            if not todo:
                todo = kinds[:]
                self.rnd.shuffle(todo)
            want = todo.pop()
            pids = sorted(p for p, (side, comm) in procs.items() if (id(side) == id(self.front), comm) == want)
            if not pids:
                continue
            pid = self.rnd.choice(pids)
            side, comm = procs[pid]
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            key = "%s:%s" % ("front" if side is self.front else "sink", comm)
            self.kills[key] = self.kills.get(key, 0) + 1

    # ---- the run -------------------------------------------------------------------
    def run(self, drain):
        self.sink.start()
        self.front.start()
        threads = [threading.Thread(target=self.sender, args=(i,), daemon=True) for i in range(self.senders)]
        threads += [threading.Thread(target=self.imap_reader, daemon=True),
                    threading.Thread(target=self.pop3_reader, daemon=True)]
        killer = threading.Thread(target=self.killer, daemon=True)
        for t in threads:
            t.start()
        killer.start()
        deadline = time.monotonic() + self.seconds
        while time.monotonic() < deadline and any(t.is_alive() for t in threads[:self.senders]):
            time.sleep(0.5)
        self.stop.set()
        killer.join(90)
        for t in threads:
            t.join(30)
        # No more kills: whatever a kill left behind is retried and delivered.
        for side in (self.front, self.sink):
            if not side.inst.master_pid():
                side.start()
        harness.wait_for(lambda: all(harness.queue_empty(s.inst.spool) for s in (self.front, self.sink)),
                         drain, "both queues to drain")
        time.sleep(1)  # a delivery that is late to its mailbox would be counted
        return self.tally()

    def tally(self):
        seen, where = {}, {}
        for side in (self.front, self.sink):
            where[side] = set()
            for n in side.messages():
                seen[n] = seen.get(n, 0) + 1
                where[side].add(n)
        lost = sorted(n for n in self.acked if n not in seen)
        wrong_box = sorted(n for n, side in self.acked.items() if n in seen and n not in where[side])
        duplicated = sum(c - 1 for c in seen.values())
        delivered = sum(1 for n in self.acked if n in seen)
        kills = sum(self.kills.values())
        self.log("chaos: %d kills (%s), %d master restarts; %d sends refused; reads imap %d (%d failed), "
                 "pop3 %d (%d failed)" % (kills, ", ".join("%s %d" % kv for kv in sorted(self.kills.items())),
                                         self.master_restarts, self.refused, self.reads["imap"],
                                         self.reads["imap_errors"], self.reads["pop3"], self.reads["pop3_errors"]))
        self.log("chaos: acknowledged %d, delivered %d, lost %d, duplicated %d"
                 % (len(self.acked), delivered, len(lost), duplicated))
        return {"acknowledged": len(self.acked), "delivered": delivered, "lost": lost, "duplicated": duplicated,
                "wrong_box": wrong_box, "kills": kills, "master_restarts": self.master_restarts,
                "kinds": sorted(self.kills)}

    def cleanup(self):
        self.stop.set()
        for side in (self.front, self.sink):
            side.inst.stop()

    def dump(self):
        for side in (self.front, self.sink):
            side.inst.dump()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=120, help="how long the load and the kills last")
    ap.add_argument("--messages", type=int, default=100000, help="at most this many messages")
    ap.add_argument("--senders", type=int, default=4, help="SMTP clients at once")
    ap.add_argument("--drain", type=float, default=300, help="how long the queues may take to drain")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    args = ap.parse_args()
    print("chaos: seed %d" % args.seed)
    c = Chaos(args.seconds, args.messages, args.senders, args.seed)
    ok = False
    try:
        r = c.run(args.drain)
        ok = not r["lost"] and not r["wrong_box"]
    finally:
        if not ok:
            c.dump()
        c.cleanup()
        harness.cleanup_tmp_root()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
