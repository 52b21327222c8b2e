# tests/test_topology.py - mail between hosts, as the project's mail-flow description
# tells it: four Postilion instances on their own loopback addresses, all listening on
# one high SMTP port (smtp_destination_port points every relay client at it), and a
# real unbound on a loopback address serving the test zones (the addresses are
# tests/harness.py's: this process's own):
#   mail.examplea.tst  users' host, relayhost mx.ispa.tst
#   mx.ispa.tst        ISP A's smarthost, delivers by MX
#   mx.ispb.tst        ISP B's MX (exampleb.tst MX 10), relays exampleb.tst on to
#                      [mail.exampleb.tst] (transport_maps)
#   mail.exampleb.tst  exampleb.tst MX 20; delivers to userb's Maildir, which userb reads
#                      over POP3 (pop3d + auth(8), a virtual user)
# userb's mail is delivered to an account of its own (a system user made for the test
# when it runs as root, since pop3d never runs a session as root; else the invoking user).
# Cases (asserted from mailboxes, POP3, queues and logs): 1 the whole path; 2 MX 10 down ->
# MX 20; 3 the final host down -> queued at mx.ispb.tst, retried, delivered when it is
# back; 4 no smarthost -> mail.examplea.tst delivers by MX itself; 5 null MX -> bounce
# to the sender, DNS server down -> deferred, not bounced.
import glob
import os
import pwd
import re
import smtplib
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from dns import unbound  # noqa: E402

USERB_ACCOUNT, USERB_PASSWORD = "psttopouserb", "pw-of-userb"

HOSTS = {
    "a": (harness.address(), "mail.examplea.tst", "examplea.tst"),
    "ispa": (harness.address(), "mx.ispa.tst", "ispa.tst"),
    "ispb": (harness.address(), "mx.ispb.tst", "ispb.tst"),
    "b": (harness.address(), "mail.exampleb.tst", "exampleb.tst"),
}
A, ISPA, ISPB, B = (HOSTS[k][0] for k in ("a", "ispa", "ispb", "b"))

ZONES = {
    "examplea.tst": ["examplea.tst. 30 IN MX 10 mail.examplea.tst.",
                     "mail.examplea.tst. 30 IN A " + A],
    "ispa.tst": ["mx.ispa.tst. 30 IN A " + ISPA],
    "ispb.tst": ["mx.ispb.tst. 30 IN A " + ISPB],
    "exampleb.tst": ["exampleb.tst. 30 IN MX 10 mx.ispb.tst.",
                     "exampleb.tst. 30 IN MX 20 mail.exampleb.tst.",
                     "mail.exampleb.tst. 30 IN A " + B],
    "nullmx.tst": ["nullmx.tst. 30 IN MX 0 ."],
}


class Topology:
    def __init__(self, test):
        self.test = test
        for d in ("master", "smtpd", "qmgr", "local", "smtp", "resolver"):
            harness.require_daemon(test, d)
        self.port = harness.port()  # every instance's SMTP port, each on its own address
        self.dns = unbound.Unbound(os.path.join(harness.tmp_root(), "topo-dns"), ZONES)
        self.dns.start()
        self.inst = {}
        try:
            self._build()
        except BaseException:
            self.stop_all()  # whatever was started, by PID, before the failure is reported
            raise

    def _build(self):
        for key, (addr, host, domain) in HOSTS.items():
            # mail.examplea.tst takes its users' mail on submission with STARTTLS and AUTH.
            ports = {"smtp": self.port}
            if key == "a":
                ports["submission"] = harness.port()
            if key == "b":
                ports["pop3"] = harness.port()
            inst = harness.Instance(name="topo-" + key, ports=ports, domain=domain, tls=(key == "a"),
                                    addr=addr, hostname=host)
            inst.init()
            inst.homes = os.path.join(inst.base, "homes")
            # Aliases send usera, userb and postmaster to the invoking user; local takes
            # its home below local_home_root (made here: local makes none as root).
            me = pwd.getpwuid(os.getuid()).pw_name
            os.makedirs(os.path.join(inst.homes, me))
            os.chmod(inst.homes, 0o755)
            self.inst[key] = inst
        self.conf("a", relayhost="mx.ispa.tst", mydestination="$myhostname, localhost, examplea.tst")
        self.conf("ispa", mydestination="$myhostname, localhost")
        self.conf("ispb", mydestination="$myhostname, localhost", relay_domains="exampleb.tst",
                  transport_maps="inline:{exampleb.tst=smtp:[mail.exampleb.tst]}")
        self.conf("b", mydestination="$myhostname, localhost, exampleb.tst")
        self.add_submission_user("a", "usera", "pw-of-usera")
        self.userb_account = self.make_userb_account()
        self.add_pop3_user("b", "userb", USERB_PASSWORD, self.userb_account)
        for key in self.inst:
            me = pwd.getpwuid(os.getuid()).pw_name
            self.write_aliases(key, "postmaster: {0}\nusera: {0}\nuserb: {1}\n".format(
                me, self.userb_account if key == "b" else me))
        for inst in self.inst.values():
            self.start(inst)

    # ---- instances -----------------------------------------------------------------
    def conf(self, key, **kv):
        inst = self.inst[key]
        base = {
            "dns_servers": self.dns.server,
            "smtp_destination_port": str(self.port),
            "smtp_bind_address": inst.addr,
            "smtp_connect_timeout": "2s",
            "smtp_helo_timeout": "10s",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
            "queue_run_delay": "1s",
            "local_home_root": inst.homes,
            "alias_maps": "hash:" + os.path.join(inst.config_dir, "aliases"),
            "resolver_query_timeout": "2s",
        }
        base.update(kv)
        with open(inst.main_conf(), "a") as f:
            for k, v in base.items():
                f.write("%s = %s\n" % (k, v))

    def set(self, key, **kv):
        """Sets parameters (the last line wins) and restarts the instance."""
        inst = self.inst[key]
        with open(inst.main_conf(), "a") as f:
            for k, v in kv.items():
                f.write("%s = %s\n" % (k, v))
        self.stop(inst)
        self.start(inst)

    def add_submission_user(self, key, user, password):
        """A virtual user for AUTH on submission (auth(8)'s virtual backend)."""
        import crypt
        inst = self.inst[key]
        path = os.path.join(inst.config_dir, "vusers")
        home = os.path.join(inst.homes, user)
        with open(path, "w") as f:
            f.write("%s %s:%d:%d:%s/Maildir/\n" % (user, crypt.crypt(password, crypt.mksalt(crypt.METHOD_SHA512)),
                                                   os.getuid(), os.getgid(), home))
        inst.ctl("map", "build", path, check=True)
        with open(inst.main_conf(), "a") as f:
            f.write("auth_backends = virtual, system\nauth_virtual_users = hash:%s\n" % path)

    def make_userb_account(self):
        """The account userb's mail goes to on mail.exampleb.tst, its home below that
        instance's local_home_root."""
        if os.geteuid() != 0:
            return pwd.getpwuid(os.getuid()).pw_name
        subprocess.run(["userdel", "-f", USERB_ACCOUNT], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        home = os.path.join(self.inst["b"].homes, USERB_ACCOUNT)
        subprocess.run(["useradd", "-M", "-d", home, "-s", "/usr/sbin/nologin", USERB_ACCOUNT], check=True)
        self.made_account = True
        pw = pwd.getpwnam(USERB_ACCOUNT)
        os.makedirs(home)
        os.chown(home, pw.pw_uid, pw.pw_gid)
        os.chmod(home, 0o700)
        return USERB_ACCOUNT

    def add_pop3_user(self, key, user, password, account):
        """A virtual user for POP3 (auth(8)'s virtual backend) whose mailbox is the
        account's Maildir, read as that account."""
        import crypt
        inst = self.inst[key]
        pw = pwd.getpwnam(account)
        path = os.path.join(inst.config_dir, "vusers")
        with open(path, "w") as f:
            f.write("%s %s:%d:%d:%s/Maildir/\n" % (user, crypt.crypt(password, crypt.mksalt(crypt.METHOD_SHA512)),
                                                   pw.pw_uid, pw.pw_gid, os.path.join(inst.homes, account)))
        inst.ctl("map", "build", path, check=True)
        with open(inst.main_conf(), "a") as f:
            f.write("auth_backends = virtual\nauth_virtual_users = hash:%s\n" % path)

    def pop3_messages(self, key, user, password):
        """Every message in user's mailbox on key's instance, read with poplib (bytes)."""
        import poplib
        inst = self.inst[key]
        p = poplib.POP3(inst.addr, inst.ports["pop3"], timeout=30)
        try:
            p.user(user)
            p.pass_(password)
            count = p.stat()[0]
            return [b"\r\n".join(p.retr(i)[1]) for i in range(1, count + 1)]
        finally:
            p.quit()

    def submit(self, key, user, password, sender, rcpt, subject):
        """A user's client: submission port, STARTTLS, AUTH, then the message."""
        import ssl
        inst = self.inst[key]
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with smtplib.SMTP(inst.addr, inst.ports["submission"], timeout=30) as s:
            s.ehlo("client.examplea.tst")
            s.starttls(context=ctx)
            s.ehlo("client.examplea.tst")
            s.login(user, password)
            s.sendmail(sender, [rcpt], "From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\nbody of %s\r\n"
                       % (sender, rcpt, subject, subject))

    def write_aliases(self, key, text):
        inst = self.inst[key]
        path = os.path.join(inst.config_dir, "aliases")
        with open(path, "w") as f:
            f.write(text)
        r = subprocess.run([harness.sbin("sendmail"), "-C", inst.config_dir, "-bi"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=60)
        if r.returncode != 0:
            raise AssertionError("newaliases failed: " + r.stdout)

    def start(self, inst):
        inst.start()
        inst.wait_ready()

    def stop(self, inst):
        inst.stop()
        inst.started_pids = [p for p in inst.started_pids if harness.pid_alive(p)]

    def stop_all(self):
        for inst in self.inst.values():
            inst.stop()
        self.dns.stop()
        if getattr(self, "made_account", False):
            subprocess.run(["userdel", "-f", USERB_ACCOUNT], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def dump(self):
        for inst in self.inst.values():
            inst.dump()
        sys.stderr.write("---- unbound ----\n" + self.dns.log_text())

    # ---- mail ----------------------------------------------------------------------
    def send(self, key, sender, rcpt, subject):
        inst = self.inst[key]
        with smtplib.SMTP(inst.addr, self.port, timeout=30) as s:
            s.ehlo("client.examplea.tst")
            s.sendmail(sender, [rcpt], "From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\nbody of %s\r\n"
                       % (sender, rcpt, subject, subject))

    def maildir(self, key):
        account = self.userb_account if key == "b" else pwd.getpwuid(os.getuid()).pw_name
        return sorted(glob.glob(os.path.join(self.inst[key].homes, account, "Maildir", "new", "*")))

    def wait_mail(self, key, subject, timeout=60):
        def found():
            for p in self.maildir(key):
                with open(p, "rb") as f:
                    data = f.read()
                if ("Subject: " + subject).encode() in data:
                    return data
            return None
        return harness.wait_for(found, timeout, "%r in %s's Maildir" % (subject, key))

    def wait_dsn(self, key, needle, timeout=60):
        """A non-delivery report in key's Maildir that mentions needle."""
        def found():
            for p in self.maildir(key):
                with open(p, "rb") as f:
                    data = f.read()
                if b"Undelivered Mail Returned to Sender" in data and needle in data:
                    return data
            return None
        return harness.wait_for(found, timeout, "a DSN about %r in %s's Maildir" % (needle, key))

    def queued(self, key):
        spool = self.inst[key].spool
        return [f for q in ("incoming", "active", "deferred")
                for f in os.listdir(os.path.join(spool, q)) if not f.startswith(".")]

    def log(self, key):
        return self.inst[key].log_text()


class TopologyTest(harness.LogsOnFailure):
    topo = None

    @classmethod
    def setUpClass(cls):
        harness.prefix()

    def setUp(self):
        if TopologyTest.topo is None:
            TopologyTest.topo = Topology(self)
        self.t = TopologyTest.topo

    @classmethod
    def tearDownClass(cls):
        if cls.topo:
            cls.topo.stop_all()
            cls.topo = None

    def on_failure(self):
        if TopologyTest.topo:
            TopologyTest.topo.dump()

    def test_1_whole_path(self):
        t = self.t
        t.send("a", "usera@examplea.tst", "userb@exampleb.tst", "case one")
        data = t.wait_mail("b", "case one")
        self.assertIn(b"body of case one", data)
        # Each hop logged its relay as the flow describes.
        port = t.port
        harness.wait_for(lambda: "relay=mx.ispa.tst[%s]:%d" % (ISPA, port) in t.log("a"), 20, "a -> ispa")
        self.assertIn("relay=mx.ispb.tst[%s]:%d" % (ISPB, port), t.log("ispa"))
        self.assertIn("relay=mail.exampleb.tst[%s]:%d" % (B, port), t.log("ispb"))
        self.assertRegex(t.log("a"), r"to=<userb@exampleb\.tst>, relay=mx\.ispa\.tst\[%s\]:%d, "
                                     r"delay=[^,]+, delays=[^,]+, dsn=2\.0\.0, status=sent \(250 "
                                     % (re.escape(ISPA), port))
        # Four Received: lines, one per Postilion hop.
        self.assertGreaterEqual(data.count(b"Received:"), 4)
        # userb reads it over POP3 on mail.exampleb.tst: the same message, the Received:
        # chain naming every hop, newest first.
        msgs = [m for m in t.pop3_messages("b", "userb", USERB_PASSWORD) if b"Subject: case one\r\n" in m]
        self.assertEqual(len(msgs), 1, "case one should be in userb's POP3 mailbox once")
        head, _, body = msgs[0].partition(b"\r\n\r\n")
        self.assertIn(b"\r\nSubject: case one\r\n", b"\r\n" + head + b"\r\n")
        self.assertEqual(body.rstrip(b"\r\n"), b"body of case one")
        received = [h for h in re.split(rb"\r\n(?![ \t])", head) if h.startswith(b"Received:")]
        hops = [re.search(rb"by (\S+)", h).group(1).decode() for h in received]
        self.assertEqual(hops[:4], ["mail.exampleb.tst", "mx.ispb.tst", "mx.ispa.tst", "mail.examplea.tst"],
                         received)
        # Each hop names the previous one and the address it sent from.
        for h, (host, addr) in zip(received, [("mx.ispb.tst", ISPB), ("mx.ispa.tst", ISPA),
                                             ("mail.examplea.tst", A)]):
            self.assertRegex(h, (r"^Received: from %s \(.*\[%s\]\)" % (re.escape(host), re.escape(addr))).encode())
        self.assertIn(b"userb@exampleb.tst", received[0])
        harness.wait_for(lambda: not t.queued("a") and not t.queued("ispa") and not t.queued("ispb"), 20,
                         "empty queues")

    def test_1b_submission_with_auth(self):
        # The users' way in: port 587, STARTTLS, AUTH against auth(8)'s virtual users.
        probe = subprocess.run([harness.program("auth"), "-c", "/nonexistent", "-n", "auth",
                                "-t", "unix", "-s", "0", "-f"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, timeout=10)
        if "invalid option" in probe.stdout:
            self.skipTest("auth(8) does not run under master yet (it refuses master's options)")
        t = self.t
        t.submit("a", "usera", "pw-of-usera", "usera@examplea.tst", "userb@exampleb.tst", "case one auth")
        t.wait_mail("b", "case one auth")
        self.assertIn("sasl_username=usera", t.log("a"))

    def test_2_primary_mx_down(self):
        t = self.t
        t.stop(t.inst["ispb"])
        try:
            t.send("a", "usera@examplea.tst", "userb@exampleb.tst", "case two")
            t.wait_mail("b", "case two")
            log = t.log("ispa")
            self.assertIn("connect to mx.ispb.tst[%s]:%d: Connection refused" % (ISPB, t.port), log)
            self.assertRegex(log, r"to=<userb@exampleb\.tst>, relay=mail\.exampleb\.tst\[%s\]:%d, "
                                  r".*status=sent" % (re.escape(B), t.port))
        finally:
            t.start(t.inst["ispb"])

    def test_3_final_host_down_then_back(self):
        t = self.t
        t.stop(t.inst["b"])
        try:
            t.send("a", "usera@examplea.tst", "userb@exampleb.tst", "case three")
            harness.wait_for(lambda: "status=deferred (connect to mail.exampleb.tst[%s]:%d" % (B, t.port)
                             in t.log("ispb"), 40, "deferral at mx.ispb.tst")
            self.assertTrue(t.queued("ispb"), "the message should wait in mx.ispb.tst's queue")
            self.assertEqual(t.maildir("b") and [p for p in t.maildir("b") if b"case three" in open(p, "rb").read()], [])
        finally:
            t.start(t.inst["b"])
        t.wait_mail("b", "case three", timeout=60)
        harness.wait_for(lambda: not t.queued("ispb"), 30, "mx.ispb.tst's queue to empty")

    def test_3b_final_host_down_too_long_bounces(self):
        t = self.t
        t.stop(t.inst["b"])
        t.set("ispb", maximal_queue_lifetime="3s")
        try:
            start = len(t.log("ispb"))
            t.send("a", "usera@examplea.tst", "userb@exampleb.tst", "case three expired")
            harness.wait_for(lambda: re.search(r"to=<userb@exampleb\.tst>, .*dsn=4\.4\.7, status=expired",
                                               t.log("ispb")[start:]), 60, "expiry bounce at mx.ispb.tst")
            # The DSN travels back by MX to mail.examplea.tst and into usera's mailbox.
            data = t.wait_dsn("a", b"case three expired")
            self.assertIn(b"userb@exampleb.tst", data)
            self.assertIn(b"message/delivery-status", data)
        finally:
            t.set("ispb", maximal_queue_lifetime="5d")
            t.start(t.inst["b"])

    def test_4_no_smarthost(self):
        t = self.t
        t.set("a", relayhost="")
        try:
            t.send("a", "usera@examplea.tst", "userb@exampleb.tst", "case four")
            t.wait_mail("b", "case four")
            self.assertRegex(t.log("a"), r"to=<userb@exampleb\.tst>, relay=mx\.ispb\.tst\[%s\]:%d, "
                                         r".*status=sent" % (re.escape(ISPB), t.port))
        finally:
            t.set("a", relayhost="mx.ispa.tst")

    def test_5_null_mx_and_dns_down(self):
        t = self.t
        t.set("a", relayhost="")
        try:
            t.send("a", "usera@examplea.tst", "nobody@nullmx.tst", "case five null")
            harness.wait_for(lambda: "dsn=5.1.10, status=bounced" in t.log("a"), 30, "null MX bounce")
            dsn = t.wait_dsn("a", b"nobody@nullmx.tst")
            self.assertIn(b"5.1.10", dsn)
            # DNS down: deferred, never bounced. (The instance was restarted by set(), so
            # its resolver has no cached answer for exampleb.tst.)
            t.dns.stop()
            try:
                start = len(t.log("a"))
                t.send("a", "usera@examplea.tst", "userb@exampleb.tst", "case five dns down")
                harness.wait_for(lambda: re.search(r"smtp\[\d+\]: \w+: to=<userb@exampleb\.tst>, relay=none, .*"
                                                   r"dsn=4\.4\.3, status=deferred \(Host or domain name not found",
                                                   t.log("a")[start:]), 40, "deferral for want of DNS")
                self.assertNotIn("status=bounced", t.log("a")[start:])
                self.assertTrue(t.queued("a"))
            finally:
                t.dns.start()
            t.wait_mail("b", "case five dns down", timeout=60)
        finally:
            t.set("a", relayhost="mx.ispa.tst")


if __name__ == "__main__":
    unittest.main()
