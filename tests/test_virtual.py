#!/usr/bin/env python3
# tests/test_virtual.py - virtual(8) under master(8) from SMTP in to POP3 out: an instance
# made by `postilionctl init` with a virtual mailbox domain (virt.test) whose table is a
# hash map built by `postilionctl map build`. Mail sent with smtplib to a Maildir user
# and an mbox user lands exactly once, with Return-Path and Delivered-To, owned by the
# virtual uid; an unknown address is refused at RCPT by smtpd, and one that only the
# agent does not know is bounced by it (5.1.1, a DSN to the sender); a hostile table
# value (../x/) is deferred with its reason in the log and in `postilionctl queue`;
# the Maildir user reads the mail with poplib through pop3d (auth_virtual_users).
# As root the mailboxes belong to a system user made for the test; otherwise to the
# invoking user (virtual(8) then delivers only as itself).
import email
import email.policy
import glob
import os
import poplib
import re
import smtplib
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from test_pop3d import sha512_crypt, tls_context  # noqa: E402

ROOT = os.geteuid() == 0
DOMAIN = "virt.test"
PASSWORD = "ann's virtual password"


class VirtualTest(harness.InstanceTestCase):

    def setUp(self):
        super().setUp()
        for d in ("master", "smtpd", "qmgr", "virtual"):
            harness.require_daemon(self, d)

    def instance(self, table, ports=("smtp",), virtual_args=""):
        """An instance with virt.test as virtual mailbox domain: table maps addresses to
        paths below the base; virtual_args are appended to the virtual service line."""
        inst = self.make_instance(ports=ports, tls="pop3" in ports)
        extra = ["--user", "postilion"] if ROOT and harness.user_exists("postilion") else []
        inst.init(*extra)
        self.base = os.path.join(inst.base, "vmail")
        os.makedirs(self.base)
        if ROOT:
            self.owner = harness.add_system_user(self, "pvm", os.path.join(inst.base, "home"))
            os.chown(self.base, self.owner.pw_uid, self.owner.pw_gid)
            uid, gid = self.owner.pw_uid, self.owner.pw_gid
        else:
            uid, gid = os.getuid(), os.getgid()
        self.uid, self.gid = uid, gid
        self.table = os.path.join(inst.config_dir, "vmailbox")
        with open(self.table, "w") as f:
            for k, v in table.items():
                f.write("%s %s\n" % (k, v))
        inst.ctl("map", "build", self.table, check=True)
        with open(inst.main_conf(), "a") as f:
            f.write("virtual_mailbox_domains = %s\n" % DOMAIN)
            f.write("virtual_mailbox_maps = hash:%s\n" % self.table)
            f.write("virtual_mailbox_base = %s\n" % self.base)
            f.write("virtual_uid_maps = static:%d\nvirtual_gid_maps = static:%d\n" % (uid, gid))
            f.write("virtual_minimum_uid = %d\n" % min(100, uid))
            f.write("minimal_backoff_time = 1h\nmaximal_backoff_time = 2h\n")
        if "pop3" in ports:
            # ann is also a virtual user of auth(8), her Maildir the one virtual writes.
            users = os.path.join(inst.config_dir, "users")
            with open(users, "w") as f:
                f.write("ann@virt.test %s:%d:%d:%s/\n" % (sha512_crypt(PASSWORD), uid, gid,
                                                           os.path.join(self.base, "virt.test", "ann")))
            inst.ctl("map", "build", users, check=True)
            with open(inst.main_conf(), "a") as f:
                f.write("auth_backends = virtual\nauth_virtual_users = hash:%s\n" % users)
        with open(inst.master_conf()) as f:
            lines = f.read().splitlines(True)
        services = [l.split()[0] for l in lines if l.strip() and not l.startswith("#")]
        self.assertIn("virtual", services, "postilionctl init writes the virtual service")
        if virtual_args:
            with open(inst.master_conf(), "w") as f:
                for line in lines:
                    cols = line.split()
                    if cols and cols[0] == "virtual" and not line.startswith("#"):
                        line = line.rstrip("\n") + " " + virtual_args + "\n"
                    f.write(line)
        inst.start()
        inst.wait_ready()
        return inst

    def messages(self, maildir):
        return sorted(glob.glob(os.path.join(self.base, maildir, "new", "*")))

    def parse(self, path):
        with open(path, "rb") as f:
            return email.message_from_bytes(f.read(), policy=email.policy.compat32)

    def virtual_lines(self, inst):
        return [l for l in inst.log_text().splitlines() if "postilion/virtual[" in l]

    def test_maildir_and_mbox_exactly_once_then_pop3(self):
        inst = self.instance({"ann@virt.test": "virt.test/ann/", "bob@virt.test": "virt.test/bob.mbox"},
                             ports=("smtp", "pop3"))
        with smtplib.SMTP(inst.addr, inst.ports["smtp"], timeout=30) as s:
            s.sendmail("sender@remote.test", ["ann@virt.test", "bob@virt.test"],
                       "Subject: hello virtual\r\n\r\nFrom the outside\r\n")
            s.sendmail("other@remote.test", ["Ann@VIRT.test"], "Subject: second\r\n\r\nagain\r\n")
        harness.wait_for(lambda: len(self.messages("virt.test/ann")) >= 2, 30, "two messages for ann")
        mbox = os.path.join(self.base, "virt.test", "bob.mbox")
        harness.wait_for(lambda: os.path.exists(mbox), 30, "bob's mbox")
        harness.wait_for(lambda: len([l for l in self.virtual_lines(inst) if "status=sent" in l]) >= 3, 30,
                         "three deliveries logged")
        files = self.messages("virt.test/ann")
        self.assertEqual(len(files), 2)
        by_subject = {}
        for path in files:
            st = os.stat(path)
            self.assertEqual((st.st_uid, st.st_gid, st.st_mode & 0o777), (self.uid, self.gid, 0o600), path)
            m = self.parse(path)
            by_subject[m["Subject"]] = m
        first = by_subject["hello virtual"]
        self.assertEqual(first["Return-Path"], "<sender@remote.test>")
        self.assertEqual(first["Delivered-To"], "ann@virt.test")
        self.assertEqual(first.get_payload(), "From the outside\n")
        self.assertEqual(by_subject["second"]["Delivered-To"], "Ann@virt.test")
        self.assertEqual(by_subject["second"]["Return-Path"], "<other@remote.test>")
        for d in ("virt.test", "virt.test/ann", "virt.test/ann/new"):
            st = os.stat(os.path.join(self.base, d))
            self.assertEqual((st.st_uid, st.st_mode & 0o777), (self.uid, 0o700), d)
        st = os.stat(mbox)
        self.assertEqual((st.st_uid, st.st_mode & 0o777), (self.uid, 0o600))
        with open(mbox) as f:
            text = f.read()
        self.assertTrue(text.startswith("From sender@remote.test "), text[:80])
        self.assertEqual(text.count("\nFrom "), 0)  # one entry: exactly once
        self.assertIn("\nReturn-Path: <sender@remote.test>\nDelivered-To: bob@virt.test\n", text)
        self.assertIn("\n>From the outside\n", text)
        # One line per delivery, from virtual itself (qmgr was told logged=yes).
        lines = self.virtual_lines(inst)
        for rcpt, what in (("ann@virt.test", "maildir"), ("bob@virt.test", "mailbox")):
            mine = [l for l in lines if "to=<%s>" % rcpt in l]
            self.assertEqual(len(mine), 1, lines)
            self.assertRegex(mine[0], r"postilion/virtual\[\d+\]: [0-9A-Za-z]+: to=<%s>, relay=virtual, "
                                      r"delay=[\d.]+, delays=[\d.]+/0/0/[\d.]+, dsn=2\.0\.0, "
                                      r"status=sent \(delivered to %s\)" %
                             (re.escape(rcpt), what))
        for rcpt in ("ann@virt.test", "bob@virt.test"):
            self.assertNotRegex(inst.log_text(), r"postilion/qmgr\[\d+\]: [0-9A-Za-z]+: to=<%s>.*status=sent" % rcpt)

        # POP3 out, as ann of auth_virtual_users.
        p = poplib.POP3(inst.addr, inst.ports["pop3"], timeout=20)
        p.stls(tls_context())
        p.user("ann@virt.test")
        p.pass_(PASSWORD)
        self.assertEqual(p.stat()[0], 2)
        got = sorted(b"\n".join(p.retr(i)[1]).decode() for i in (1, 2))
        p.quit()
        self.assertTrue(any("Subject: hello virtual" in t and "Delivered-To: ann@virt.test" in t for t in got), got)
        self.assertTrue(any("Subject: second" in t for t in got), got)

    def test_unknown_users_refused_and_bounced(self):
        # The agent's own table lacks carol (qmgr's and smtpd's have her): the agent
        # bounces her; dave is in no table, so smtpd refuses him at RCPT.
        agent_table = os.path.join(harness.tmp_root(), "agent-vmailbox-%d" % os.getpid())
        with open(agent_table, "w") as f:
            f.write("ann@virt.test virt.test/ann/\n")
        self.addCleanup(lambda: [os.unlink(p) for p in (agent_table, agent_table + ".db") if os.path.exists(p)])
        inst = self.instance({"ann@virt.test": "virt.test/ann/", "carol@virt.test": "virt.test/carol/"},
                             virtual_args="-o virtual_mailbox_maps=hash:" + agent_table)
        inst.ctl("map", "build", agent_table, check=True)
        with smtplib.SMTP(inst.addr, inst.ports["smtp"], timeout=30) as s:
            with self.assertRaises(smtplib.SMTPRecipientsRefused) as cm:
                s.sendmail("ann@virt.test", ["dave@virt.test"], "Subject: nobody\r\n\r\nx\r\n")
            code, text = cm.exception.recipients["dave@virt.test"]
            self.assertEqual(code, 550)
            self.assertIn(b"5.1.1", text)
            self.assertIn(b"virtual mailbox table", text)
            s.sendmail("ann@virt.test", ["carol@virt.test"], "Subject: to carol\r\n\r\nhello carol\r\n")
        # The DSN goes back to ann, a virtual mailbox too.
        harness.wait_for(lambda: len(self.messages("virt.test/ann")) >= 1, 30, "the DSN for ann")
        self.assertFalse(os.path.exists(os.path.join(self.base, "virt.test", "carol")))
        files = self.messages("virt.test/ann")
        self.assertEqual(len(files), 1)
        dsn = self.parse(files[0])
        self.assertEqual(dsn["Return-Path"], "<>")
        self.assertEqual(dsn.get_content_type(), "multipart/report")
        fields = dsn.get_payload()[1].get_payload()
        self.assertEqual(fields[1]["Action"], "failed")
        self.assertEqual(fields[1]["Status"], "5.1.1")
        self.assertIn("carol@virt.test", fields[1]["Final-Recipient"])
        self.assertIn("user unknown in virtual mailbox table", fields[1]["Diagnostic-Code"])
        self.assertRegex(inst.log_text(), r"postilion/virtual\[\d+\]: [0-9A-Za-z]+: to=<carol@virt\.test>, "
                                          r"relay=virtual, .*dsn=5\.1\.1, status=bounced \(user unknown in "
                                          r"virtual mailbox table\)")

    def test_extension_and_smtputf8_sender_delivered(self):
        # ann+news is accepted by smtpd because ann is in the table; qmgr and virtual(8)
        # decide with the same keys, so it is delivered to ann, not bounced
        # (backscatter). The SMTPUTF8 sender reaches the mailbox as the UTF-8 it came in.
        inst = self.instance({"ann@virt.test": "virt.test/ann/"})
        sender = "jörg@bücher.example"
        with smtplib.SMTP(inst.addr, inst.ports["smtp"], timeout=30) as s:
            s.ehlo()
            self.assertTrue(s.has_extn("smtputf8"))
            s.sendmail("ann@virt.test", ["ann+news@virt.test"], "Subject: extension\r\n\r\nfor ann+news\r\n")
            s.sendmail(sender, ["ann@virt.test"], "Subject: utf8 sender\r\n\r\nfrom joerg\r\n",
                       mail_options=["SMTPUTF8"])
        harness.wait_for(lambda: len(self.messages("virt.test/ann")) >= 2, 30, "two messages for ann")
        texts = {}
        for path in self.messages("virt.test/ann"):
            with open(path, "rb") as f:
                raw = f.read()
            subject = re.search(rb"^Subject: (.*)$", raw, re.M).group(1).decode()
            texts[subject] = raw
        self.assertEqual(sorted(texts), ["extension", "utf8 sender"], "no DSN: nothing bounced")
        self.assertIn(b"\nDelivered-To: ann+news@virt.test\n", texts["extension"])
        self.assertTrue(texts["utf8 sender"].startswith(("Return-Path: <%s>\n" % sender).encode()),
                        texts["utf8 sender"][:120])
        log = inst.log_text()
        self.assertRegex(log, r"postilion/virtual\[\d+\]: [0-9A-Za-z]+: to=<ann\+news@virt\.test>, "
                              r"relay=virtual, .*status=sent")
        self.assertNotIn("status=bounced", log)

    def test_hostile_table_value_deferred(self):
        inst = self.instance({"ann@virt.test": "virt.test/ann/", "evil@virt.test": "../x/",
                              "abs@virt.test": "/tmp/pst-virtual-abs/"})
        with smtplib.SMTP(inst.addr, inst.ports["smtp"], timeout=30) as s:
            s.sendmail("sender@remote.test", ["evil@virt.test", "abs@virt.test"], "Subject: x\r\n\r\nx\r\n")
        inst.wait_log("to=<evil@virt.test>, relay=virtual", 30)
        inst.wait_log("to=<abs@virt.test>, relay=virtual", 30)
        log = inst.log_text()
        self.assertRegex(log, r"postilion/virtual\[\d+\]: warning: [0-9A-Za-z]+: evil@virt\.test: mail system "
                              r"configuration error: virtual_mailbox_maps value \"\.\./x/\" for evil@virt\.test: "
                              r"\"\.\.\" in mailbox path")
        self.assertRegex(log, r"to=<evil@virt\.test>, relay=virtual, delay=[\d.]+, delays=[\d.]+/0/0/[\d.]+, "
                              r"dsn=4\.3\.5, status=deferred "
                              r"\(mail system configuration error")
        self.assertRegex(log, r"to=<abs@virt\.test>, .*status=deferred \(mail system configuration error: "
                              r".*absolute mailbox path\)")
        self.assertFalse(os.path.exists(os.path.join(inst.base, "x")))
        self.assertFalse(os.path.exists("/tmp/pst-virtual-abs"))
        harness.wait_for(lambda: "evil@virt.test" in inst.ctl("queue").stdout, 30, "the message in the queue")
        listing = inst.ctl("queue", check=True).stdout
        self.assertIn("mail system configuration error", listing)
        self.assertIn("evil@virt.test", listing)

    def test_check_names_a_missing_virtual_service(self):
        harness.require_daemon(self, "master")
        inst = self.make_instance(ports=())
        inst.init()
        with open(inst.main_conf(), "a") as f:
            f.write("virtual_mailbox_domains = %s\nvirtual_mailbox_base = %s\n" % (DOMAIN, inst.base))
            f.write("virtual_mailbox_maps = inline:{ann@virt.test=ann/}\n")
        r = inst.ctl("check")
        # init wrote the service; the tables for the owner are still missing.
        self.assertNotIn("no virtual service", r.stdout)
        self.assertIn("virtual_uid_maps is not set", r.stdout)
        self.assertIn("virtual_gid_maps is not set", r.stdout)
        self.assertNotIn("virtual_mailbox_maps is not set", r.stdout)
        self.assertEqual(r.returncode, 2, r.stdout)
        with open(inst.main_conf(), "a") as f:
            f.write("virtual_uid_maps = static:5000\nvirtual_gid_maps = static:5000\n")
        self.assertNotIn("virtual", inst.ctl("check").stdout)
        with open(inst.master_conf()) as f:
            lines = [l for l in f if not l.startswith("virtual ")]
        with open(inst.master_conf(), "w") as f:
            f.writelines(lines)
        r = inst.ctl("check")
        self.assertIn("virtual_mailbox_domains is set but master.conf has no virtual service", r.stdout)
        self.assertIn("virtual unix - n - - - virtual", r.stdout)
        self.assertEqual(r.returncode, 2, r.stdout)


if __name__ == "__main__":
    harness.main()
