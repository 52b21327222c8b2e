#!/usr/bin/env python3
# tests/test_local_command.py - local(8)'s mailbox_command, mailbox_command_maps and
# luser_relay under master(8), mail in over SMTP: the command runs as the recipient with
# the Postfix environment and the message (From line, Return-Path, Delivered-To) on
# stdin; exit 75 defers with the command's output in the queue listing and a flush
# delivers once it is fixed; exit 67 bounces with a DSN to the sender; a per-user map
# entry wins over mailbox_command; mail for an unknown user goes to luser_relay.
# Root only: it creates system users (removed afterwards).
import email
import email.policy
import glob
import json
import os
import smtplib
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402

# Records who ran it, its argument, environment and stdin in the recipient's home, and
# exits with the code in ~/exitcode (0 without one), after a line on stderr.
SCRIPT = """#!/bin/sh
n=$(ls "$HOME" | grep -c '^run[0-9]*\\.in$')
out="$HOME/run$n"
{
  echo "uid=$(id -u)"
  echo "gid=$(id -g)"
  echo "arg=$1"
  echo "arg3=$3"
  echo "arg4=$4"
  echo "pwd=$(pwd)"
  for v in HOME USER LOGNAME SHELL SENDER RECIPIENT LOCAL EXTENSION DOMAIN PATH ORIGINAL_RECIPIENT \
           CLIENT_ADDRESS CLIENT_HOSTNAME CLIENT_HELO CLIENT_PROTOCOL ENVID SASL_SENDER; do
    eval "echo $v=\\$$v"
  done
} > "$out.env.tmp"
cat > "$out.in.tmp"
mv "$out.env.tmp" "$out.env"
mv "$out.in.tmp" "$out.in"
code=$(cat "$HOME/exitcode" 2>/dev/null || echo 0)
echo "tag=$2 mailbox busy, try later" >&2
exit $code
"""


@unittest.skipUnless(os.geteuid() == 0, "creates system users: root only")
class LocalCommandTest(harness.InstanceTestCase):

    def setUp(self):
        super().setUp()
        for d in ("master", "smtpd", "qmgr", "local"):
            harness.require_daemon(self, d)

    def instance(self, nusers, conf=lambda script, users: {}):
        """A started instance with nusers system users (their pwd entries in self.users)
        and mailbox_command running SCRIPT; conf(script, users) adds parameters."""
        inst = self.make_instance(ports=("smtp",))
        extra = ["--user", "postilion"] if harness.user_exists("postilion") else []
        inst.init(*extra)
        self.users = [harness.add_system_user(self, "plc", os.path.join(inst.base, "home")) for _ in range(nusers)]
        self.script = os.path.join(inst.base, "deliver.sh")
        with open(self.script, "w") as f:
            f.write(SCRIPT)
        os.chmod(self.script, 0o755)
        base = {"alias_maps": "hash:" + os.path.join(inst.config_dir, "aliases"),
                "mydestination": "$myhostname, localhost, $mydomain",
                "minimal_backoff_time": "1h", "maximal_backoff_time": "2h", "queue_run_delay": "1h",
                # $extension and the conditional are local's own expansion, per delivery;
                # "$EXTENSION" is the shell's (mailbox_command is not expanded at load).
                "mailbox_command": self.script + ' "$extension" ${extension?{ext}:{none}} "$EXTENSION"'
                                                 ' ${client_helo}/${client_address}/${sasl_sender?{$sasl_sender}:{nosasl}}'}
        base.update(conf(self.script, self.users))
        with open(inst.main_conf(), "a") as f:
            for k, v in base.items():
                f.write("%s = %s\n" % (k, v))
        with open(os.path.join(inst.config_dir, "aliases"), "w") as f:
            f.write("postmaster: root\n")
        r = subprocess.run([harness.sbin("sendmail"), "-C", inst.config_dir, "-bi"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout)
        inst.start()
        inst.wait_ready()
        return inst

    def addr(self, inst, name):
        return "%s@%s" % (name, inst.domain)

    def send(self, inst, sender, rcpt, subject, body="the body\r\n", mail_options=()):
        with smtplib.SMTP(inst.addr, inst.ports["smtp"], timeout=30, local_hostname="client.example") as s:
            s.sendmail(sender, [rcpt], "Subject: %s\r\n\r\n%s" % (subject, body), list(mail_options))

    def runs(self, pw):
        return sorted(glob.glob(os.path.join(pw.pw_dir, "run*.in")))

    def wait_runs(self, pw, n, timeout=30):
        harness.wait_for(lambda: len(self.runs(pw)) >= n, timeout, "%d command runs for %s" % (n, pw.pw_name))
        out = []
        for path in self.runs(pw)[:n]:
            with open(path[:-3] + ".env") as f:
                env = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
            with open(path, "rb") as f:
                out.append((env, f.read()))
        return out

    def listing(self, inst):
        r = inst.ctl("queue", "-j", check=True)
        return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]

    def queue_empty(self, inst):
        return harness.queue_empty(inst.spool)

    def set_exit(self, pw, code):
        path = os.path.join(pw.pw_dir, "exitcode")
        with open(path, "w") as f:
            f.write("%d\n" % code)
        os.chmod(path, 0o644)

    def test_command_runs_as_user_with_environment_and_message(self):
        inst = self.instance(1)
        pw, = self.users
        rcpt = self.addr(inst, pw.pw_name + "+lists")
        # AUTH= from a client in mynetworks (trusted to assert it): the SASL sender.
        self.send(inst, "alice@remote.test", rcpt, "to the command",
                  mail_options=["ENVID=env-42", "AUTH=alice+2Bx@remote.test"])
        (env, data), = self.wait_runs(pw, 1)
        harness.wait_for(lambda: self.queue_empty(inst), 30, "empty queue")
        self.assertEqual(env["uid"], str(pw.pw_uid))
        self.assertEqual(env["gid"], str(pw.pw_gid))
        self.assertEqual(env["arg"], "lists")  # $extension expanded by local
        self.assertEqual(env["arg3"], "lists")  # "$EXTENSION" left to the shell, as in Postfix
        # The client's names, as Postfix's mailbox_command knows them.
        self.assertEqual(env["arg4"], "client.example/%s/alice+x@remote.test" % env["CLIENT_ADDRESS"])
        self.assertEqual(env["SASL_SENDER"], "alice+x@remote.test")
        self.assertEqual(env["pwd"], pw.pw_dir)
        want = {"HOME": pw.pw_dir, "USER": pw.pw_name, "LOGNAME": pw.pw_name, "SHELL": "/bin/sh",
                "SENDER": "alice@remote.test", "RECIPIENT": rcpt, "LOCAL": pw.pw_name + "+lists",
                "EXTENSION": "lists", "DOMAIN": inst.domain, "ORIGINAL_RECIPIENT": rcpt,
                "CLIENT_HELO": "client.example", "CLIENT_PROTOCOL": "ESMTP", "ENVID": "env-42"}
        for k, v in want.items():
            self.assertEqual(env[k], v, k)
        # What smtpd recorded about the client, as Postfix's local passes it on.
        self.assertRegex(env["CLIENT_ADDRESS"], r"^127\.\d+\.\d+\.\d+$")
        self.assertIn("[%s]" % env["CLIENT_ADDRESS"], inst.log_text())
        self.assertTrue(env["CLIENT_HOSTNAME"])
        # stdin: the envelope From line, Return-Path, Delivered-To, then the message.
        lines = data.decode().split("\n")
        self.assertTrue(lines[0].startswith("From alice@remote.test "), lines[0])
        self.assertEqual(lines[1], "Return-Path: <alice@remote.test>")
        self.assertEqual(lines[2], "Delivered-To: " + rcpt)
        m = email.message_from_bytes(data.split(b"\n", 1)[1], policy=email.policy.compat32)
        self.assertEqual(m["Subject"], "to the command")
        self.assertEqual(m.get_payload(), "the body\n")
        self.assertNotIn("\r", data.decode())
        self.assertEqual(glob.glob(os.path.join(pw.pw_dir, "Maildir", "new", "*")), [])  # not home_mailbox
        self.assertIn("delivered to command: " + self.script + ' "lists" ext', inst.log_text())

    def test_extension_split_at_recipient_delimiter(self):
        # $extension and the command's EXTENSION and LOCAL follow recipient_delimiter,
        # not a fixed '+'.
        inst = self.instance(1, lambda script, users: {"recipient_delimiter": "-"})
        pw, = self.users
        rcpt = self.addr(inst, pw.pw_name + "-lists")
        self.send(inst, "alice@remote.test", rcpt, "dash extension")
        (env, _), = self.wait_runs(pw, 1)
        self.assertTrue(env["arg4"].endswith("/nosasl"), env["arg4"])  # no AUTH=: the ${name?{..}:{..}} form gives its second part
        self.assertEqual(env["SASL_SENDER"], "")
        self.assertEqual(env["arg"], "lists")
        self.assertEqual(env["EXTENSION"], "lists")
        self.assertEqual(env["LOCAL"], pw.pw_name + "-lists")

    def test_shell_unsafe_sender_reaches_the_command_filtered(self):
        # mailbox_command is not expanded at load: local fills in $sender.
        inst = self.instance(1, lambda script, users: {"mailbox_command": script + " $sender"})
        pw, = self.users
        marker = os.path.join(pw.pw_dir, "pwned")  # the command's working directory
        # The quoted local part holds shell syntax; the value is filtered, never run.
        evil = '"x;touch${IFS}pwned;`id`"@remote.test'
        self.send(inst, evil, self.addr(inst, pw.pw_name), "unsafe")
        (env, _), = self.wait_runs(pw, 1)
        safe = set("1234567890!@%-_=+:,./abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
        for value in (env["arg"], env["SENDER"]):
            self.assertIn("x_touch__IFS_", value)
            self.assertTrue(set(value) <= safe, value)
        self.assertFalse(os.path.exists(marker))

    def test_tempfail_defers_then_flush_delivers(self):
        inst = self.instance(1)
        pw, = self.users
        self.set_exit(pw, 75)
        self.send(inst, "alice@remote.test", self.addr(inst, pw.pw_name), "deferred")
        self.wait_runs(pw, 1)
        harness.wait_for(lambda: any(e["queue_name"] == "deferred" for e in self.listing(inst)), 30, "a deferred message")
        entry, = self.listing(inst)
        reason = entry["recipients"][0]["delay_reason"]
        self.assertIn("temporary failure", reason)
        self.assertIn("mailbox busy", reason)
        self.assertIn("mailbox busy", inst.ctl("queue", check=True).stdout)  # the mailq format
        self.set_exit(pw, 0)
        inst.ctl("queue", "flush", check=True)
        self.wait_runs(pw, 2)
        harness.wait_for(lambda: self.queue_empty(inst), 30, "empty queue after the flush")
        self.assertIn("status=sent", inst.log_text())

    def test_nouser_bounces_with_dsn_to_sender(self):
        inst = self.instance(2)
        sender, pw = self.users
        self.set_exit(pw, 67)
        self.send(inst, self.addr(inst, sender.pw_name), self.addr(inst, pw.pw_name), "bounced")
        self.wait_runs(pw, 1)
        # The sender's own command receives the notice (its exit code is 0).
        (env, data), = self.wait_runs(sender, 1)
        self.assertEqual(env["SENDER"], "")
        dsn = email.message_from_bytes(data.split(b"\n", 1)[1], policy=email.policy.compat32)
        self.assertEqual(dsn["Return-Path"], "<>")
        self.assertEqual(dsn.get_content_type(), "multipart/report")
        fields = dsn.get_payload()[1].get_payload()
        self.assertEqual(fields[1]["Action"], "failed")
        self.assertEqual(fields[1]["Status"], "5.1.1")
        self.assertIn(self.addr(inst, pw.pw_name), fields[1]["Final-Recipient"])
        self.assertIn("user unknown", dsn.get_payload()[0].get_payload() + fields[1].get("Diagnostic-Code", ""))
        harness.wait_for(lambda: self.queue_empty(inst), 30, "empty queue")

    def test_map_entry_wins_over_mailbox_command(self):
        inst = self.instance(2, lambda script, users: {
            "mailbox_command_maps": "inline:{%s={%s mapped $user}}" % (users[0].pw_name, script)})
        pw, other = self.users
        self.send(inst, "alice@remote.test", self.addr(inst, pw.pw_name), "mapped")
        self.send(inst, "alice@remote.test", self.addr(inst, other.pw_name), "plain")
        (env, _), = self.wait_runs(pw, 1)
        self.assertEqual(env["arg"], "mapped")
        (env2, _), = self.wait_runs(other, 1)
        self.assertEqual(env2["arg"], "")  # mailbox_command, no extension

    def test_luser_relay_catches_unknown_users(self):
        inst = self.instance(1, lambda script, users: {"luser_relay": users[0].pw_name + "+$local",
                                                       "smtpd_reject_unlisted_recipient": "no"})
        pw, = self.users
        ghost = self.addr(inst, "no-such-user")
        self.send(inst, "alice@remote.test", ghost, "for nobody")
        (env, data), = self.wait_runs(pw, 1)
        self.assertEqual(env["EXTENSION"], "no-such-user")
        self.assertEqual(env["USER"], pw.pw_name)
        m = email.message_from_bytes(data.split(b"\n", 1)[1], policy=email.policy.compat32)
        self.assertEqual(m["Subject"], "for nobody")
        # Delivered like an alias target: RECIPIENT and Delivered-To name the relay address.
        relayed = self.addr(inst, pw.pw_name + "+no-such-user")
        self.assertEqual(env["RECIPIENT"], relayed)
        self.assertEqual(m.get_all("Delivered-To"), [relayed])
        harness.wait_for(lambda: self.queue_empty(inst), 30, "empty queue")
        self.assertNotIn("bounced", inst.log_text())


if __name__ == "__main__":
    unittest.main()
