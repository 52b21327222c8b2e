#!/usr/bin/env python3
# tests/test_system_user.py - one real system account end to end (as root): its
# password hash in /etc/shadow (yescrypt, made by `postilionctl user hash`), mail sent
# to it over SMTP delivered by local(8) into ~/Maildir as that user, and read back over
# POP3 through auth(8)'s system backend; a wrong password is refused.
import os
import poplib
import pwd
import smtplib
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402

USER, PASSWORD = "pstsysuser", "Sys-user pass 1"


@unittest.skipUnless(os.geteuid() == 0, "creates a system account: root only")
class SystemUserTest(harness.InstanceTestCase):

    def add_user(self, home):
        subprocess.run(["userdel", "-f", USER], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(["useradd", "-M", "-d", home, "-s", "/usr/sbin/nologin", USER], check=True)
        self.addCleanup(subprocess.run, ["userdel", "-f", USER], stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL)
        pw = pwd.getpwnam(USER)
        os.makedirs(home)
        os.chown(home, pw.pw_uid, pw.pw_gid)
        os.chmod(home, 0o755)
        h = subprocess.run([harness.sbin("postilionctl"), "user", "hash"], input=PASSWORD + "\n",
                           text=True, stdout=subprocess.PIPE, check=True).stdout.strip()
        self.assertTrue(h.startswith("$y$"), h)
        subprocess.run(["usermod", "-p", h, USER], check=True)
        return pw

    def test_smtp_in_pop3_out(self):
        for d in ("master", "smtpd", "qmgr", "local", "auth", "pop3d"):
            harness.require_daemon(self, d)
        inst = self.make_instance(ports=("smtp", "pop3"))
        inst.init("--user", "postilion")
        pw = self.add_user(os.path.join(inst.base, "home", USER))
        with open(inst.main_conf(), "a") as f:
            f.write("auth_backends = system\n")
        inst.start()
        inst.wait_ready()

        rcpt = "%s@%s" % (USER, inst.domain)
        with smtplib.SMTP(inst.addr, inst.ports["smtp"], timeout=30) as s:
            s.sendmail("alice@remote.test", [rcpt], "Subject: to a system user\r\n\r\nhello there\r\n")
        new = os.path.join(pw.pw_dir, "Maildir", "new")
        harness.wait_for(lambda: os.path.isdir(new) and os.listdir(new), 30, "delivery into " + new)
        name = os.listdir(new)[0]
        # local wrote it as the recipient, not as root.
        self.assertEqual(pw.pw_uid, os.stat(os.path.join(new, name)).st_uid)

        bad = poplib.POP3(inst.addr, inst.ports["pop3"], timeout=30)
        bad.user(USER)
        with self.assertRaises(poplib.error_proto):
            bad.pass_("not the password")
        bad.close()

        p = poplib.POP3(inst.addr, inst.ports["pop3"], timeout=30)
        p.user(USER)
        p.pass_(PASSWORD)
        self.assertEqual(1, p.stat()[0])
        lines = [l.decode() for l in p.retr(1)[1]]
        self.assertIn("Subject: to a system user", lines)
        self.assertIn("Delivered-To: " + rcpt, lines)
        self.assertIn("hello there", lines)
        p.dele(1)
        p.quit()
        harness.wait_for(lambda: not os.listdir(new) and not os.listdir(os.path.join(pw.pw_dir, "Maildir", "cur")),
                         10, "the message removed after QUIT")
        log = inst.log_text()
        self.assertIn("backend=system", log)
        self.assertIn("authentication failed: user=<%s>" % USER, log)
        self.assertNotIn(PASSWORD, log)


if __name__ == "__main__":
    harness.main()
