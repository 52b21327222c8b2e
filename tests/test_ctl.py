# tests/test_ctl.py - postilionctl without a running master: init, config, check,
# bad configuration, lookup tables.
import os
import re
import stat
import subprocess

import harness
from harness import InstanceTestCase

INIT_OPTIONS = ["--listen", "--smtp-port", "--submission-port", "--smtps-port", "--pop3-port",
                "--pop3s-port", "--imap-port", "--imaps-port", "--hostname", "--domain",
                "--spool", "--prefix", "--user", "--maillog", "--tls-selfsigned", "--force"]


class CtlTest(InstanceTestCase):
    def setUp(self):
        super().setUp()
        if not os.access(harness.sbin("postilionctl"), os.X_OK):
            with open(os.path.join(harness.ROOT, "ctl", "Makefile.am")) as f:
                if "sbin_PROGRAMS" not in f.read():
                    self.skipTest("postilionctl is not linked yet")
            self.fail("postilionctl is not installed in %s" % harness.prefix())

    def test_init_help_documents_every_option(self):
        inst = self.make_instance()
        r = inst.ctl("init", "--help")
        self.assertEqual(r.returncode, 0, r.stderr)
        for opt in INIT_OPTIONS:
            self.assertIn(opt, r.stdout)
        self.assertFalse(os.path.exists(inst.config_dir), "--help must not write anything")

    def test_init_writes_instance_and_refuses_overwrite(self):
        inst = self.make_instance(ports=("smtp", "submission"))
        inst.init()
        for f in (inst.main_conf(), inst.master_conf()):
            self.assertTrue(os.path.isfile(f), f)
        for d in ("incoming", "active", "deferred", "hold", "corrupt", "maildrop", "spare", "private",
                  "public", "pid"):
            self.assertTrue(os.path.isdir(os.path.join(inst.spool, d)), d)
        main = open(inst.main_conf()).read()
        self.assertRegex(main, r"(?m)^myhostname = mail\.example\.test$")
        self.assertRegex(main, r"(?m)^queue_directory = %s$" % re.escape(inst.spool))
        master = open(inst.master_conf()).read()
        if harness.have_daemon("smtpd"):
            self.assertIn("%s:%d " % (inst.addr, inst.ports["smtp"]), master)
            self.assertIn("%s:%d " % (inst.addr, inst.ports["submission"]), master)
            self.assertNotIn("smtpd_tls_wrappermode", master, "smtps is off")
        else:
            self.assertNotIn("smtpd", master, "smtpd is not installed, so it must not be listed")
        if harness.have_daemon("smtp"):
            # relay_transport's service: the smtp program under its own name, as in Postfix.
            self.assertRegex(master, r"(?m)^relay\s+unix\s.*\ssmtp$")
            self.assertRegex(master, r"(?m)^smtp\s+unix\s.*\ssmtp$")
        # a second init must not overwrite; --force may
        before = open(inst.main_conf()).read()
        r = inst.ctl("init", "--spool", inst.spool, "--prefix", harness.prefix())
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--force", r.stderr)
        self.assertEqual(before, open(inst.main_conf()).read())
        r = inst.ctl("init", "--force", "--spool", inst.spool, "--prefix", harness.prefix(),
                     "--hostname", "other.example.test")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("myhostname = other.example.test", open(inst.main_conf()).read())

    def test_config_show_nondefault_default_and_set(self):
        inst = self.make_instance()
        inst.init()
        n = inst.ctl("config", "-n", check=True).stdout
        self.assertIn("myhostname = mail.example.test\n", n)
        self.assertIn("queue_directory = %s\n" % inst.spool, n)
        d = inst.ctl("config", "-d", check=True).stdout
        self.assertNotIn("myhostname = mail.example.test\n", d)
        self.assertRegex(d, r"(?m)^myhostname = ")
        full = inst.ctl("config", check=True).stdout
        self.assertGreater(len(full.splitlines()), len(n.splitlines()))
        one = inst.ctl("config", "mydomain", check=True).stdout
        self.assertEqual(one, "mydomain = example.test\n")

        # set in place: the comment lines and the line order stay
        with open(inst.main_conf(), "a") as f:
            f.write("# keep this comment\n")
        lines_before = open(inst.main_conf()).read().splitlines()
        inst.ctl("config", "myhostname=changed.example.test", check=True)
        lines_after = open(inst.main_conf()).read().splitlines()
        self.assertEqual(len(lines_before), len(lines_after))
        self.assertIn("# keep this comment", lines_after)
        self.assertIn("myhostname = changed.example.test", lines_after)
        self.assertEqual(inst.ctl("config", "myhostname", check=True).stdout,
                         "myhostname = changed.example.test\n")

        # unknown parameters are refused and the file is left alone
        text = open(inst.main_conf()).read()
        r = inst.ctl("config", "no_such_parameter_xyz=1")
        self.assertEqual(r.returncode, 2)
        self.assertIn("no_such_parameter_xyz", r.stderr)
        self.assertEqual(text, open(inst.main_conf()).read())
        r = inst.ctl("config", "no_such_parameter_xyz")
        self.assertEqual(r.returncode, 2)
        # a bad value is refused with file:line, and the file is left alone
        r = inst.ctl("config", "message_size_limit=lots")
        self.assertEqual(r.returncode, 2)
        self.assertRegex(r.stderr, r"main\.conf:\d+: message_size_limit")
        self.assertEqual(text, open(inst.main_conf()).read())

    def test_check_reports_wrongly_moded_spool_folder(self):
        inst = self.make_instance()
        inst.init()
        r = inst.ctl("check")
        self.assertNotIn("problem: " + inst.spool, r.stdout, "a fresh spool has no problems")
        if harness.have_daemon("master"):
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        incoming = os.path.join(inst.spool, "incoming")
        os.chmod(incoming, 0o777)
        r = inst.ctl("check")
        self.assertEqual(r.returncode, 2, r.stdout)
        self.assertIn("problem: %s: mode 0777, expected 0700" % incoming, r.stdout)
        self.assertIn("remedy: chmod 0700 %s" % incoming, r.stdout)
        os.rmdir(os.path.join(inst.spool, "hold"))
        r = inst.ctl("check")
        self.assertIn("%s is missing" % os.path.join(inst.spool, "hold"), r.stdout)

    def test_check_certificate_and_key(self):
        inst = self.make_instance(tls=True)
        inst.init()
        cert = os.path.join(inst.config_dir, "tls", "cert.pem")
        key = os.path.join(inst.config_dir, "tls", "key.pem")
        self.assertTrue(os.path.isfile(cert) and os.path.isfile(key))
        self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o600)
        x = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-subject", "-ext",
                            "subjectAltName"], stdout=subprocess.PIPE, text=True)
        self.assertIn("mail.example.test", x.stdout)
        self.assertIn("DNS:mail.example.test", x.stdout)
        n = inst.ctl("config", "-n", check=True).stdout
        if "smtpd_tls_cert_file" not in n:
            self.skipTest("this build has no TLS certificate parameters yet")
        r = inst.ctl("check")
        self.assertNotIn("cert.pem", r.stdout)
        # a key from elsewhere: reported as not matching
        subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-out", key], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        r = inst.ctl("check")
        self.assertEqual(r.returncode, 2)
        self.assertIn("does not match", r.stdout)

    def test_bad_config_reports_file_line_and_starts_nothing(self):
        inst = self.make_instance()
        inst.init()
        with open(inst.main_conf()) as f:
            n = len(f.read().splitlines())
        with open(inst.main_conf(), "a") as f:
            f.write("this line is not a setting\n")
        for cmd in ("start", "check", "config"):
            r = inst.ctl(cmd)
            self.assertEqual(r.returncode, 2, "%s: %s" % (cmd, r.stderr))
            self.assertIn("main.conf:%d" % (n + 1), r.stderr)
        self.assertIsNone(inst.master_pid())
        self.assertFalse(os.path.exists(inst.pid_file))

        inst2 = self.make_instance(name="badmaster")
        inst2.init()
        with open(inst2.master_conf()) as f:
            m = len(f.read().splitlines())
        with open(inst2.master_conf(), "a") as f:
            f.write("broken inet\n")
        r = inst2.ctl("start")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("master.conf:%d" % (m + 1), r.stderr)
        self.assertFalse(os.path.exists(inst2.pid_file))

    def test_unknown_restriction_refused_with_file_line(self):
        # A Postfix habit Postilion does not run must stop check, config, start and smtpd
        # itself: never a block the administrator believes is on while it is skipped.
        inst = self.make_instance()
        inst.init()
        with open(inst.main_conf()) as f:
            good = f.read()
        n = len(good.splitlines())
        with open(inst.main_conf(), "a") as f:
            f.write("smtpd_client_restrictions = permit_mynetworks,\n    reject_rbl_clientt bl.example\n")
        want = "main.conf:%d: smtpd_client_restrictions: unknown restriction \"reject_rbl_clientt\"" % (n + 1)
        for cmd in ("check", "config", "start"):
            r = inst.ctl(cmd)
            self.assertEqual(r.returncode, 2, "%s: %s" % (cmd, r.stderr))
            self.assertIn(want, r.stderr, cmd)
        self.assertIsNone(inst.master_pid())
        if harness.have_daemon("smtpd"):
            r = subprocess.run([harness.program("smtpd"), "--standalone", "-c", inst.config_dir, "-l",
                                "%s:%d" % (harness.address(), harness.port())],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("fatal: ", r.stderr)
            self.assertIn(want, r.stderr)
        # Setting one is refused the same way, and the file is left alone.
        with open(inst.main_conf(), "w") as f:
            f.write(good)
        r = inst.ctl("config", "smtpd_client_restrictions=permit_mynetworks, reject_bogus")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("smtpd_client_restrictions: unknown restriction \"reject_bogus\"", r.stderr)
        self.assertEqual(good, open(inst.main_conf()).read())
        self.assertEqual(inst.ctl("check").returncode == 0, harness.have_daemon("master"))

    def test_status_and_stop_when_not_running(self):
        inst = self.make_instance()
        inst.init()
        self.assertEqual(inst.ctl("status").returncode, 1)
        self.assertEqual(inst.ctl("stop").returncode, 1)
        self.assertEqual(inst.ctl("reload").returncode, 1)
        missing = harness.Instance(name="none")
        self.assertEqual(missing.ctl("status").returncode, 2, "no main.conf is a config error")

    def test_map_build_and_query(self):
        if os.path.exists(os.path.join(harness.ROOT, "lib", "maps", "placeholder.cc")):
            self.skipTest("lib/maps not written yet")
        inst = self.make_instance()
        inst.init()
        table = os.path.join(inst.base, "virtual")
        with open(table, "w") as f:
            f.write("# comment\nInfo@Example.Test  alice@example.test\n"
                    "sales@example.test bob@example.test, carol@example.test\n")
        r = inst.ctl("map", "build", table)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.isfile(table + ".db"))
        r = inst.ctl("map", "query", table, "info@example.test")
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "alice@example.test"), r.stderr)
        r = inst.ctl("map", "query", table, "SALES@example.test")
        self.assertEqual(r.stdout.strip(), "bob@example.test, carol@example.test")
        r = inst.ctl("map", "query", table, "nobody@example.test")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "")


if __name__ == "__main__":
    harness.main()
