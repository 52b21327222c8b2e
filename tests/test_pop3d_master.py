# tests/test_pop3d_master.py - pop3d and auth as master(8) runs them: an instance made
# by `postilionctl init` with POP3 (STLS) and POP3S ports, virtual users in a hash map,
# poplib fetching and deleting over both ports.
import os
import poplib
import pwd
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from test_pop3d import sha512_crypt, tls_context  # noqa: E402

USER, PASSWORD = "carol@example.test", "carol's password"


class Pop3dUnderMasterTest(harness.InstanceTestCase):
    def test_fetch_over_stls_and_pop3s(self):
        harness.require_daemon(self, "pop3d")
        harness.require_daemon(self, "auth")
        harness.require_daemon(self, "master")
        inst = self.make_instance(ports=("pop3", "pop3s"), tls=True)
        inst.init()
        owner = None
        with open(inst.main_conf()) as f:
            for line in f:
                if line.split("=")[0].strip() == "mail_owner":
                    owner = pwd.getpwnam(line.split("=", 1)[1].strip())
        self.assertIsNotNone(owner)
        # pop3d runs as root (unpriv n), as pop3d(8) asks: its sessions switch to the
        # mailbox owner, here a uid of its own when the test runs as root.
        with open(inst.master_conf()) as f:
            lines = f.read().splitlines(True)
        with open(inst.master_conf(), "w") as f:
            for line in lines:
                cols = line.split()
                if len(cols) > 7 and cols[7] == "pop3d" and cols[3] == "-":
                    cols[3] = "n"
                    line = " ".join(cols) + "\n"
                f.write(line)
        if os.geteuid() == 0:
            owner = pwd.struct_passwd(("vmail", "x", 12345, 12345, "", "/", "/bin/false"))
        md = os.path.join(inst.base, "mail", "carol", "Maildir")
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(md, sub))
        texts = ["Subject: one\n\nfirst\n", "Subject: two\n\nsecond\n"]
        for i, t in enumerate(texts):
            with open(os.path.join(md, "new", "%d.M1P1.test" % (1700000000 + i)), "w") as f:
                f.write(t)
        for dirpath, _, files in os.walk(os.path.join(inst.base, "mail")):
            os.chown(dirpath, owner.pw_uid, owner.pw_gid)
            for n in files:
                os.chown(os.path.join(dirpath, n), owner.pw_uid, owner.pw_gid)
        users = os.path.join(inst.config_dir, "users")
        with open(users, "w") as f:
            f.write("%s %s:%d:%d:%s/\n" % (USER, sha512_crypt(PASSWORD), owner.pw_uid, owner.pw_gid, md))
        inst.ctl("map", "build", users, check=True)
        with open(inst.main_conf(), "a") as f:
            f.write("auth_backends = virtual\nauth_virtual_users = hash:%s\n" % users)
        inst.start()
        inst.wait_ready()

        p = poplib.POP3(inst.addr, inst.ports["pop3"], timeout=20)
        self.assertIn("STLS", p.capa())
        p.stls(tls_context())
        p.user(USER)
        p.pass_(PASSWORD)
        self.assertEqual(2, p.stat()[0])
        self.assertEqual(["Subject: one", "", "first"], [l.decode() for l in p.retr(1)[1]])
        uidls = [l.split()[1] for l in p.uidl()[1]]
        p.dele(1)
        p.quit()

        s = poplib.POP3_SSL(inst.addr, inst.ports["pop3s"], context=tls_context(), timeout=20)
        s.user(USER)
        s.pass_(PASSWORD)
        self.assertEqual(1, s.stat()[0])
        self.assertEqual([uidls[1]], [l.split()[1] for l in s.uidl()[1]])
        s.quit()
        log = inst.log_text()
        self.assertIn("postilion/auth[", log)
        self.assertIn("login: user=<%s>" % USER, log)
        if os.geteuid() == 0:
            # The sessions really ran as the virtual user: the mailbox index they wrote is theirs.
            self.assertEqual(12345, os.stat(os.path.join(md, "postilion-index.db")).st_uid)


if __name__ == "__main__":
    harness.main()
