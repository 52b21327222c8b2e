# tests/test_imapd.py - imapd(8) under master(8) with auth(8): mail in over SMTP,
# delivered by local(8) into a system account's Maildir, read over IMAP with imaplib
# (STARTTLS on the imap port, implicit TLS on imaps), every command with its responses,
# malformed input, two sessions seeing each other's changes, IDLE seeing a delivery, and
# real clients: mbsync and offlineimap two-way sync, fetchmail, and neomutt (in tmux)
# reading the INBOX.
import imaplib
import os
import pwd
import random
import re
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from test_pop3d import sha512_crypt, tls_context  # noqa: E402

PASSWORD = "imap pass 1"


class Raw:
    """A line-level IMAP client for hostile input."""

    def __init__(self, addr, port, timeout=10):
        self.s = socket.create_connection((addr, port), timeout=timeout)
        self.buf = b""
        self.greeting = self.line()

    def send(self, data):
        self.s.sendall(data if isinstance(data, bytes) else data.encode())

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError("closed; buffered %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("latin-1")

    def until_tagged(self, tag):
        """Lines up to and including the one starting with tag."""
        lines = []
        while True:
            l = self.line()
            lines.append(l)
            if l.startswith(tag + " "):
                return lines

    def cmd(self, tag, text):
        self.send("%s %s\r\n" % (tag, text))
        return self.until_tagged(tag)

    def close(self):
        self.s.close()


def response_ok(r):
    typ, data = r
    if typ != "OK":
        raise AssertionError("%s %r" % (typ, data))
    return data


@unittest.skipUnless(os.geteuid() == 0, "creates a system account and delivers as it: root only")
class ImapdTest(harness.InstanceTestCase):
    """One instance (smtp, imap, imaps) and one mailbox user per test."""

    def setUp(self):
        super().setUp()
        for d in ("master", "smtpd", "qmgr", "local", "auth", "imapd"):
            harness.require_daemon(self, d)

    def start(self, plaintext=None):
        inst = self.make_instance(ports=("smtp", "imap", "imaps"), tls=True)
        inst.init("--user", "postilion")
        self.pw = harness.add_system_user(self, "pstim", os.path.join(inst.base, "home"))
        self.user = self.pw.pw_name
        self.maildir = os.path.join(self.pw.pw_dir, "Maildir")
        users = os.path.join(inst.config_dir, "imap-users")
        with open(users, "w") as f:
            f.write("%s %s:%d:%d:%s/\n" % (self.user, sha512_crypt(PASSWORD), self.pw.pw_uid, self.pw.pw_gid,
                                           self.maildir))
        inst.ctl("map", "build", users, check=True)
        with open(inst.main_conf(), "a") as f:
            f.write("auth_backends = virtual\nauth_virtual_users = hash:%s\n" % users)
            if plaintext:
                f.write("imapd_plaintext_auth = %s\n" % plaintext)
        inst.start()
        inst.wait_ready()
        self.inst = inst
        return inst

    def deliver(self, subject, body="hello there\r\n", count=None):
        """Sends one message over SMTP; waits until local has put it into the Maildir."""
        new = os.path.join(self.maildir, "new")
        cur = os.path.join(self.maildir, "cur")

        def n():
            return sum(len(os.listdir(d)) for d in (new, cur) if os.path.isdir(d))
        before = n()
        rcpt = "%s@%s" % (self.user, self.inst.domain)
        with smtplib.SMTP(self.inst.addr, self.inst.ports["smtp"], timeout=30) as s:
            s.sendmail("alice@remote.test", [rcpt],
                       "From: Alice <alice@remote.test>\r\nTo: %s\r\nSubject: %s\r\n\r\n%s" % (rcpt, subject, body))
        harness.wait_for(lambda: n() > before, 30, "delivery of %r" % subject)

    def mbsync_channel(self, name):
        """An mbsync set-up syncing the INBOX with a Maildir of its own (STARTTLS, both
        directions, expunges too); returns (the near Maildir folder, a function that runs
        one sync and returns its output, failing the test when mbsync does)."""
        local = os.path.join(self.inst.base, "mbsync-" + name)
        os.makedirs(local)
        rc = os.path.join(self.inst.base, "mbsyncrc-" + name)
        with open(rc, "w") as f:
            f.write("IMAPAccount %s\nHost %s\nPort %d\nUser %s\nPass \"%s\"\nSSLType STARTTLS\n"
                    "CertificateFile %s\n\nIMAPStore remote\nAccount %s\n\nMaildirStore local\n"
                    "Path %s/\nInbox %s/INBOX\nSubFolders Verbatim\n\nChannel %s\nFar :remote:\n"
                    "Near :local:\nPatterns INBOX\nCreate Both\nExpunge Both\nSyncState *\n"
                    % (name, self.inst.addr, self.inst.ports["imap"], self.user, PASSWORD,
                       os.path.join(self.inst.config_dir, "tls", "cert.pem"), name, local, local, name))

        def sync():
            r = subprocess.run(["mbsync", "-c", rc, "-V", name], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=300)
            self.assertEqual(0, r.returncode, r.stdout[-3000:])
            return r.stdout
        return local, sync

    def login(self):
        m = imaplib.IMAP4(self.inst.addr, self.inst.ports["imap"], timeout=30)
        response_ok(m.login(self.user, PASSWORD))
        return m

    def raw(self):
        r = Raw(self.inst.addr, self.inst.ports["imap"])
        lines = r.cmd("L", "LOGIN %s \"%s\"" % (self.user, PASSWORD))
        self.assertTrue(lines[-1].startswith("L OK"), lines)
        return r

    # ---- mail in over SMTP, out over IMAP -----------------------------------------
    def test_smtp_in_imap_out(self):
        self.start()
        self.deliver("first message", "line one\r\nline two\r\n")
        m = imaplib.IMAP4(self.inst.addr, self.inst.ports["imap"], timeout=30)
        self.assertIn(b"IMAP4rev1", m.welcome)
        self.assertIn("STARTTLS", m.capabilities)
        m.starttls(tls_context())
        self.assertIn("AUTH=PLAIN", m.capabilities)
        response_ok(m.login(self.user, PASSWORD))
        typ, data = m.select("INBOX")
        self.assertEqual("OK", typ)
        self.assertEqual([b"1"], data)
        self.assertEqual([b"1"], m.untagged_responses.get("RECENT"))
        self.assertEqual([b"1"], m.untagged_responses.get("UNSEEN"))
        uidvalidity = m.untagged_responses["UIDVALIDITY"][0]
        self.assertTrue(int(uidvalidity) > 0)
        self.assertEqual([b"2"], m.untagged_responses["UIDNEXT"])
        self.assertIn(b"\\Seen", m.untagged_responses["PERMANENTFLAGS"][0])
        data = response_ok(m.fetch("1", "(UID FLAGS RFC822.SIZE INTERNALDATE BODY.PEEK[])"))
        head, body = data[0]
        self.assertRegex(head, rb"^1 \(UID 1 FLAGS \(\\Recent\) RFC822.SIZE \d+ INTERNALDATE \"[ 0-9]\d-\w{3}-\d{4} "
                               rb"\d\d:\d\d:\d\d \+0000\" BODY\[\] \{\d+\}$")
        size = int(re.search(rb"RFC822.SIZE (\d+)", head).group(1))
        self.assertEqual(size, len(body))
        self.assertIn(b"Subject: first message\r\n", body)
        self.assertIn(b"Delivered-To: %s@%s\r\n" % (self.user.encode(), self.inst.domain.encode()), body)
        self.assertTrue(body.endswith(b"\r\n\r\nline one\r\nline two\r\n"), body)
        # The message was claimed from new/ into cur/ by the session that saw it first.
        self.assertEqual([], os.listdir(os.path.join(self.maildir, "new")))
        # Sections.
        data = response_ok(m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[TEXT] BODY.PEEK[]<0.4>)"))
        self.assertEqual(b"Subject: first message\r\n\r\n", data[0][1])
        self.assertEqual(b"line one\r\nline two\r\n", data[1][1])
        self.assertEqual(body[:4], data[2][1])
        data = response_ok(m.fetch("1", "(BODY.PEEK[HEADER.FIELDS.NOT (SUBJECT DELIVERED-TO RECEIVED RETURN-PATH)])"))
        self.assertNotIn(b"Subject:", data[0][1])
        self.assertIn(b"From: Alice <alice@remote.test>\r\n", data[0][1])
        # BODY[] without PEEK sets \Seen, and says so.
        data = response_ok(m.fetch("1", "(BODY[TEXT])"))
        self.assertIn(b"FLAGS (\\Seen \\Recent)", data[0][0] + (data[1] if len(data) > 1 else b""))
        cur = os.listdir(os.path.join(self.maildir, "cur"))
        self.assertEqual(1, len(cur))
        self.assertTrue(cur[0].endswith(":2,S"), cur)
        self.assertEqual("BYE", m.logout()[0])
        log = self.inst.log_text()
        self.assertRegex(log, r"imapd\[\d+\]: login: user=<%s>, rip=127\.[0-9.]+, method=LOGIN, tls=yes" % self.user)
        self.assertNotIn(PASSWORD, log)

    def test_implicit_tls_and_authenticate_plain(self):
        self.start()
        self.deliver("over imaps")
        m = imaplib.IMAP4_SSL(self.inst.addr, self.inst.ports["imaps"], ssl_context=tls_context(), timeout=30)
        self.assertNotIn("STARTTLS", m.capabilities)
        # AUTHENTICATE PLAIN with SASL-IR.
        typ, data = m.authenticate("PLAIN", lambda _: ("\0%s\0%s" % (self.user, PASSWORD)).encode())
        self.assertEqual("OK", typ)
        self.assertIn(b"UIDPLUS", response_ok(m.capability())[0])
        typ, data = m.select("INBOX", readonly=True)
        self.assertEqual([b"1"], data)
        data = response_ok(m.fetch("1", "(BODY[HEADER.FIELDS (SUBJECT)])"))
        self.assertEqual(b"Subject: over imaps\r\n\r\n", data[0][1])
        # EXAMINE is read-only: no \Seen was set.
        data = response_ok(m.fetch("1", "FLAGS"))
        self.assertEqual(b"1 (FLAGS ())", data[0])
        m.logout()
        self.assertIn("method=PLAIN, tls=yes", self.inst.log_text())

    def test_login_failures(self):
        self.start()
        m = imaplib.IMAP4(self.inst.addr, self.inst.ports["imap"], timeout=30)
        with self.assertRaises(imaplib.IMAP4.error) as e:
            m.login(self.user, "wrong password")
        self.assertIn("AUTHENTICATIONFAILED", str(e.exception))
        response_ok(m.login(self.user, PASSWORD))
        m.logout()
        log = self.inst.log_text()
        self.assertIn("authentication failed: user=<%s>" % self.user, log)
        self.assertNotIn("wrong password", log)

    def test_plaintext_refused_without_tls(self):
        self.start(plaintext="no")
        m = imaplib.IMAP4(self.inst.addr, self.inst.ports["imap"], timeout=30)
        self.assertIn("LOGINDISABLED", m.capabilities)
        self.assertNotIn("AUTH=PLAIN", m.capabilities)
        with self.assertRaises(imaplib.IMAP4.error) as e:
            m.login(self.user, PASSWORD)
        self.assertIn("PRIVACYREQUIRED", str(e.exception))
        m.starttls(tls_context())
        self.assertNotIn("LOGINDISABLED", m.capabilities)
        response_ok(m.login(self.user, PASSWORD))
        m.logout()

    # ---- commands ----------------------------------------------------------------------
    def test_commands_before_and_after_login(self):
        self.start()
        r = Raw(self.inst.addr, self.inst.ports["imap"])
        self.assertTrue(r.greeting.startswith("* OK [CAPABILITY IMAP4rev1 "), r.greeting)
        self.assertEqual(["* CAPABILITY IMAP4rev1 SASL-IR LITERAL+ ID ENABLE IDLE STARTTLS AUTH=PLAIN",
                          "a OK CAPABILITY completed"], r.cmd("a", "CAPABILITY"))
        self.assertEqual(["b OK NOOP completed"], r.cmd("b", "NOOP"))
        self.assertEqual(["c BAD SELECT not valid before login"], r.cmd("c", "SELECT INBOX"))
        self.assertEqual(["d BAD unknown command"], r.cmd("d", "FROB"))
        # A login with literals (a synchronizing and a non-synchronizing one).
        r.send("e LOGIN {%d}\r\n" % len(self.user))
        self.assertEqual("+ OK", r.line())
        r.send("%s {%d+}\r\n%s\r\n" % (self.user, len(PASSWORD), PASSWORD))
        lines = r.until_tagged("e")
        self.assertRegex(lines[-1], r"^e OK \[CAPABILITY IMAP4rev1 .*UIDPLUS.*APPENDLIMIT=\d+\] Logged in$")
        lines = r.cmd("f", "CAPABILITY")
        self.assertIn("MOVE", lines[0])
        self.assertIn("SPECIAL-USE", lines[0])
        self.assertEqual(['* NAMESPACE (("" "/")) NIL NIL', "g OK NAMESPACE completed"], r.cmd("g", "NAMESPACE"))
        self.assertEqual(['* ID ("name" "Postilion")', "h OK ID completed"], r.cmd("h", 'ID ("name" "test")'))
        self.assertEqual(["* ENABLED", "i OK ENABLE completed"], r.cmd("i", "ENABLE CONDSTORE"))
        self.assertEqual(["j BAD FETCH needs a selected mailbox"], r.cmd("j", "FETCH 1 FLAGS"))
        self.assertEqual(["k BAD LOGIN is not valid after login"], r.cmd("k", "LOGIN a b"))
        lines = r.cmd("l", "SELECT INBOX")
        self.assertEqual(["* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)", "* 0 EXISTS", "* 0 RECENT",
                          "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)] flags that are kept"],
                         lines[:4])
        self.assertRegex(lines[4], r"^\* OK \[UIDVALIDITY \d+\] UIDs valid$")
        self.assertEqual(["* OK [UIDNEXT 1] predicted next UID", "l OK [READ-WRITE] SELECT completed"], lines[5:])
        self.assertEqual(["m OK CHECK completed"], r.cmd("m", "CHECK"))
        self.assertEqual(["n OK UNSELECT completed"], r.cmd("n", "UNSELECT"))
        self.assertEqual(["* BYE Postilion IMAP server signing off", "o OK LOGOUT completed"], r.cmd("o", "LOGOUT"))
        r.close()

    def test_mailbox_tree(self):
        self.start()
        m = self.login()
        # The special-use folders were made at the first login.
        data = response_ok(m.list())
        self.assertIn(b'(\\HasNoChildren) "/" INBOX', data)
        for name in ("Drafts", "Sent", "Trash", "Junk", "Archive"):
            self.assertIn(('(\\HasNoChildren \\%s) "/" "%s"' % (name, name)).encode(), data)
            self.assertTrue(os.path.isdir(os.path.join(self.maildir, "." + name, "cur")))
        response_ok(m.create("Lists/postfix"))
        self.assertTrue(os.path.isdir(os.path.join(self.maildir, ".Lists.postfix", "new")))
        response_ok(m.create("Lists"))
        self.assertEqual([b'(\\HasChildren) "/" "Lists"', b'(\\HasNoChildren) "/" "Lists/postfix"'],
                         response_ok(m.list('""', "Lists*")))
        self.assertEqual([b'(\\HasChildren) "/" "Lists"'], response_ok(m.list('""', "L%")))
        self.assertEqual([b'(\\Noselect) "/" ""'], response_ok(m.list('""', '""')))
        typ, data = m.create("Lists")
        self.assertEqual("NO", typ)
        self.assertIn(b"ALREADYEXISTS", data[0])
        for bad in ("../evil", "a/../b", "..", "a//b", "/a", "x*", "bad&-utf7&"):
            typ, data = m.create('"%s"' % bad)
            self.assertEqual("NO", typ, bad)
            self.assertIn(b"[CANNOT]", data[0])
        # A '.' in a name is escaped on disk (modified UTF-7), so it stays one folder.
        response_ok(m.create('".hidden"'))
        self.assertTrue(os.path.isdir(os.path.join(self.maildir, ".&AC4-hidden", "cur")))
        self.assertIn(b'(\\HasNoChildren) "/" ".hidden"', response_ok(m.list('""', '".hidden"')))
        response_ok(m.delete('".hidden"'))
        self.assertEqual(sorted([".Drafts", ".Sent", ".Trash", ".Junk", ".Archive", ".Lists", ".Lists.postfix"]),
                         sorted(n for n in os.listdir(self.maildir) if n.startswith(".")))
        self.assertEqual(["Maildir"], os.listdir(self.pw.pw_dir))
        typ, data = m.delete("Lists")
        self.assertEqual("NO", typ)
        response_ok(m.rename("Lists", "Archive/Lists"))
        self.assertEqual([b'(\\HasNoChildren) "/" "Archive/Lists/postfix"'], response_ok(m.list("Archive/Lists/", "%")))
        response_ok(m.delete("Archive/Lists/postfix"))
        response_ok(m.delete("Archive/Lists"))
        self.assertFalse(os.path.exists(os.path.join(self.maildir, ".Archive.Lists")))
        typ, _ = m.delete("INBOX")
        self.assertEqual("NO", typ)
        # Subscriptions: the special-use folders made at first login are subscribed (the
        # file keeps Maildir++ names, as Courier and Dovecot do).
        specials = [b'() "/" "%s"' % n for n in (b"Drafts", b"Sent", b"Trash", b"Junk", b"Archive")]
        self.assertEqual(specials, response_ok(m.lsub()))
        for n in ("Drafts", "Trash", "Junk", "Archive"):
            response_ok(m.unsubscribe(n))
        typ, data = m.unsubscribe("Drafts")
        self.assertEqual("NO", typ)
        self.assertIn(b"NONEXISTENT", data[0])
        response_ok(m.create("Lists/x"))
        response_ok(m.subscribe("Lists/x"))
        response_ok(m.subscribe("Sent"))  # already subscribed: listed once
        self.assertEqual([b'() "/" "Sent"', b'() "/" "Lists/x"'], response_ok(m.lsub()))
        with open(os.path.join(self.maildir, "subscriptions")) as f:
            self.assertEqual("Sent\nLists.x\n", f.read())
        response_ok(m.rename("Lists/x", "Old/x"))  # subscriptions follow the folders
        self.assertEqual([b'() "/" "Sent"', b'() "/" "Old/x"'], response_ok(m.lsub('""', "*")))
        response_ok(m.delete("Old/x"))
        self.assertEqual([b'() "/" "Sent"'], response_ok(m.lsub('""', "*")))
        # STATUS.
        self.deliver("for status")
        data = response_ok(m.status("INBOX", "(MESSAGES RECENT UNSEEN UIDNEXT UIDVALIDITY)"))
        self.assertRegex(data[0], rb'^INBOX \(MESSAGES 1 RECENT 1 UNSEEN 1 UIDNEXT 2 UIDVALIDITY \d+\)$')
        typ, data = m.status("Nonesuch", "(MESSAGES)")
        self.assertEqual("NO", typ)
        m.logout()

    def test_append_copy_move_expunge_search(self):
        self.start()
        self.deliver("one", "alpha body\r\n")
        self.deliver("two", "beta body\r\n")
        m = self.login()
        response_ok(m.select("INBOX"))
        # APPEND with flags and a date; APPENDUID names the new UID.
        typ, data = m.append("INBOX", "(\\Flagged \\Seen)", imaplib.Time2Internaldate(1700000000),
                             b"Subject: appended\r\n\r\ngamma body\r\n")
        self.assertEqual("OK", typ)
        self.assertRegex(data[0], rb"^\[APPENDUID \d+ 3\] APPEND completed$")
        response_ok(m.noop())
        self.assertIn(b"3", m.untagged_responses.get("EXISTS", [b"3"]))
        data = response_ok(m.fetch("3", "(FLAGS INTERNALDATE)"))
        self.assertEqual(b'3 (FLAGS (\\Flagged \\Seen) INTERNALDATE "14-Nov-2023 22:13:20 +0000")', data[0])
        # Too big for APPENDLIMIT: refused before the literal is sent.
        r = self.raw()
        r.send("A1 APPEND INBOX {999999999}\r\n")
        self.assertEqual("A1 BAD [TOOBIG] Literal too large", r.line())
        self.assertEqual(["A2 OK NOOP completed"], r.cmd("A2", "NOOP"))
        r.close()
        # SEARCH.
        self.assertEqual([b"1 2 3"], response_ok(m.search(None, "ALL")))
        self.assertEqual([b"3"], response_ok(m.search(None, "FLAGGED")))
        self.assertEqual([b"1 2"], response_ok(m.search(None, "UNSEEN")))
        self.assertEqual([b"2"], response_ok(m.search(None, "SUBJECT", "two")))
        self.assertEqual([b"1"], response_ok(m.search(None, "BODY", "ALPHA")))
        self.assertEqual([b"1 3"], response_ok(m.search(None, "OR", "SUBJECT", "one", "FLAGGED")))
        self.assertEqual([b"2 3"], response_ok(m.search(None, "NOT", "1")))
        self.assertEqual([b"3"], response_ok(m.search(None, "BEFORE", "1-Jan-2024")))
        self.assertEqual([b"1 2"], response_ok(m.search("UTF-8", "SINCE", "1-Jan-2024")))
        self.assertEqual([b"2 3"], response_ok(m.uid("SEARCH", "UID", "2:*")))
        with self.assertRaises(imaplib.IMAP4.error) as e:
            m.search(None, "FROBNICATE")
        self.assertIn("BAD", str(e.exception))
        # STORE.
        data = response_ok(m.store("1:2", "+FLAGS", "(\\Answered)"))
        self.assertEqual([b"1 (FLAGS (\\Answered \\Recent))", b"2 (FLAGS (\\Answered \\Recent))"], data)
        data = response_ok(m.uid("STORE", "2", "-FLAGS.SILENT", "(\\Answered)"))
        self.assertEqual([None], data)
        data = response_ok(m.store("2", "FLAGS", "(\\Draft)"))
        self.assertEqual([b"2 (FLAGS (\\Draft \\Recent))"], data)
        self.assertTrue(any(n.endswith(":2,D") for n in os.listdir(os.path.join(self.maildir, "cur"))))
        # COPY with COPYUID, then MOVE: the source's EXPUNGE comes with it.
        typ, data = m.copy("1:2", "Archive")
        self.assertEqual("OK", typ)
        self.assertRegex(data[0], rb"^\[COPYUID \d+ 1:2 1:2\] COPY completed$")
        typ, data = m.copy("1", "Nonesuch")
        self.assertEqual("NO", typ)
        self.assertIn(b"TRYCREATE", data[0])
        typ, data = m.uid("MOVE", "3", "Trash")
        self.assertEqual("OK", typ)
        self.assertEqual([b"3"], m.untagged_responses.pop("EXPUNGE", None))
        data = response_ok(m.status("Trash", "(MESSAGES)"))
        self.assertEqual([b'"Trash" (MESSAGES 1)'], data)
        # UID EXPUNGE removes only the named \Deleted messages.
        response_ok(m.store("1:2", "+FLAGS.SILENT", "(\\Deleted)"))
        response_ok(m.uid("EXPUNGE", "2"))
        self.assertEqual([b"2"], m.untagged_responses.pop("EXPUNGE", None))
        typ, data = m.expunge()
        self.assertEqual([b"1"], data)
        self.assertEqual([b"INBOX (MESSAGES 0)"], response_ok(m.status("INBOX", "(MESSAGES)")))
        response_ok(m.select("Archive"))
        data = [d for d in response_ok(m.fetch("1:*", "(UID BODY.PEEK[TEXT])")) if isinstance(d, tuple)]
        self.assertEqual([b"alpha body\r\n", b"beta body\r\n"], [d[1] for d in data])
        # CLOSE expunges silently.
        response_ok(m.store("1", "+FLAGS", "(\\Deleted)"))
        response_ok(m.close())
        self.assertEqual([b'"Archive" (MESSAGES 1)'], response_ok(m.status("Archive", "(MESSAGES)")))
        m.logout()

    def test_malformed_input(self):
        self.start()
        self.deliver("target")
        r = self.raw()
        r.cmd("s", "SELECT INBOX")
        wrong = []
        for tag, text, want in (
                ("b1", "FETCH 1 (FLAGS", "b1 BAD Missing ')'"),
                ("b2", "FETCH 1 FLAGS)", "b2 BAD Unexpected ')'"),
                ("b3", "FETCH 0 FLAGS", "b3 BAD Invalid sequence set"),
                ("b4", "FETCH 1:x FLAGS", "b4 BAD Invalid sequence set"),
                ("b5", "FETCH 9 FLAGS", "b5 BAD Invalid messageset: no such message"),
                ("b6", "FETCH 1 (FROB)", "b6 BAD Invalid fetch attribute"),
                ("b7", "STORE 1 +FLAGS (\\Bogus)", "b7 BAD Invalid flag"),
                ("b8", "CREATE ../../etc", "b8 NO [CANNOT] Invalid component in mailbox name"),
                ("b9", "SELECT ../x", "b9 NO [CANNOT] Invalid component in mailbox name"),
                ("c1", "FETCH 1 BODY[HEADER", "c1 BAD Missing ']'"),
                ("c2", "SEARCH " + "(" * 60 + "ALL" + ")" * 60, "c2 BAD Too deep nesting"),
                ("c3", "LOGIN caf\xe9 x", "c3 BAD 8-bit characters in an atom"),
        ):
            got = r.cmd(tag, text)
            if got != [want]:
                wrong.append((text, want, got))
        self.assertEqual([], wrong, "\n".join("%r: want %r, got %r" % w for w in wrong))
        # A literal far over the limit is refused before it is sent; the session goes on.
        r.send("d1 LOGIN {999999999}\r\n")
        self.assertEqual("d1 BAD Literal too large", r.line())
        # A line over imapd_line_limit.
        r.send("d3 NOOP " + "y" * 70000 + "\r\n")
        self.assertEqual("d3 BAD Line too long", r.line())
        # Commands split across packets, and many pipelined at once.
        r.send("e1 NO")
        r.send("OP\r\n")
        self.assertEqual(["e1 OK NOOP completed"], r.until_tagged("e1"))
        r.send("".join("p%d NOOP\r\n" % i for i in range(50)))
        for i in range(50):
            self.assertEqual("p%d OK NOOP completed" % i, r.line())
        self.assertEqual(["f OK [READ-WRITE] SELECT completed"], r.cmd("f", "SELECT INBOX")[-1:])
        # A non-synchronizing literal over the limit cannot be framed any more: BAD, then
        # BYE (RFC 7888 4).
        r.send("d2 ID {70000+}\r\n" + "x" * 100 + "\r\n")
        self.assertEqual("d2 BAD Literal too large", r.line())
        self.assertTrue(r.line().startswith("* BYE "))
        r.close()
        # A literal announced and never sent: the session waits for it, and goes on
        # when the connection ends; a new one works.
        r = self.raw()
        r.send("g1 LOGIN {10}\r\n")
        self.assertEqual("+ OK", r.line())
        r.close()
        r = self.raw()
        self.assertEqual(["h OK NOOP completed"], r.cmd("h", "NOOP"))
        r.close()

    # ---- sessions together -----------------------------------------------------------
    def test_two_sessions_and_idle(self):
        self.start()
        self.deliver("first")
        a = self.raw()
        b = self.raw()
        a.cmd("a1", "SELECT INBOX")
        b.cmd("b1", "SELECT INBOX")
        # b's flag change reaches a at a's next command.
        self.assertEqual(["* 1 FETCH (FLAGS (\\Flagged))", "b2 OK STORE completed"],
                         b.cmd("b2", "STORE 1 FLAGS (\\Flagged)"))
        self.assertEqual(["* 1 FETCH (FLAGS (\\Flagged \\Recent))", "a2 OK NOOP completed"], a.cmd("a2", "NOOP"))
        # A delivery reaches an IDLE session within a second.
        a.send("a3 IDLE\r\n")
        self.assertEqual("+ idling", a.line())
        self.deliver("second")
        # deliver() returns once the file is in new/: the news must follow within a second.
        delivered = time.monotonic()
        a.s.settimeout(5)
        self.assertEqual("* 2 EXISTS", a.line())
        self.assertLess(time.monotonic() - delivered, 1.0)
        self.assertEqual("* 2 RECENT", a.line())
        a.send("DONE\r\n")
        self.assertEqual(["a3 OK IDLE terminated"], a.until_tagged("a3"))
        # b expunges message 1: a hears it at NOOP, but not while answering FETCH.
        b.cmd("b3", "NOOP")
        b.cmd("b4", "STORE 1 +FLAGS.SILENT (\\Deleted)")
        self.assertEqual(["* 1 EXPUNGE", "b5 OK EXPUNGE completed"], b.cmd("b5", "EXPUNGE"))
        lines = a.cmd("a4", "FETCH 2 (FLAGS)")
        self.assertNotIn("* 1 EXPUNGE", lines)
        self.assertEqual("a4 OK FETCH completed", lines[-1])
        self.assertEqual(["* 1 EXPUNGE", "a5 OK NOOP completed"], a.cmd("a5", "NOOP"))
        self.assertEqual(["* 1 FETCH (FLAGS (\\Recent))", "a6 OK FETCH completed"], a.cmd("a6", "FETCH 1 FLAGS"))
        a.close()
        b.close()

    def test_fetch_cache(self):
        """ENVELOPE, BODY, BODYSTRUCTURE and the listing header fields are read from the
        message files once, kept in the folder's index, and served from it afterwards with
        exactly the same bytes; what the index does not keep is read from the files."""
        self.start()
        rcpt = "%s@%s" % (self.user, self.inst.domain)
        new = os.path.join(self.maildir, "new")
        messages = []
        for i in range(8):
            head = ("From: =?UTF-8?Q?J=C3=B6rg?= <jorg%d@remote.test>\r\nTo: %s\r\nCc: c%d@remote.test\r\n"
                    "Subject: listing %d\r\n  folded on\r\nMessage-ID: <m%d@remote.test>\r\n"
                    "References: <r%d@remote.test>\r\nReceived: from x by y\r\n" % (i, rcpt, i, i, i, i))
            if i % 2:
                head += ("MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n"
                         "--b%d\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhi\r\n--b%d\r\n"
                         "Content-Type: application/pdf; name=\"f.pdf\"\r\nContent-Transfer-Encoding: base64\r\n"
                         "Content-Disposition: attachment; filename=\"f.pdf\"\r\n\r\nJVBERi0=\r\n--b%d--\r\n"
                         % (i, i, i, i))
            else:
                head += "\r\nplain body %d\r\n" % i
            messages.append(head)
        with smtplib.SMTP(self.inst.addr, self.inst.ports["smtp"], timeout=30) as s:
            for m in messages:
                s.sendmail("alice@remote.test", [rcpt], m)
        harness.wait_for(lambda: os.path.isdir(new) and len(os.listdir(new)) == len(messages), 30, "deliveries")
        items = "(UID ENVELOPE BODY BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS (From Subject message-id References X-TUID)])"

        def session(fetch):
            m = self.login()
            response_ok(m.select("INBOX", readonly=True))
            typ, data = m.fetch("1:*", fetch)
            self.assertEqual("OK", typ, data)
            m.logout()
            return data

        def reads(count):
            def seen():
                found = re.findall(r"imapd\[\d+\]: disconnect: user=<%s>.* read=(\d+)" % self.user, self.inst.log_text())
                return found if len(found) >= count else None
            return [int(n) for n in harness.wait_for(seen, 30, "%d imapd disconnect lines" % count)]

        first = session(items)
        self.assertEqual([8], reads(1))
        self.assertIn(b"=?UTF-8?Q?J=C3=B6rg?=", first[0][0])
        self.assertIn(b"(\"application\" \"pdf\"", b"".join(x[0] for x in first if isinstance(x, tuple)))
        # The second listing reads no message file and gives the same bytes.
        second = session(items)
        self.assertEqual([8, 0], reads(2))
        self.assertEqual(first, second)
        # A field the index does not keep (Received) needs the files; the cached items
        # still come out the same.
        third = session("(ENVELOPE BODY.PEEK[HEADER.FIELDS (Received)])")
        self.assertEqual([8, 0, 8], reads(3))
        self.assertIn(b"Received: from x by y", third[0][1])
        fourth = session("(ENVELOPE)")
        self.assertEqual([8, 0, 8, 0], reads(4))
        # "n (ENVELOPE (...))": the ENVELOPE item is in the first listing's line for n.
        heads = [x[0] for x in first if isinstance(x, tuple)]
        self.assertEqual(8, len(fourth))
        self.assertEqual(8, len(heads))
        for n, x in enumerate(fourth, 1):
            self.assertTrue(x.startswith(b"%d (ENVELOPE (" % n) and x.endswith(b")"), x)
            self.assertIn(x[len(b"%d (" % n):-1], heads[n - 1])
        # An expunged message takes its cache along; the rest still come from the index.
        m = self.login()
        response_ok(m.select("INBOX"))
        response_ok(m.store("1", "+FLAGS", "\\Deleted"))
        response_ok(m.expunge())
        typ, data = m.fetch("1:*", "(ENVELOPE)")
        self.assertEqual("OK", typ)
        self.assertEqual(7, len(data))
        m.logout()
        self.assertEqual([8, 0, 8, 0, 0], reads(5))

    # ---- real clients ------------------------------------------------------------------
    def test_mbsync_two_way(self):
        self.start()
        for i in range(5):
            self.deliver("sync %d" % i, "body %d\r\n" % i)
        local, mbsync = self.mbsync_channel("test")

        def local_files():
            out = {}
            for sub in ("new", "cur"):
                d = os.path.join(local, "INBOX", sub)
                for n in os.listdir(d):
                    with open(os.path.join(d, n), "rb") as f:
                        out[n] = f.read()
            return out
        mbsync()
        files = local_files()
        self.assertEqual(5, len(files))
        self.assertEqual(5, sum(1 for t in files.values() if b"Subject: sync " in t))
        # Changes on both sides: the far side flags and deletes, the near side too.
        m = self.login()
        response_ok(m.select("INBOX"))
        response_ok(m.store("1", "+FLAGS", "(\\Flagged)"))
        response_ok(m.store("2", "+FLAGS", "(\\Deleted)"))
        response_ok(m.expunge())
        m.logout()
        near = os.path.join(local, "INBOX", "cur")
        names = sorted(os.listdir(near) + ["new/" + n for n in os.listdir(os.path.join(local, "INBOX", "new"))])
        by_subject = {}
        for n in names:
            p = os.path.join(local, "INBOX", n if n.startswith("new/") else os.path.join("cur", n))
            with open(p, "rb") as f:
                subj = re.search(rb"Subject: (sync \d)", f.read()).group(1).decode()
            by_subject[subj] = p
        # Near side: 'sync 3' is read (S) and 'sync 4' deleted.
        p3 = by_subject["sync 3"]
        base3 = os.path.basename(p3).split(":")[0]
        os.rename(p3, os.path.join(near, base3 + ":2,S"))
        os.unlink(by_subject["sync 4"])
        # One new message on the near side, to be uploaded.
        with open(os.path.join(local, "INBOX", "new", "1700000000.near.test"), "wb") as f:
            f.write(b"From: near@remote.test\r\nSubject: from the near side\r\n\r\nuploaded\r\n")
        out = mbsync()
        m = self.login()
        response_ok(m.select("INBOX"))
        data = response_ok(m.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))
        far = {}
        for item in data:
            if isinstance(item, tuple):
                subj = item[1].decode().strip()
                far[subj] = item[0].decode()
        self.assertEqual({"Subject: sync 0", "Subject: sync 2", "Subject: sync 3", "Subject: from the near side"}, set(far), out)
        self.assertIn("\\Flagged", far["Subject: sync 0"])
        self.assertIn("\\Seen", far["Subject: sync 3"])
        m.logout()
        files = local_files()
        self.assertEqual(4, len(files), out)
        self.assertTrue(any(":2,F" in n for n in files), files)
        # A second sync moves nothing: no file changes near, no change far (the
        # session's disconnect line counts what it changed).
        start = len(self.inst.log_text())
        mbsync()
        self.assertEqual(files, local_files())
        self.inst.wait_log("disconnect: user=<%s>" % self.user, start=start)
        line = [l for l in self.inst.log_text()[start:].splitlines() if "disconnect: user=" in l][0]
        self.assertIn("stored=0, expunged=0, appended=0, copied=0", line)

    def write_bulk(self, total):
        """total small messages "bulk NNNN" straight into the server's INBOX new/, in
        name (so UID) order, owned by the mailbox user."""
        far_new = os.path.join(self.maildir, "new")
        for sub in ("", "tmp", "new", "cur"):
            d = os.path.join(self.maildir, sub)
            os.makedirs(d, exist_ok=True)
            os.chown(d, self.pw.pw_uid, self.pw.pw_gid)
        for i in range(total):
            path = os.path.join(far_new, "17000%05d.M%dP1.test,S=%d" % (i, i, 80))
            with open(path, "wb") as f:
                f.write(b"From: bulk@remote.test\r\nSubject: bulk %04d\r\nMessage-ID: <bulk%d@remote.test>"
                        b"\r\n\r\nbody %d\r\n" % (i, i, i))
            os.chown(path, self.pw.pw_uid, self.pw.pw_gid)

    def test_mbsync_2000_messages(self):
        """A mailbox of 2,000 messages synced both ways with mbsync: all arrive, 100 flag
        changes and 50 deletions on each side travel, and the next sync moves nothing."""
        self.start()
        total = 2000
        self.write_bulk(total)
        local, mbsync = self.mbsync_channel("bulk")

        def near_messages():
            """{subject number: path} of the near side's INBOX."""
            out = {}
            for sub in ("new", "cur"):
                d = os.path.join(local, "INBOX", sub)
                for n in os.listdir(d):
                    with open(os.path.join(d, n), "rb") as f:
                        out[int(re.search(rb"Subject: bulk (\d+)", f.read()).group(1))] = os.path.join(d, n)
            return out

        mbsync()
        near = near_messages()
        self.assertEqual(set(range(total)), set(near))
        # Far side: 100 flagged, 50 deleted; near side: 100 others read, 50 others deleted.
        m = self.login()
        response_ok(m.select("INBOX"))
        data = response_ok(m.uid("SEARCH", None, "ALL"))
        uids = data[0].split()
        self.assertEqual(total, len(uids))
        response_ok(m.uid("STORE", b"%s:%s" % (uids[0], uids[99]), "+FLAGS", "(\\Flagged)"))
        response_ok(m.uid("STORE", b"%s:%s" % (uids[100], uids[149]), "+FLAGS", "(\\Deleted)"))
        response_ok(m.expunge())
        m.logout()
        by_uid_order = sorted(near)  # delivered in name order: UID order is subject order
        far_deleted = set(by_uid_order[100:150])
        near_seen, near_deleted = by_uid_order[1000:1100], by_uid_order[1500:1550]
        for n in near_seen:
            p = near[n]
            base = os.path.basename(p).split(":")[0]
            os.rename(p, os.path.join(local, "INBOX", "cur", base + ":2,S"))
        for n in near_deleted:
            os.unlink(near[n])
        mbsync()
        left = set(range(total)) - far_deleted - set(near_deleted)
        near = near_messages()
        self.assertEqual(left, set(near))
        m = self.login()
        response_ok(m.select("INBOX", readonly=True))
        data = response_ok(m.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))
        far = {}
        for item in data:
            if isinstance(item, tuple):
                far[int(item[1].decode().split()[-1])] = item[0].decode()
        m.logout()
        self.assertEqual(left, set(far))
        self.assertEqual(set(range(100)), {n for n, f in far.items() if "\\Flagged" in f})
        self.assertEqual(set(near_seen), {n for n, f in far.items() if "\\Seen" in f})
        self.assertEqual(100, sum(1 for p in near.values() if ":2," in p and "F" in p.rsplit(":2,", 1)[1]))
        # The next sync moves nothing.
        files = sorted(os.path.relpath(p, local) for p in near.values())
        start = len(self.inst.log_text())
        mbsync()
        self.assertEqual(files, sorted(os.path.relpath(p, local) for p in near_messages().values()))
        self.inst.wait_log("disconnect: user=<%s>" % self.user, start=start)
        line = [l for l in self.inst.log_text()[start:].splitlines() if "disconnect: user=" in l][0]
        self.assertIn("stored=0, expunged=0, appended=0, copied=0", line)

    def offlineimap_channel(self, name):
        """An offlineimap set-up syncing the INBOX with a Maildir of its own; returns (the
        near INBOX folder, a function that runs one sync and returns its output, failing
        the test when offlineimap does or reports an error)."""
        local = os.path.join(self.inst.base, "oi-local-" + name)
        meta = os.path.join(self.inst.base, "oi-meta-" + name)
        rc = os.path.join(self.inst.base, "offlineimaprc-" + name)
        with open(rc, "w") as f:
            f.write("""[general]
accounts = test
metadata = %s
ui = basic
maxsyncaccounts = 1

[Account test]
localrepository = near
remoterepository = far

[Repository near]
type = Maildir
localfolders = %s

[Repository far]
type = IMAP
remotehost = %s
remoteport = %d
remoteuser = %s
remotepass = %s
ssl = no
starttls = no
maxconnections = 1
holdconnectionopen = no
folderfilter = lambda name: name == "INBOX"
""" % (meta, local, self.inst.addr, self.inst.ports["imap"], self.user, PASSWORD))
        env = dict(os.environ, HOME=self.inst.base)

        def offlineimap():
            r = subprocess.run(["offlineimap", "-c", rc, "-o", "-u", "basic"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=600, env=env)
            self.assertEqual(0, r.returncode, r.stdout[-3000:])
            self.assertNotIn("ERROR", r.stdout)
            return r.stdout
        return os.path.join(local, "INBOX"), offlineimap

    def test_offlineimap_two_way(self):
        self.start()
        for i in range(6):
            self.deliver("oi %d" % i, "body %d\r\n" % i)
        inbox, offlineimap = self.offlineimap_channel("six")

        def near():
            """The near Maildir: {subject: (path, maildir flags)}."""
            out = {}
            for sub in ("new", "cur"):
                for n in os.listdir(os.path.join(inbox, sub)):
                    p = os.path.join(inbox, sub, n)
                    with open(p, "rb") as f:
                        subj = re.search(rb"^Subject: ([^\r\n]*)", f.read(), re.M).group(1).decode()
                    out[subj] = (p, n.split(":2,")[1] if ":2," in n else "")
            return out

        def far():
            """The server's INBOX: {subject: sorted flags}."""
            m = self.login()
            response_ok(m.select("INBOX", readonly=True))
            out = {}
            for item in response_ok(m.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")):
                if isinstance(item, tuple):
                    subj = item[1].decode().strip()[len("Subject: "):]
                    flags = re.search(r"FLAGS \(([^)]*)\)", item[0].decode()).group(1).split()
                    out[subj] = sorted(f for f in flags if f != "\\Recent")
            m.logout()
            return out

        offlineimap()
        self.assertEqual(["oi %d" % i for i in range(6)], sorted(near()))
        self.assertEqual({"oi %d" % i: "" for i in range(6)}, {s: v[1] for s, v in near().items()})
        # Far side: flag one, delete another.
        m = self.login()
        response_ok(m.select("INBOX"))
        response_ok(m.store("1", "+FLAGS", "(\\Flagged)"))
        response_ok(m.store("2", "+FLAGS", "(\\Deleted)"))
        response_ok(m.expunge())
        m.logout()
        # Near side: one read and answered, one deleted, one new.
        files = near()
        p, _ = files["oi 3"]
        os.rename(p, os.path.join(inbox, "cur", os.path.basename(p).split(":")[0] + ":2,RS"))
        os.unlink(files["oi 4"][0])
        with open(os.path.join(inbox, "new", "1700000000.near.test"), "wb") as f:
            f.write(b"From: near@remote.test\r\nSubject: from the near side\r\n\r\nuploaded\r\n")
        out = offlineimap()
        synced = {"oi 0": ["\\Flagged"], "oi 2": [], "oi 3": ["\\Answered", "\\Seen"], "oi 5": [],
                  "from the near side": []}
        self.assertEqual(synced, far(), out)
        files = near()
        self.assertEqual({"oi 0": "F", "oi 2": "", "oi 3": "RS", "oi 5": "", "from the near side": ""},
                         {s: v[1] for s, v in files.items()}, out)
        # The uploaded message now carries the UID the server gave it (APPENDUID).
        self.assertRegex(os.path.basename(files["from the near side"][0]), r",U=7,")
        # A second sync moves nothing: the near Maildir keeps every name, and the
        # session's disconnect line counts no change on the server.
        before = sorted(v[0] for v in files.values())
        start = len(self.inst.log_text())
        out = offlineimap()
        self.assertEqual(before, sorted(v[0] for v in near().values()), out)
        self.inst.wait_log("disconnect: user=<%s>" % self.user, start=start)
        lines = [l for l in self.inst.log_text()[start:].splitlines() if "disconnect: user=" in l]
        self.assertTrue(lines)
        for line in lines:
            self.assertIn("stored=0, expunged=0, appended=0, copied=0", line)
        self.assertEqual(synced, far(), out)

    def test_offlineimap_2000_messages(self):
        """A mailbox of 2,000 messages synced both ways with offlineimap: all arrive, 100
        flag changes and 50 deletions on each side travel, and the next sync changes
        nothing on the server."""
        self.start()
        total = 2000
        self.write_bulk(total)
        inbox, offlineimap = self.offlineimap_channel("bulk")

        def near_messages():
            """{subject number: path} of the near side's INBOX."""
            out = {}
            for sub in ("new", "cur"):
                d = os.path.join(inbox, sub)
                for n in os.listdir(d):
                    with open(os.path.join(d, n), "rb") as f:
                        out[int(re.search(rb"Subject: bulk (\d+)", f.read()).group(1))] = os.path.join(d, n)
            return out

        out = offlineimap()
        near = near_messages()
        self.assertEqual(set(range(total)), set(near), out[-3000:])
        m = self.login()
        response_ok(m.select("INBOX"))
        uids = response_ok(m.uid("SEARCH", None, "ALL"))[0].split()
        self.assertEqual(total, len(uids))
        response_ok(m.uid("STORE", b"%s:%s" % (uids[0], uids[99]), "+FLAGS", "(\\Flagged)"))
        response_ok(m.uid("STORE", b"%s:%s" % (uids[100], uids[149]), "+FLAGS", "(\\Deleted)"))
        response_ok(m.expunge())
        m.logout()
        far_deleted = set(range(100, 150))
        near_seen, near_deleted = list(range(1000, 1100)), list(range(1500, 1550))
        for n in near_seen:
            p = near[n]
            os.rename(p, os.path.join(inbox, "cur", os.path.basename(p).split(":")[0] + ":2,S"))
        for n in near_deleted:
            os.unlink(near[n])
        out = offlineimap()
        left = set(range(total)) - far_deleted - set(near_deleted)
        near = near_messages()
        self.assertEqual(left, set(near), out[-3000:])
        m = self.login()
        response_ok(m.select("INBOX", readonly=True))
        far = {}
        for item in response_ok(m.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")):
            if isinstance(item, tuple):
                far[int(item[1].decode().split()[-1])] = item[0].decode()
        m.logout()
        self.assertEqual(left, set(far))
        self.assertEqual(set(range(100)), {n for n, f in far.items() if "\\Flagged" in f})
        self.assertEqual(set(near_seen), {n for n, f in far.items() if "\\Seen" in f})
        self.assertEqual(100, sum(1 for p in near.values() if ":2," in p and "F" in p.rsplit(":2,", 1)[1]))
        # The next sync changes nothing on the server and keeps every near file.
        files = sorted(near.values())
        start = len(self.inst.log_text())
        out = offlineimap()
        self.assertEqual(files, sorted(near_messages().values()), out[-3000:])
        self.inst.wait_log("disconnect: user=<%s>" % self.user, start=start)
        lines = [l for l in self.inst.log_text()[start:].splitlines() if "disconnect: user=" in l]
        self.assertTrue(lines)
        for line in lines:
            self.assertIn("stored=0, expunged=0, appended=0, copied=0", line)

    def test_neomutt_reads_inbox(self):
        self.start()
        subjects = ["neomutt first", "neomutt second", "neomutt third"]
        for i, subj in enumerate(subjects):
            self.deliver(subj, "text of message %d\r\n" % i)
        home = os.path.join(self.inst.base, "mutthome")
        os.makedirs(home)
        rc = os.path.join(home, "muttrc")
        with open(rc, "w") as f:
            f.write("""set folder = "imap://%s@%s:%d/"
set spoolfile = "+INBOX"
set imap_pass = "%s"
set ssl_starttls = no
set ssl_force_tls = no
set header_cache = ""
set message_cachedir = ""
set sort = mailbox-order
set index_format = "%%4C [%%s]"
set pager_stop = yes
set pager_index_lines = 0
set mark_old = no
set move = no
set quit = yes
set wait_key = no
set timeout = 1
""" % (self.user, self.inst.addr, self.inst.ports["imap"], PASSWORD))
        sock = os.path.join(home, "tmux.sock")
        env = dict(os.environ, HOME=home, TERM="xterm")

        def tmux(*args):
            return subprocess.run(["tmux", "-S", sock] + list(args), stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, timeout=30, env=env)

        def screen():
            return tmux("capture-pane", "-p").stdout

        def gone():
            return tmux("has-session").returncode != 0

        r = tmux("new-session", "-d", "-x", "200", "-y", "50", "neomutt -n -F %s" % rc)
        self.assertEqual(0, r.returncode, r.stdout)

        def stop():
            if not gone():
                tmux("kill-server")
        self.addCleanup(stop)
        try:
            # The index lists every delivered message.
            harness.wait_for(lambda: all("[%s]" % s in screen() for s in subjects), 30,
                             "the index in neomutt")
            text = screen()
            self.assertRegex(text, r"(?m)^\s+1 \[neomutt first\]")
            self.assertRegex(text, r"(?m)^\s+3 \[neomutt third\]")
            self.assertNotIn("Error", text)
            # Jump to the second message and open it: the pager shows its body.
            tmux("send-keys", "2", "Enter", "Enter")
            harness.wait_for(lambda: "text of message 1" in screen(), 30, "message 2 in the pager")
            self.assertIn("Subject: neomutt second", screen())
            # Back to the index, then quit: neomutt writes \Seen back and logs out.
            tmux("send-keys", "q")
            harness.wait_for(lambda: "[neomutt third]" in screen(), 30, "the index again")
            tmux("send-keys", "q")
            harness.wait_for(gone, 30, "neomutt to exit")
        except AssertionError as e:
            raise AssertionError("%s; the screen was:\n%s" % (e, "" if gone() else screen()))
        m = self.login()
        response_ok(m.select("INBOX", readonly=True))
        data = response_ok(m.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))
        flags = {}
        for item in data:
            if isinstance(item, tuple):
                flags[item[1].decode().strip()] = re.search(r"FLAGS \(([^)]*)\)", item[0].decode()).group(1)
        self.assertEqual({"Subject: neomutt first": "", "Subject: neomutt second": "\\Seen",
                          "Subject: neomutt third": ""}, flags)
        m.logout()

    def test_fetchmail(self):
        self.start()
        self.deliver("for fetchmail one", "first\r\n")
        self.deliver("for fetchmail two", "second\r\n")
        mbox = os.path.join(self.inst.base, "fetched.mbox")
        rc = os.path.join(self.inst.base, "fetchmailrc")
        with open(rc, "w") as f:
            f.write('poll %s service %d protocol IMAP user "%s" password "%s" sslproto "" mda "cat >> %s"\n'
                    % (self.inst.addr, self.inst.ports["imap"], self.user, PASSWORD, mbox))
        os.chmod(rc, 0o600)
        env = dict(os.environ, HOME=self.inst.base)
        r = subprocess.run(["fetchmail", "-f", rc, "--nodetach", "--nosyslog", "-v", "--idfile",
                            os.path.join(self.inst.base, "fetchids")], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=120, env=env)
        self.assertEqual(0, r.returncode, r.stdout)
        with open(mbox, "rb") as f:
            text = f.read()
        self.assertIn(b"Subject: for fetchmail one", text)
        self.assertIn(b"Subject: for fetchmail two", text)
        self.assertIn(b"second", text)
        # fetchmail deleted what it fetched.
        m = self.login()
        typ, data = m.select("INBOX")
        self.assertEqual([b"0"], data)
        m.logout()


if __name__ == "__main__":
    harness.main()
