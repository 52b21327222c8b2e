#!/usr/bin/env python3
# tests/test_smtpd_content_checks.py - header_checks (regexp:), mime_header_checks and
# body_checks (pcre:) on a real instance, driven with smtplib: a rejected Subject, body
# line and .exe attachment name (550 5.7.1, no queue file left), PREPEND/REPLACE/IGNORE
# seen in the queued message, REDIRECT replacing the recipients (`postilionctl queue show`), HOLD in the hold queue, DISCARD
# acknowledged but not queued, WARN logged; each in Postfix's log line shape. Also a
# cidr: table as smtpd_client_access_maps, and `postilionctl check` refusing a broken
# table line with FILE:LINE.
import json
import os
import smtplib
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402

ROOT = os.getuid() == 0

HEADER_CHECKS = r"""# regexp: header_checks
/^Subject: .*cheap pills/         REJECT No pills here
/^Subject: hold for review/       HOLD awaiting review
/^Subject: throw away/            DISCARD junk
/^Subject: keep an eye on/        WARN suspicious subject
/^X-Secret:/                      IGNORE
/^X-Moderate: yes/                REDIRECT moderator@nowhere.test
/^Received: from client\.test \(.*by .*for <bob@nowhere\.test>/   WARN seen our own Received header
/^X-Old-Tag: (.*)$/               REPLACE X-New-Tag: converted $1
if /^Subject:/
/tag me/                          PREPEND X-Checked: yes
endif
"""

MIME_HEADER_CHECKS = r"""# pcre: mime_header_checks
/^Content-(Disposition|Type):.*name\s*=\s*"?[^"]*\.(exe|scr|bat)"?/   REJECT .$2 attachments are not accepted
"""

BODY_CHECKS = r"""# pcre: body_checks
/^click here to win/              REJECT Spam body
/^(.*)confidential project(.*)$/  REPLACE $1[redacted]$2
"""

CIDR = """# cidr: client access
{blocked}/32      REJECT blocked by cidr table
127.0.0.0/8       OK
"""


class ContentChecksTest(harness.InstanceTestCase):

    def setUp(self):
        super().setUp()
        for d in ("master", "smtpd", "qmgr", "smtp", "resolver"):
            harness.require_daemon(self, d)
        self.inst = self.make_instance(ports=("smtp",))
        self.inst.init(*(["--user", "postilion"] if ROOT else []))
        etc = self.inst.config_dir
        self.tables = {}
        for name, text in (("header_checks", HEADER_CHECKS), ("mime_header_checks", MIME_HEADER_CHECKS),
                           ("body_checks", BODY_CHECKS), ("client_access", CIDR.format(blocked=self.inst.addr))):
            path = os.path.join(etc, name)
            with open(path, "w") as f:
                f.write(text)
            self.tables[name] = path
        with open(self.inst.main_conf(), "a") as f:
            # Port 1 on loopback refuses every connection: accepted mail stays deferred,
            # where `postilionctl queue show` prints it as it was queued.
            f.write("transport_maps = inline:{nowhere.test=smtp:[127.0.0.1]:1}\n")
            f.write("relay_domains = nowhere.test\nmynetworks = 127.0.0.0/8\n")
            f.write("minimal_backoff_time = 1h\nmaximal_backoff_time = 2h\nqueue_run_delay = 1h\n")
            f.write("header_checks = regexp:%s\n" % self.tables["header_checks"])
            f.write("mime_header_checks = pcre:%s\n" % self.tables["mime_header_checks"])
            f.write("body_checks = pcre:%s\n" % self.tables["body_checks"])
            f.write("smtpd_client_access_maps = cidr:%s\n" % self.tables["client_access"])

    def start(self):
        self.inst.start()
        self.inst.wait_ready()

    def send(self, sender, body, source=None):
        with smtplib.SMTP(self.inst.addr, self.inst.ports["smtp"], timeout=30,
                          source_address=(source, 0) if source else None) as s:
            s.ehlo("client.test")
            return s.sendmail(sender, ["bob@nowhere.test"], body)

    def listing(self):
        r = self.inst.ctl("queue", "-j", check=True)
        return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]

    def queued_from(self, sender):
        return [e for e in self.listing() if e["sender"] == sender]

    def incoming_files(self):
        d = os.path.join(self.inst.spool, "incoming")
        return [n for n in os.listdir(d)] if os.path.isdir(d) else []

    def assert_rejected(self, sender, body, text, log_part):
        with self.assertRaises(smtplib.SMTPDataError) as e:
            self.send(sender, body)
        self.assertEqual((550, ("5.7.1 " + text).encode()), (e.exception.smtp_code, e.exception.smtp_error))
        line = ("reject: %s from " % log_part)
        tail = ("; from=<%s> to=<bob@nowhere.test> proto=ESMTP helo=<client.test>: 5.7.1 %s" % (sender, text))
        harness.wait_for(lambda: any(line in l and l.endswith(tail) for l in self.inst.log_text().splitlines()),
                         10, "reject line for " + sender)
        self.assertEqual([], self.queued_from(sender))

    def test_actions(self):
        self.start()
        # REJECT on a header, a body line and a MIME part header.
        self.assert_rejected("r1@example.test", "Subject: cheap pills today\r\n\r\nhello\r\n",
                             "No pills here", "header Subject: cheap pills today")
        self.assert_rejected("r2@example.test", "Subject: hi\r\n\r\nfirst line\r\nClick here to WIN big\r\n",
                             "Spam body", "body Click here to WIN big")
        attachment = ("Subject: invoice\r\nMIME-Version: 1.0\r\n"
                      "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
                      "--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
                      "--b1\r\nContent-Type: application/octet-stream;\r\n\tname=\"invoice.exe\"\r\n"
                      "Content-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA\r\n--b1--\r\n")
        self.assert_rejected("r3@example.test", attachment, ".exe attachments are not accepted",
                             "header Content-Type: application/octet-stream;\\011name=\"invoice.exe\"")
        # No queue file is left behind by a rejected message.
        harness.wait_for(lambda: not [n for n in self.incoming_files() if n.startswith(".tmp")], 10,
                         "no temporary queue files")

        # PREPEND, REPLACE and IGNORE change what is queued.
        self.send("edit@example.test",
                  "Subject: please tag me\r\nX-Secret: internal\r\n routing data\r\nX-Old-Tag: alpha\r\n\r\n"
                  "about the confidential project plans\r\nbye\r\n")
        harness.wait_for(lambda: self.queued_from("edit@example.test"), 30, "edited message queued")
        qid = self.queued_from("edit@example.test")[0]["queue_id"]
        shown = self.inst.ctl("queue", "show", qid, check=True).stdout.replace("\r\n", "\n")
        self.assertIn("X-Checked: yes\nSubject: please tag me\n", shown)
        self.assertNotIn("X-Secret", shown)
        self.assertNotIn("routing data", shown)
        self.assertIn("X-New-Tag: converted alpha\n", shown)
        self.assertNotIn("X-Old-Tag", shown)
        self.assertIn("\nabout the [redacted] plans\nbye\n", shown)
        log = self.inst.log_text()
        self.assertIn("%s: prepend: header Subject: please tag me from " % qid, log)
        self.assertIn("%s: replace: header X-Old-Tag: alpha from " % qid, log)

        # REDIRECT: the message is queued for the new address only, under the ID logged.
        self.send("redir@example.test", "Subject: for the list\r\nX-Moderate: yes\r\n\r\nbody line\r\n")
        harness.wait_for(lambda: self.queued_from("redir@example.test"), 30, "redirected message queued")
        entry = self.queued_from("redir@example.test")[0]
        self.assertEqual(["moderator@nowhere.test"], [r["address"] for r in entry["recipients"]])
        self.assertIn("%s: redirect: header X-Moderate: yes from " % entry["queue_id"], self.inst.log_text())
        shown = self.inst.ctl("queue", "show", entry["queue_id"], check=True).stdout
        self.assertIn("X-Moderate: yes", shown)
        self.assertIn("body line", shown)

        # HOLD: accepted, and waiting in the hold queue (mailq shows it with "!").
        self.send("held@example.test", "Subject: hold for review\r\n\r\nbody\r\n")
        harness.wait_for(lambda: self.queued_from("held@example.test"), 30, "held message listed")
        held = self.queued_from("held@example.test")[0]
        self.assertEqual("hold", held["queue_name"])
        self.assertIn(held["queue_id"] + "!", self.inst.ctl("queue", check=True).stdout)
        harness.wait_for(lambda: ("%s: hold: header Subject: hold for review from " % held["queue_id"])
                         in self.inst.log_text(), 10, "hold log line")
        self.assertIn("helo=<client.test>: awaiting review", self.inst.log_text())

        # DISCARD: 250 to the client, nothing queued.
        with smtplib.SMTP(self.inst.addr, self.inst.ports["smtp"], timeout=30) as s:
            s.ehlo("client.test")
            s.mail("gone@example.test")
            s.rcpt("bob@nowhere.test")
            code, text = s.data("Subject: throw away\r\n\r\nbody\r\n")
        self.assertEqual(250, code)
        discard_id = text.decode().split()[-1]
        harness.wait_for(lambda: ("%s: discard: header Subject: throw away from " % discard_id)
                         in self.inst.log_text(), 10, "discard log line")
        self.assertEqual([], self.queued_from("gone@example.test"))

        # WARN: logged, and the message is queued as it was.
        self.send("warned@example.test", "Subject: keep an eye on this\r\n\r\nbody\r\n")
        harness.wait_for(lambda: self.queued_from("warned@example.test"), 30, "warned message queued")
        wid = self.queued_from("warned@example.test")[0]["queue_id"]
        harness.wait_for(lambda: ("%s: warning: header Subject: keep an eye on this from " % wid)
                         in self.inst.log_text(), 10, "warning log line")
        self.assertIn("helo=<client.test>: suspicious subject", self.inst.log_text())
        # smtpd's own Received: header is the first header the checks see, unfolded.
        self.assertIn("%s: warning: header Received: from client.test (unknown [127.0.0.1])\\011by " % wid,
                      self.inst.log_text())
        self.assertIn("helo=<client.test>: seen our own Received header", self.inst.log_text())

    def test_bdat_chunks(self):
        """A header split across BDAT chunks is still looked up whole: 550 after LAST."""
        self.start()
        with smtplib.SMTP(self.inst.addr, self.inst.ports["smtp"], timeout=30) as s:
            s.ehlo("client.test")
            self.assertIn("chunking", s.esmtp_features)
            self.assertEqual(250, s.mail("bdat@example.test")[0])
            self.assertEqual(250, s.rcpt("bob@nowhere.test")[0])
            first, second = b"Subject: very cheap ", b"pills inside\r\n\r\nbody\r\n"
            s.send(b"BDAT %d\r\n" % len(first) + first)
            self.assertEqual(250, s.getreply()[0])
            s.send(b"BDAT %d LAST\r\n" % len(second) + second)
            self.assertEqual((550, b"5.7.1 No pills here"), s.getreply())
        harness.wait_for(lambda: "reject: header Subject: very cheap pills inside from " in self.inst.log_text(),
                         10, "reject line")
        self.assertEqual([], self.queued_from("bdat@example.test"))

    def test_cidr_client_access(self):
        self.start()
        # The instance's own address as the client's: listed in the cidr: table.
        with self.assertRaises(smtplib.SMTPRecipientsRefused) as e:
            self.send("blocked@example.test", "Subject: x\r\n\r\nbody\r\n", source=self.inst.addr)
        code, text = e.exception.recipients["bob@nowhere.test"]
        self.assertEqual(554, code)
        self.assertIn(b"5.7.1", text)
        self.assertIn(b"blocked by cidr table", text)
        # From 127.0.0.1: the next line of the table, OK.
        self.send("allowed@example.test", "Subject: x\r\n\r\nbody\r\n", source="127.0.0.1")
        harness.wait_for(lambda: self.queued_from("allowed@example.test"), 30, "allowed message queued")

    def test_check_refuses_broken_table(self):
        with open(self.tables["header_checks"], "a") as f:
            f.write("/^Subject: (unclosed/  REJECT x\n/^From: (a)/  WARN $2\n")
        r = self.inst.ctl("check")
        self.assertNotEqual(0, r.returncode)
        path = self.tables["header_checks"]
        n = HEADER_CHECKS.count("\n")
        self.assertIn("%s:%d: bad regular expression" % (path, n + 1), r.stdout)
        self.assertIn("%s:%d: $2 in the result, but the pattern has 1 group" % (path, n + 2), r.stdout)
        # smtpd does not run with such a table: the first client finds it gone, and its
        # fatal line names the table's line.
        self.inst.ctl("start")
        pid = self.inst.master_pid()
        if pid:
            self.inst.started_pids.append(pid)
        with self.assertRaises((smtplib.SMTPException, OSError)):
            self.send("x@example.test", "Subject: x\r\n\r\nbody\r\n")
        harness.wait_for(lambda: ("fatal: header_checks: %s:%d: bad regular expression" % (path, n + 1))
                         in self.inst.log_text(), 30, "smtpd's fatal line naming the table line")
        # A cidr: table's bad network, likewise.
        with open(self.tables["client_access"], "a") as f:
            f.write("10.0.0.1/8 REJECT\n")
        r = self.inst.ctl("check")
        self.assertNotEqual(0, r.returncode)
        self.assertIn("%s:4: network \"10.0.0.1/8\" has host bits set beyond /8" % self.tables["client_access"],
                      r.stdout)


if __name__ == "__main__":
    harness.main()
