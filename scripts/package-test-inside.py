#!/usr/bin/env python3
# scripts/package-test-inside.py - run by scripts/package-test as root inside the
# throw-away Debian 12 root where the postilion and postilion-mailbox packages were just
# installed, in a network namespace of its own (loopback only, ports free). Starts
# Postilion with its init script, sends mail as a user with sendmail and mail(1) and over
# SMTP, reads it back over IMAP and POP3, checks the daemons' users from /proc, reloads,
# stops, runs an upgrade (the same packages again: queued mail and configuration kept),
# removes and purges, and looks for what is left. One PASS/FAIL line per check; exit 1
# when any failed. Every wait is bounded.
import glob
import grp
import imaplib
import os
import poplib
import pwd
import smtplib
import socket
import ssl
import subprocess
import sys
import time

USER, PASSWORD = "alice", "alice-Secret-42"
HOST, ORIGIN = "mail.example.test", "example.test"
DAEMONS = "/usr/lib/postilion"
failures = []


def check(name, ok, detail=""):
    print(("PASS: " if ok else "FAIL: ") + name + ("" if ok or not detail else " (%s)" % detail), flush=True)
    if not ok:
        failures.append(name)
    return ok


def note(text):
    print("    " + text, flush=True)


def run(*argv, input=None):
    return subprocess.run(list(argv), input=input, capture_output=True, text=True, timeout=120)


def wait_for(what, pred, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = pred()
            if value:
                return value
        except (OSError, imaplib.IMAP4.error, poplib.error_proto, smtplib.SMTPException):
            pass
        time.sleep(0.5)
    note("timed out after %.0fs waiting for %s" % (timeout, what))
    return None


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return True
    except OSError:
        return False


def daemon_processes():
    """(pid, program, real uid, effective uid) of every process run from /usr/lib/postilion."""
    out = []
    for d in glob.glob("/proc/[0-9]*"):
        try:
            exe = os.readlink(d + "/exe")
            status = open(d + "/status").read()
        except OSError:
            continue
        if not exe.startswith(DAEMONS + "/"):
            continue
        uids = next(l for l in status.splitlines() if l.startswith("Uid:")).split()
        out.append((int(d[6:]), os.path.basename(exe.replace(" (deleted)", "")), int(uids[1]), int(uids[2])))
    return sorted(out)


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # install's certificate is self-signed
    return ctx


def imap_messages():
    m = imaplib.IMAP4("127.0.0.1", 143, timeout=30)
    m.starttls(tls_context())
    m.login(USER, PASSWORD)
    typ, data = m.select("INBOX", readonly=True)
    count = int(data[0])
    bodies = []
    for i in range(1, count + 1):
        typ, fetched = m.fetch(str(i), "(BODY.PEEK[])")
        bodies.append(fetched[0][1].decode(errors="replace"))
    m.logout()
    return bodies


def pop3_messages():
    p = poplib.POP3("127.0.0.1", 110, timeout=30)
    p.user(USER)
    p.pass_(PASSWORD)
    count, _ = p.stat()
    bodies = ["\n".join(l.decode(errors="replace") for l in p.retr(i)[1]) for i in range(1, count + 1)]
    p.quit()
    return bodies


def main():
    # A user with a password and a home: the mailbox owner of the test.
    if run("id", USER).returncode != 0:
        run("useradd", "-m", "-s", "/bin/bash", USER)
    run("chpasswd", input="%s:%s\n" % (USER, PASSWORD))
    user = pwd.getpwnam(USER)
    owner = pwd.getpwnam("postilion")
    check("users postilion and vmail and group postdrop exist",
          run("getent", "passwd", "vmail").returncode == 0 and run("getent", "group", "postdrop").returncode == 0)

    main_conf = open("/etc/postilion/main.conf").read()
    master_conf = open("/etc/postilion/master.conf").read()
    for want in ("myhostname = %s" % HOST, "myorigin = /etc/mailname", "alias_maps = hash:/etc/aliases",
                 "inet_interfaces = all", "queue_directory = /var/spool/postilion",
                 "daemon_directory = /usr/lib/postilion", "virtual_mailbox_base = /var/mail/vhosts"):
        check("main.conf: " + want, want in main_conf)
    services = [l.split()[0] for l in master_conf.splitlines() if l and not l.startswith("#")]
    for port in ("25", "587", "465", "143", "993", "110", "995"):
        check("master.conf: public port " + port, port in services)
    key = os.stat("/etc/postilion/tls/key.pem")
    check("certificate key mode 0600, root's", key.st_mode & 0o777 == 0o600 and key.st_uid == 0,
          oct(key.st_mode & 0o777))
    check("/etc/aliases.db built", os.path.exists("/etc/aliases.db"))
    drop = os.stat("/usr/sbin/postdrop")
    check("postdrop set-gid postdrop (dpkg-statoverride)",
          drop.st_mode & 0o7777 == 0o2755 and drop.st_gid == grp.getgrnam("postdrop").gr_gid,
          oct(drop.st_mode & 0o7777))
    for name in ("/usr/sbin/sendmail", "/usr/bin/mailq", "/usr/bin/newaliases", "/usr/lib/sendmail"):
        owner_pkg = run("dpkg", "-S", name).stdout.split(":")[0]
        check(name + " is postilion's", owner_pkg == "postilion", owner_pkg)
    r = run("postilionctl", "check")
    check("postilionctl check", r.returncode == 0, (r.stdout + r.stderr).strip()[-300:])

    r = run("/etc/init.d/postilion", "start")
    note((r.stdout + r.stderr).strip())
    check("init script start", r.returncode == 0)
    check("listening on 25, 143 and 110", all(wait_for("port %d" % p, lambda: port_open(p), 30) for p in (25, 143, 110)))
    r = run("/etc/init.d/postilion", "status")
    check("init script status", r.returncode == 0, r.stdout.strip())
    master_pid = int(open("/var/spool/postilion/pid/master.pid").read().split()[0])

    # Mail as the user: sendmail, then mail(1) (bsd-mailx, through /usr/sbin/sendmail).
    r = run("runuser", "-u", USER, "--", "/usr/sbin/sendmail", "-t",
            input="To: %s\nSubject: by sendmail\n\nsent with /usr/sbin/sendmail\n" % USER)
    check("sendmail -t as %s" % USER, r.returncode == 0, r.stderr.strip())
    r = run("runuser", "-u", USER, "--", "mail", "-s", "by mailx", USER, input="sent with mail(1)\n")
    check("mail(1) as %s" % USER, r.returncode == 0, r.stderr.strip())
    try:
        with smtplib.SMTP("127.0.0.1", 25, timeout=30) as s:
            s.starttls(context=tls_context())
            s.ehlo("client.example")
            s.sendmail("bob@elsewhere.example", ["%s@%s" % (USER, HOST)],
                       "From: bob@elsewhere.example\r\nTo: %s@%s\r\nSubject: by smtplib\r\n\r\nsent over SMTP\r\n" % (USER, HOST))
        check("SMTP (STARTTLS) to port 25", True)
    except (OSError, smtplib.SMTPException) as e:
        check("SMTP (STARTTLS) to port 25", False, str(e))

    # An alias in /etc/aliases, compiled by newaliases (alias_maps = hash:/etc/aliases).
    with open("/etc/aliases", "a") as f:
        f.write("team-inbox: %s\n" % USER)
    r = run("newaliases")
    check("newaliases", r.returncode == 0, (r.stdout + r.stderr).strip())
    r = run("runuser", "-u", USER, "--", "/usr/sbin/sendmail", "team-inbox", input="Subject: by alias\n\nto team-inbox\n")
    check("sendmail to the alias team-inbox", r.returncode == 0, r.stderr.strip())

    subjects = ("by sendmail", "by mailx", "by smtplib", "by alias")
    bodies = wait_for("four messages over IMAP", lambda: (lambda b: b if len(b) >= 4 else None)(imap_messages())) or []
    check("IMAP (STARTTLS, port 143): the four messages", all(any("Subject: " + s in b for b in bodies) for s in subjects),
          "%d messages" % len(bodies))
    local_sent = [b for b in bodies if "Subject: by sendmail" in b]
    check("myorigin from /etc/mailname: From %s@%s" % (USER, ORIGIN),
          bool(local_sent) and ("%s@%s" % (USER, ORIGIN)) in local_sent[0].split("\r\n\r\n")[0],
          local_sent[0].split("\r\n\r\n")[0][:400] if local_sent else "")
    maildir = os.path.join(user.pw_dir, "Maildir")
    check("delivered into ~%s/Maildir, owned by %s" % (USER, USER),
          os.path.isdir(maildir + "/new") and all(os.stat(f).st_uid == user.pw_uid
                                                  for f in glob.glob(maildir + "/*/*") if os.path.isfile(f)))
    try:
        pop = pop3_messages()
        check("POP3 (port 110): the four messages", all(any("Subject: " + s in b for b in pop) for s in subjects),
              "%d messages" % len(pop))
    except (OSError, poplib.error_proto) as e:
        check("POP3 (port 110): the four messages", False, str(e))

    # The daemons' users, with an IMAP session open (its process is the mailbox owner's).
    m = imaplib.IMAP4("127.0.0.1", 143, timeout=30)
    m.login(USER, PASSWORD)
    m.select("INBOX")
    procs = daemon_processes()
    m.logout()
    names = {0: "root", owner.pw_uid: "postilion", user.pw_uid: USER}
    for pid, prog, ruid, euid in procs:
        note("pid %d %s uid %s" % (pid, prog, names.get(euid, euid)))
    expected = {"master": {0}, "smtpd": {owner.pw_uid}, "qmgr": {owner.pw_uid}, "resolver": {owner.pw_uid},
                "anvil": {owner.pw_uid}, "showq": {owner.pw_uid}, "smtp": {owner.pw_uid},
                "local": {0}, "virtual": {0}, "auth": {0},
                # listener as root, the pre-login process as postilion, a session as its user
                "imapd": {0, owner.pw_uid, user.pw_uid}, "pop3d": {0, owner.pw_uid, user.pw_uid}}
    wrong = ["%s pid %d uid %d/%d" % (prog, pid, ruid, euid) for pid, prog, ruid, euid in procs
             if prog not in expected or ruid not in expected[prog] or euid not in expected[prog]]
    check("each daemon under its intended user", not wrong, ", ".join(wrong))
    running = {prog for _, prog, _, _ in procs}
    check("master, smtpd, qmgr and imapd running", {"master", "smtpd", "qmgr", "imapd"} <= running, " ".join(sorted(running)))
    check("the IMAP session runs as %s" % USER, any(p == "imapd" and e == user.pw_uid for _, p, _, e in procs))

    r = run("/etc/init.d/postilion", "reload")
    check("init script reload", r.returncode == 0, (r.stdout + r.stderr).strip())
    pid_after = int(open("/var/spool/postilion/pid/master.pid").read().split()[0])
    check("reload keeps the master (pid %d)" % master_pid, pid_after == master_pid and os.path.exists("/proc/%d" % master_pid))
    check("still answering after reload", wait_for("port 25 after reload", lambda: port_open(25), 30))
    r = run("mailq")
    check("mailq: queue empty", r.returncode == 0 and "empty" in r.stdout.lower(), r.stdout.strip()[:200])

    r = run("/etc/init.d/postilion", "stop")
    check("init script stop", r.returncode == 0, (r.stdout + r.stderr).strip())
    check("no daemon left after stop", wait_for("daemons to end", lambda: not daemon_processes(), 30) is not None)
    check("ports closed after stop", not any(port_open(p) for p in (25, 143, 110)))
    r = run("/etc/init.d/postilion", "status")
    check("init script status: not running (3)", r.returncode == 3, str(r.returncode))

    # An upgrade (the same packages again) keeps the configuration and queued mail: a
    # message sent while stopped waits in maildrop/.
    with open("/etc/postilion/main.conf", "a") as f:
        f.write("# kept across the upgrade\n")
    r = run("runuser", "-u", USER, "--", "/usr/sbin/sendmail", USER, input="Subject: queued\n\nwhile stopped\n")
    check("sendmail while stopped queues", r.returncode == 0, r.stderr.strip())
    queued = sorted(os.listdir("/var/spool/postilion/maildrop"))
    debs = sorted(glob.glob("/root/debs/*.deb"))
    r = run("dpkg", "-i", *debs)
    check("dpkg -i again (upgrade path)", r.returncode == 0, (r.stdout + r.stderr).strip()[-400:])
    check("upgrade kept main.conf", "# kept across the upgrade" in open("/etc/postilion/main.conf").read())
    check("upgrade kept the queued message", queued and sorted(os.listdir("/var/spool/postilion/maildrop")) == queued,
          "%s" % queued)
    r = run("/etc/init.d/postilion", "start")
    check("init script start after the upgrade", r.returncode == 0, (r.stdout + r.stderr).strip())
    after = wait_for("the queued message over POP3",
                     lambda: (lambda b: b if any("Subject: queued" in m for m in b) else None)(pop3_messages())) or []
    check("the message queued before the upgrade is delivered", bool(after), "%d messages" % len(after))
    r = run("/etc/init.d/postilion", "stop")
    check("init script stop after the upgrade", r.returncode == 0, (r.stdout + r.stderr).strip())

    # postilion-mailbox's removal takes imapd and pop3d out of master.conf.
    r = run("dpkg", "--remove", "postilion-mailbox")
    check("dpkg --remove postilion-mailbox", r.returncode == 0, (r.stdout + r.stderr).strip()[-300:])
    master_conf = open("/etc/postilion/master.conf").read()
    check("master.conf without imapd and pop3d", "imapd" not in master_conf and "pop3d" not in master_conf)
    r = run("postilionctl", "check")
    check("postilionctl check after the removal", r.returncode == 0, (r.stdout + r.stderr).strip()[-300:])

    r = run("apt-get", "remove", "-y", "postilion", "bsd-mailx")
    check("apt-get remove postilion", r.returncode == 0, (r.stdout + r.stderr).strip()[-300:])
    check("remove keeps /etc/postilion and the spool",
          os.path.exists("/etc/postilion/main.conf") and os.path.isdir("/var/spool/postilion/maildrop"))
    r = run("dpkg", "--purge", "postilion", "postilion-mailbox")
    check("dpkg --purge", r.returncode == 0, (r.stdout + r.stderr).strip()[-300:])
    left = [p for p in ("/etc/postilion", "/var/spool/postilion", "/usr/lib/postilion", "/usr/sbin/postilionctl",
                        "/usr/sbin/sendmail", "/usr/bin/mailq", "/var/mail/vhosts", "/etc/init.d/postilion",
                        "/lib/systemd/system/postilion.service") if os.path.lexists(p)]
    check("purge leaves nothing of Postilion", not left, " ".join(left))
    check("no statoverride left", run("dpkg-statoverride", "--list", "/usr/sbin/postdrop").returncode != 0)
    status = run("dpkg-query", "-W", "-f", "${db:Status-Abbrev}", "postilion").stdout.strip()
    check("postilion purged in dpkg's database", status in ("", "un"), status)
    check("no daemon running", not daemon_processes())
    # Debian's practice: system users stay (files may belong to them); so do /etc/aliases
    # and its database, the host's whatever its MTA.
    kept = [u for u in ("postilion", "vmail") if run("getent", "passwd", u).returncode == 0]
    note("kept after purge: users %s, %s" % (" ".join(kept) or "none",
                                              " ".join(p for p in ("/etc/aliases", "/etc/aliases.db") if os.path.exists(p))))
    check("users kept after purge (Debian practice)", kept == ["postilion", "vmail"], " ".join(kept))

    print("package-test-inside: %d failed" % len(failures), flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
