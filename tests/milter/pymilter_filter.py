#!/usr/bin/python3
# tests/milter/pymilter_filter.py - a test mail filter on python3-milter (pymilter, over
# Sendmail's libmilter), started by tests/test_smtpd_milter.py with the system python3:
#   pymilter_filter.py SOCKET LOGFILE [HEADER-NAME HEADER-VALUE]
# It does what the Subject of each message asks for ("reject", "tempfail", "goodbye", "discard",
# "headers", "body", "sender", "rcpts", "quarantine", "hang", "die") and appends what it
# saw (macros, envelope, headers, body size) to LOGFILE as JSON lines. Given a header,
# it adds that field to every message it accepts (which filter saw a message).
import json
import os
import sys
import time

import Milter

SOCKET, LOGFILE = sys.argv[1], sys.argv[2]
STAMP = (sys.argv[3], sys.argv[4]) if len(sys.argv) > 4 else None


def log(**kw):
    with open(LOGFILE, "a") as f:
        f.write(json.dumps(kw) + "\n")


class Filter(Milter.Base):
    def __init__(self):
        self.id = Milter.uniqueID()
        self.subject = ""
        self.headers = []
        self.bodybuf = b""
        self.rcpts = []

    def connect(self, hostname, family, hostaddr):
        log(event="connect", hostname=hostname, addr=str(hostaddr[0]) if hostaddr else None,
            j=self.getsymval("j"), daemon_name=self.getsymval("{daemon_name}"),
            underscore=self.getsymval("_"))
        return Milter.CONTINUE

    def hello(self, name):
        log(event="helo", name=name, tls_version=self.getsymval("{tls_version}"),
            cipher=self.getsymval("{cipher}"))
        return Milter.CONTINUE

    def envfrom(self, mailfrom, *params):
        self.mailfrom = mailfrom
        self.headers = []
        self.bodybuf = b""
        self.rcpts = []
        self.subject = ""
        log(event="mail", sender=mailfrom, params=list(params), mail_addr=self.getsymval("{mail_addr}"))
        return Milter.CONTINUE

    def envrcpt(self, to, *params):
        self.rcpts.append(to)
        log(event="rcpt", rcpt=to, rcpt_addr=self.getsymval("{rcpt_addr}"),
            rcpt_mailer=self.getsymval("{rcpt_mailer}"), rcpt_host=self.getsymval("{rcpt_host}"))
        if "refuse-me" in to:
            self.setreply("550", "5.1.1", "recipient refused by the filter")
            return Milter.REJECT
        return Milter.CONTINUE

    def header(self, name, value):
        self.headers.append((name, value))
        if name.lower() == "subject":
            self.subject = value
        return Milter.CONTINUE

    def eoh(self):
        log(event="eoh", i=self.getsymval("i"))
        return Milter.CONTINUE

    def body(self, chunk):
        self.bodybuf += chunk
        return Milter.CONTINUE

    def eom(self):
        s = self.subject
        log(event="eom", subject=s, headers=self.headers, body_len=len(self.bodybuf),
            body=self.bodybuf.decode("latin-1")[:200], i=self.getsymval("i"))
        if "die" in s:
            os._exit(1)
        if "hang" in s:
            time.sleep(30)
        if "goodbye" in s:
            self.setreply("421", "4.7.0", "Closing, says the pymilter test filter")
            return Milter.TEMPFAIL
        if "reject" in s:
            self.setreply("554", "5.7.1", "Rejected by the pymilter test filter")
            return Milter.REJECT
        if "tempfail" in s:
            self.setreply("451", "4.7.1", "Try again, says the pymilter test filter")
            return Milter.TEMPFAIL
        if "discard" in s:
            return Milter.DISCARD
        if "headers" in s:
            self.addheader("X-Filtered", "yes")
            self.chgheader("Subject", 1, "changed headers")
            self.chgheader("X-Remove-Me", 1, "")
            self.addheader("X-Top", "first", 0)  # insheader at index 0
        if "body" in s:
            self.replacebody(b"The body was replaced.\r\nSecond line.\r\n")
        if "sender" in s:
            self.chgfrom("<changed@sender.test>")
        if "rcpts" in s:
            self.addrcpt("<added@relayed.test>")
            self.delrcpt(self.rcpts[0])
        if "quarantine" in s:
            self.quarantine("held by the test filter")
        if STAMP:
            self.addheader(STAMP[0], STAMP[1])
        return Milter.ACCEPT

    def abort(self):
        log(event="abort")
        return Milter.CONTINUE

    def close(self):
        return Milter.CONTINUE


def main():
    Milter.factory = Filter
    Milter.set_flags(Milter.ADDHDRS | Milter.CHGHDRS | Milter.CHGBODY | Milter.ADDRCPT | Milter.DELRCPT |
                     Milter.CHGFROM | Milter.QUARANTINE)
    sys.stdout.flush()
    Milter.runmilter("pymilter-test", SOCKET, 240)


if __name__ == "__main__":
    main()
