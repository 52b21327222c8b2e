#!/usr/bin/env python3
# tests/test_logtools.py - the log tools administrators run on Postfix's and Dovecot's
# logs, run on the maillog of an instance under master(8):
#  - fail2ban-regex with the filters of packaging/fail2ban/ (as installed beside
#    fail2ban's own common.conf): failed SMTP AUTH, POP3 and IMAP logins, refused relays,
#    an unknown recipient and an HTTP request on the SMTP port, each from an address of its
#    own, match line for line and address for address; successful sessions match nothing;
#    a user name crafted to name another address bans the sender, not that address; and
#    fail2ban-client -d reads the jail example with both jails enabled; logins that
#    auth(8) refuses for too many failures count as failures too;
#  - pflogsumm, on a known mix: messages delivered locally (received over SMTP and
#    submitted with sendmail), relayed to an SMTP sink,
#    deferred by a sink that answers 4xx, bounced by one that answers 5xx, and recipients
#    rejected at RCPT; its totals are those numbers;
#  - syslog, the default sink: an instance without maillog_file, started (as root) in a
#    mount namespace of its own whose /dev/log is the test's socket, sends its lines
#    there as postilion/<daemon>[pid] with facility mail.
import imaplib
import os
import pwd
import poplib
import re
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from dns import smtp_sink  # noqa: E402
from test_pop3d import sha512_crypt, tls_context  # noqa: E402

ROOT = os.geteuid() == 0
PASSWORD = "log tools 1"
FAIL2BAN = os.path.join(harness.ROOT, "packaging", "fail2ban")
SYSTEM_FAIL2BAN = "/etc/fail2ban"  # the package's configuration: common.conf, jail.conf


# ---- clients from an address of their own -------------------------------------------
def smtp_from(src, host, port):
    return smtplib.SMTP(host, port, timeout=30, source_address=(src, 0))


class POP3From(poplib.POP3):
    def __init__(self, src, host, port):
        self.src = src
        super().__init__(host, port, timeout=30)

    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout, source_address=(self.src, 0))


class IMAP4From(imaplib.IMAP4):
    def __init__(self, src, host, port):
        self.src = src
        super().__init__(host, port, timeout=30)

    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout, source_address=(self.src, 0))


class MailHost:
    """An instance under master with the given services, one mailbox user (a system
    account as root, else the invoking user) known to local(8) and, with its password, to
    auth(8)."""

    def __init__(self, test, ports, conf):
        for d in ("master", "smtpd", "qmgr", "local", "auth", "smtp"):
            harness.require_daemon(test, d)
        self.inst = inst = test.make_instance(ports=ports, tls=True)
        inst.init(*(["--user", "postilion"] if ROOT else []))
        homes = os.path.join(inst.base, "homes")
        os.makedirs(homes)
        os.chmod(homes, 0o755)
        if ROOT:
            pw = harness.add_system_user(test, "pstlg", homes)
            self.user, home, uid, gid = pw.pw_name, pw.pw_dir, pw.pw_uid, pw.pw_gid
        else:
            self.user = pwd.getpwuid(os.getuid()).pw_name
            home = os.path.join(homes, self.user)
            os.makedirs(home)
            uid, gid = os.getuid(), os.getgid()
        self.maildir = os.path.join(home, "Maildir")
        users = os.path.join(inst.config_dir, "mail-users")
        with open(users, "w") as f:
            f.write("%s %s:%d:%d:%s/\n" % (self.user, sha512_crypt(PASSWORD), uid, gid, self.maildir))
        inst.ctl("map", "build", users, check=True)
        settings = {
            "auth_backends": "virtual",
            "auth_virtual_users": "hash:" + users,
            # Each failure answered at once: the test makes a few from each address.
            "auth_failure_delay": "0s",
            "minimal_backoff_time": "300s",
            "maximal_backoff_time": "600s",
            "queue_run_delay": "1s",
        }
        if not ROOT:
            settings["local_home_root"] = homes
        settings.update(conf)
        with open(inst.main_conf(), "a") as f:
            for k, v in settings.items():
                f.write("%s = %s\n" % (k, v))
        inst.start()
        inst.wait_ready()

    @property
    def address(self):
        return "%s@%s" % (self.user, self.inst.domain)

    def delivered(self):
        return sum(len(os.listdir(os.path.join(self.maildir, d)))
                   for d in ("new", "cur") if os.path.isdir(os.path.join(self.maildir, d)))

    def lines(self, pattern):
        return [l for l in self.inst.log_text().splitlines() if re.search(pattern, l)]


MESSAGE = "From: a@remote.test\r\nSubject: log tools\r\n\r\nhello\r\n"


class Fail2banTest(harness.InstanceTestCase):

    def fail2ban_dir(self):
        """A fail2ban configuration folder as a host has it once the filters are installed:
        the package's files with packaging/fail2ban's copied in."""
        d = tempfile.mkdtemp(prefix="fail2ban-", dir=harness.tmp_root())
        conf = os.path.join(d, "fail2ban")
        shutil.copytree(SYSTEM_FAIL2BAN, conf)
        for sub in ("filter.d", "jail.d"):
            for name in os.listdir(os.path.join(FAIL2BAN, sub)):
                shutil.copy(os.path.join(FAIL2BAN, sub, name), os.path.join(conf, sub, name))
        return conf

    def regex(self, conf, log, filter_name, out):
        """fail2ban-regex -o out LOG FILTER: one entry per matched line."""
        r = subprocess.run(["fail2ban-regex", "-o", out, log,
                            os.path.join(conf, "filter.d", filter_name + ".conf")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
        self.assertEqual(0, r.returncode, r.stdout + r.stderr)
        return r.stdout.splitlines()

    def test_filters_match_exactly_the_failures(self):
        addr = {k: harness.address() for k in (
            "smtp_auth_bad", "pop3_bad", "imap_bad", "inject", "victim", "relay_bad", "rcpt_bad", "http",
            "smtp_good", "submission_good", "pop3_good", "imap_good")}
        host = MailHost(self, ("smtp", "submission", "pop3", "imap"),
                        {"mynetworks": addr["smtp_good"] + "/32"})
        inst = host.inst

        # Failed logins: two over SMTP AUTH (one session), two over POP3, two over IMAP.
        s = smtp_from(addr["smtp_auth_bad"], inst.addr, inst.ports["submission"])
        self.addCleanup(s.close)
        s.starttls(context=tls_context())
        s.ehlo()
        s.user, s.password = host.user, "wrong"
        for _ in range(2):
            with self.assertRaises(smtplib.SMTPAuthenticationError):
                s.auth("PLAIN", s.auth_plain)  # one mechanism: s.login() tries them all
        s.quit()
        for user in (host.user, "nobody-here"):  # a wrong password, an unknown user
            p = POP3From(addr["pop3_bad"], inst.addr, inst.ports["pop3"])
            p.user(user)
            with self.assertRaises(poplib.error_proto):
                p.pass_("wrong")
            p.quit()
        m = IMAP4From(addr["imap_bad"], inst.addr, inst.ports["imap"])
        for _ in range(2):
            with self.assertRaises(imaplib.IMAP4.error):
                m.login(host.user, "wrong")
        m.logout()
        # A user name that tries to put another address where the filter reads one.
        m = IMAP4From(addr["inject"], inst.addr, inst.ports["imap"])
        with self.assertRaises(imaplib.IMAP4.error):
            m.login('"x>, service=imapd, rip=%s, reason=bad password"' % addr["victim"], "wrong")
        m.logout()

        # SMTP abuse: two relay attempts, an unknown local user, HTTP on the SMTP port.
        s = smtp_from(addr["relay_bad"], inst.addr, inst.ports["smtp"])
        self.addCleanup(s.close)
        s.ehlo("relay.example")
        self.assertEqual(250, s.mail("spam@relay.example")[0])
        self.assertEqual(554, s.rcpt("victim@elsewhere.test")[0])
        self.assertEqual(554, s.rcpt("victim2@elsewhere.test")[0])
        s.quit()
        s = smtp_from(addr["rcpt_bad"], inst.addr, inst.ports["smtp"])
        self.addCleanup(s.close)
        s.ehlo("probe.example")
        self.assertEqual(250, s.mail("probe@probe.example")[0])
        self.assertEqual(550, s.rcpt("no-such-user-xyz@" + inst.domain)[0])
        s.quit()
        with socket.create_connection((inst.addr, inst.ports["smtp"]), 30,
                                      source_address=(addr["http"], 0)) as c:
            c.recv(1024)
            c.sendall(b"GET / HTTP/1.1\r\nHost: mail\r\n\r\n")
            self.assertTrue(c.recv(1024).startswith(b"221"))

        # Good sessions: mail from mynetworks and from an authenticated client, POP3 and
        # IMAP logins.
        with smtp_from(addr["smtp_good"], inst.addr, inst.ports["smtp"]) as s:
            self.assertEqual({}, s.sendmail("a@remote.test", [host.address], MESSAGE))
        with smtp_from(addr["submission_good"], inst.addr, inst.ports["submission"]) as s:
            s.starttls(context=tls_context())
            s.login(host.user, PASSWORD)
            self.assertEqual({}, s.sendmail(host.address, [host.address], MESSAGE))
        harness.wait_for(lambda: host.delivered() == 2, 30, "two deliveries")
        p = POP3From(addr["pop3_good"], inst.addr, inst.ports["pop3"])
        p.user(host.user)
        p.pass_(PASSWORD)
        self.assertEqual(2, p.stat()[0])
        p.quit()
        m = IMAP4From(addr["imap_good"], inst.addr, inst.ports["imap"])
        m.login(host.user, PASSWORD)
        m.select("INBOX")
        m.logout()
        for who, service in (("pop3_good", "pop3d"), ("imap_good", "imapd")):
            inst.wait_log("login: user=<%s>, service=%s, rip=%s," % (host.user, service, addr[who]))
        inst.wait_log("sasl_method=PLAIN, sasl_username=%s" % host.user)
        harness.wait_for(lambda: len(host.lines(r"to=<%s>, .*status=sent" % re.escape(host.address))) == 2,
                         20, "two delivery lines")

        conf = self.fail2ban_dir()
        log = inst.maillog
        # postilion-auth: each failed login once - smtpd's line for SMTP AUTH (auth's
        # line for it is not counted again), auth's for POP3 and IMAP.
        auth_lines = self.regex(conf, log, "postilion-auth", "msg")
        auth_ips = self.regex(conf, log, "postilion-auth", "ip")
        self.assertEqual(7, len(auth_lines), "\n".join(auth_lines))
        self.assertEqual(sorted([addr["smtp_auth_bad"]] * 2 + [addr["pop3_bad"]] * 2 +
                                [addr["imap_bad"]] * 2 + [addr["inject"]]), sorted(auth_ips))
        self.assertEqual(2, sum("postilion/smtpd[" in l and "SASL PLAIN authentication failed" in l
                                for l in auth_lines))
        self.assertEqual(2, len(host.lines(r"postilion/auth\[\d+\]: warning: authentication failed: "
                                           r".*service=smtpd, rip=%s, " % re.escape(addr["smtp_auth_bad"]))))
        self.assertEqual(2, sum("service=pop3d, rip=%s, " % addr["pop3_bad"] in l for l in auth_lines))
        self.assertEqual(1, sum(l.endswith("service=pop3d, rip=%s, reason=unknown user" % addr["pop3_bad"])
                                for l in auth_lines))
        self.assertEqual(2, sum(l.endswith("service=imapd, rip=%s, reason=bad password" % addr["imap_bad"])
                                for l in auth_lines))
        self.assertNotIn(addr["victim"], auth_ips)
        self.assertTrue(any(addr["victim"] in l for l in auth_lines))  # it was in the log

        # postilion-smtpd: the two relay attempts, the unknown user, the HTTP request.
        smtpd_lines = self.regex(conf, log, "postilion-smtpd", "msg")
        smtpd_ips = self.regex(conf, log, "postilion-smtpd", "ip")
        self.assertEqual(4, len(smtpd_lines), "\n".join(smtpd_lines))
        self.assertEqual(sorted([addr["relay_bad"]] * 2 + [addr["rcpt_bad"], addr["http"]]), sorted(smtpd_ips))
        self.assertEqual(2, sum(": Relay access denied;" in l for l in smtpd_lines))
        self.assertEqual(1, sum("User unknown in local recipient table;" in l for l in smtpd_lines))
        self.assertEqual(1, sum("warning: non-SMTP command from" in l for l in smtpd_lines))

        # The good sessions are in the log, and no filter names their addresses.
        text = inst.log_text()
        for who in ("smtp_good", "submission_good", "pop3_good", "imap_good"):
            self.assertIn(addr[who], text)
            self.assertNotIn(addr[who], auth_ips + smtpd_ips)

        # The jail example loads with both jails enabled and reading this log.
        jail = os.path.join(conf, "jail.d", "postilion.conf")
        with open(jail) as f:
            text = f.read()
        self.assertEqual(2, text.count("enabled  = false"))
        with open(os.path.join(conf, "jail.d", "zz-test.local"), "w") as f:
            for name in ("postilion-smtpd", "postilion-auth"):
                f.write("[%s]\nenabled = true\nlogpath = %s\n" % (name, log))
        r = subprocess.run(["fail2ban-client", "-c", conf, "-d"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=120)
        self.assertEqual(0, r.returncode, r.stdout)
        for name in ("postilion-smtpd", "postilion-auth"):
            self.assertIn("['add', '%s', 'auto']" % name, r.stdout)
            self.assertIn("['set', '%s', 'addlogpath', '%s', 'head']" % (name, log), r.stdout)

    def test_refused_logins_count_too(self):
        # Past auth_failure_limit auth(8) refuses without checking: for SMTP AUTH smtpd
        # then answers 454 and writes nothing, so auth's "too many failures" line counts.
        smtp_ip, imap_ip = harness.address(), harness.address()
        host = MailHost(self, ("submission", "imap"), {"auth_failure_limit": "2"})
        inst = host.inst
        s = smtp_from(smtp_ip, inst.addr, inst.ports["submission"])
        self.addCleanup(s.close)
        s.starttls(context=tls_context())
        s.ehlo()
        s.user, s.password = "ghost-smtp", "wrong"
        codes = []
        for _ in range(3):
            with self.assertRaises(smtplib.SMTPAuthenticationError) as e:
                s.auth("PLAIN", s.auth_plain)
            codes.append(e.exception.smtp_code)
        s.quit()
        self.assertEqual([535, 535, 454], codes)
        for _ in range(3):
            m = IMAP4From(imap_ip, inst.addr, inst.ports["imap"])
            with self.assertRaises(imaplib.IMAP4.error):
                m.login("ghost-imap", "wrong")
            m.logout()
        log = inst.maillog
        conf = self.fail2ban_dir()
        lines = self.regex(conf, log, "postilion-auth", "msg")
        ips = self.regex(conf, log, "postilion-auth", "ip")
        self.assertEqual(sorted([smtp_ip] * 3 + [imap_ip] * 3), sorted(ips), "\n".join(lines))
        self.assertEqual(2, sum("postilion/smtpd[" in l and "[%s]: SASL PLAIN authentication failed" % smtp_ip in l
                                for l in lines))
        for service, ip in (("smtpd", smtp_ip), ("imapd", imap_ip)):
            self.assertEqual(1, sum(l.endswith("service=%s, rip=%s, reason=too many failures" % (service, ip))
                                    for l in lines), lines)
        self.assertEqual(2, sum(l.endswith("service=imapd, rip=%s, reason=unknown user" % imap_ip) for l in lines))
        # auth's two ordinary failure lines for SMTP AUTH are in the log, not counted again.
        self.assertEqual(2, len(host.lines(r"service=smtpd, rip=%s, reason=unknown user$" % re.escape(smtp_ip))))
        self.assertEqual([], self.regex(conf, log, "postilion-smtpd", "ip"))


class PflogsummTest(harness.InstanceTestCase):

    def sink(self, **kw):
        s = smtp_sink.Sink(harness.address(), harness.port(), **kw).start()
        self.addCleanup(s.stop)
        return s

    def test_totals(self):
        local, submitted, relayed, deferred, bounced, rejected = 3, 2, 2, 2, 2, 2
        ok = self.sink()
        later = self.sink(rcpt_replies={"x": "451 4.3.0 try again later"})
        never = self.sink(rcpt_replies={"x": "550 5.1.1 no such user here"})
        client = harness.address()
        host = MailHost(self, ("smtp",), {
            "mynetworks": client + "/32",
            "transport_maps": "inline:{ok.test=smtp:[%s]:%d, later.test=smtp:[%s]:%d, never.test=smtp:[%s]:%d}"
                              % (ok.address, ok.port, later.address, later.port, never.address, never.port),
        })
        inst = host.inst
        with smtp_from(client, inst.addr, inst.ports["smtp"]) as s:
            for i in range(local):
                self.assertEqual({}, s.sendmail("a@remote.test", [host.address], MESSAGE))
            for i in range(relayed):
                self.assertEqual({}, s.sendmail("a@remote.test", ["x@ok.test"], MESSAGE))
            for i in range(deferred):
                self.assertEqual({}, s.sendmail("a@remote.test", ["x@later.test"], MESSAGE))
            # From the local user: each bounce sends it a notice, delivered into its
            # Maildir (and counted as delivered, as pflogsumm counts Postfix's).
            for i in range(bounced):
                self.assertEqual({}, s.sendmail(host.address, ["x@never.test"], MESSAGE))
            for i in range(rejected):
                self.assertEqual(250, s.mail("a@remote.test")[0])
                self.assertEqual(550, s.rcpt("no-such-user-%d@%s" % (i, inst.domain))[0])
                s.rset()
        # Mail submitted with sendmail (postdrop, then qmgr's pickup of maildrop/).
        for i in range(submitted):
            r = subprocess.run([harness.sbin("sendmail"), "-C", inst.config_dir, "-f", "a@remote.test", host.address],
                               input="Subject: submitted %d\n\nhello\n" % i, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=60)
            self.assertEqual(0, r.returncode, r.stdout)
        harness.wait_for(lambda: host.delivered() == local + submitted + bounced and len(ok.messages) == relayed,
                         30, "local and relayed deliveries, and the bounce notices")
        harness.wait_for(lambda: len(host.lines(r"to=<x@later\.test>, .*status=deferred")) == deferred
                         and len(host.lines(r"to=<x@never\.test>, .*status=bounced")) == bounced
                         and len(host.lines(r": sender non-delivery notification: ")) == bounced
                         and len(host.lines(r"to=<.*status=sent")) == local + submitted + relayed + bounced,
                         30, "every outcome logged")
        # pickup's line in Postfix's shape, the one pflogsumm counts as received.
        uid = os.getuid()
        self.assertEqual(submitted, len(host.lines(r"postilion/pickup\[\d+\]: \w+: uid=%d from=<a@remote\.test>$"
                                                   % uid)))

        r = subprocess.run(["pflogsumm", "--syslog-name=postilion", inst.maillog], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=120)
        self.assertEqual(0, r.returncode, r.stderr)
        totals = {}
        for line in r.stdout.split("Grand Totals", 1)[1].splitlines():
            m = re.match(r"^\s+(\d+)\s+(received|delivered|forwarded|deferred|bounced|rejected)\b", line)
            if m:
                totals[m.group(2)] = int(m.group(1))
        self.assertEqual({"received": local + submitted + relayed + deferred + bounced,
                          "delivered": local + submitted + relayed + bounced,
                          "forwarded": 0,
                          "deferred": deferred,
                          "bounced": bounced,
                          "rejected": rejected}, totals, r.stdout)


# Starts the instance in a mount namespace of its own in which /dev is a tmpfs holding the
# usual devices (bound from the real /dev) and, at /dev/log, the test's socket: syslog(3)
# in every daemon sends there, and nothing outside the namespace changes.
# Run by `unshare --mount --propagation unchanged`: the script makes the mounts private
# itself, "/" or, in a chroot where "/" is no mount point, the /dev mount it holds.
PRIVATE_DEV_LOG = r"""
set -e
mount --make-rprivate / 2>/dev/null || mount --make-rprivate /dev
mkdir "$T/olddev"
mount --bind /dev "$T/olddev"
mount -t tmpfs -o mode=0755 tmpfs /dev
for n in null zero full random urandom tty; do
  touch "/dev/$n"
  mount --bind "$T/olddev/$n" "/dev/$n"
done
mkdir /dev/pts /dev/shm
mount --bind "$T/olddev/pts" /dev/pts
mount --bind "$T/olddev/shm" /dev/shm
ln -s /proc/self/fd /dev/fd
ln -s /proc/self/fd/0 /dev/stdin
ln -s /proc/self/fd/1 /dev/stdout
ln -s /proc/self/fd/2 /dev/stderr
touch /dev/log
mount --bind "$T/log" /dev/log
umount "$T/olddev"
exec "$CTL" -c "$CONF" start
"""


@unittest.skipUnless(ROOT, "mounts a private /dev/log in a mount namespace: root only")
class SyslogTest(harness.InstanceTestCase):

    def test_default_sink_is_syslog_facility_mail(self):
        for d in ("master", "smtpd", "qmgr"):
            harness.require_daemon(self, d)
        inst = self.make_instance(ports=("smtp",))
        inst.init("--user", "postilion")
        with open(inst.main_conf()) as f:
            conf = [l for l in f.read().splitlines() if not l.startswith("maillog_file")]
        with open(inst.main_conf(), "w") as f:
            f.write("\n".join(conf) + "\n")
        self.assertEqual("", inst.ctl("config", "maillog_file", check=True).stdout.strip().split("=", 1)[1].strip())
        tmp = tempfile.mkdtemp(prefix="syslog-", dir=harness.tmp_root())
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        sock.bind(os.path.join(tmp, "log"))
        os.chmod(os.path.join(tmp, "log"), 0o666)
        sock.settimeout(1)
        env = dict(os.environ, T=tmp, CTL=harness.sbin("postilionctl"), CONF=inst.config_dir)
        r = subprocess.run(["unshare", "--mount", "--propagation", "unchanged", "sh", "-c", PRIVATE_DEV_LOG], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
        pid = inst.master_pid()
        if pid:
            inst.started_pids.append(pid)
        self.assertEqual(0, r.returncode, r.stdout)
        inst.wait_ready()
        with smtp_from(harness.address(), inst.addr, inst.ports["smtp"]) as s:
            s.ehlo("client.example")
            s.mail("a@remote.test")
            self.assertEqual(550, s.rcpt("no-such-user-xyz@" + inst.domain)[0])

        got = []

        def received(pattern):
            while True:
                try:
                    got.append(sock.recv(65536).decode("utf-8", "replace"))
                except socket.timeout:
                    break
            return [g for g in got if re.search(pattern, g)]
        rx = r"^<(\d+)>\w{3} [ \d]\d \d\d:\d\d:\d\d postilion/(\w+)\[(\d+)\]: "
        harness.wait_for(lambda: received(rx + r"NOQUEUE: reject: RCPT from ") and received(rx + r"daemon started"),
                         30, "the reject and the start at /dev/log")
        started = received(rx + "daemon started -- version ")
        self.assertEqual(1, len(started), got)
        m = re.match(rx, started[0])
        self.assertEqual(("22", "master", str(pid)), m.groups())  # 22: mail.info
        reject = received(rx + "NOQUEUE: reject: RCPT from [^ ]*: 550 5.1.1 <no-such-user-xyz@")
        self.assertEqual(1, len(reject), got)
        m = re.match(rx, reject[0])
        self.assertEqual("22", m.group(1))
        self.assertEqual("smtpd", m.group(2))
        self.assertIn(int(m.group(3)), inst.children())  # a process of this master's
        # Every line came as facility mail (2) from a postilion/ daemon.
        for g in got:
            m = re.match(rx, g)
            self.assertIsNotNone(m, g)
            self.assertEqual(2, int(m.group(1)) >> 3, g)
        self.assertEqual("", inst.log_text())


if __name__ == "__main__":
    harness.main()
