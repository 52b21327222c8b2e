// lib/ipc/protocols.h - the shapes of the messages Postilion daemons exchange over
// lib/ipc. One place for socket names and attribute names, so a daemon and its client
// cannot drift apart. Every reader still checks each attribute it uses: a missing or
// malformed one makes the peer's message garbage (logged, connection dropped).
#pragma once

namespace postilion::ipc::proto {

// ---- master control socket: queue_directory/pid/master.ctl (admin only) ----------
// request:  cmd=status|reload|stop
// reply:    status=ok|error, text=..., (status) ready=1|0 and one `service` per entry
inline constexpr const char* kMasterSocket = "pid/master.ctl";

// ---- qmgr wake-up: queue_directory/private/qmgr ----------------------------------
// request:  cmd=wakeup [id=QUEUEID] [queue=incoming|maildrop]   (smtpd, postdrop, ctl)
//           cmd=flush                                            (postilionctl flush, sendmail -q)
// reply:    status=ok
inline constexpr const char* kQmgrSocket = "private/qmgr";

// ---- showq: queue_directory/public/showq (any local user, through set-gid postdrop) -
// One request per connection; showq answers it and ends the connection.
// request:  cmd=list                     (postdrop -p: sendmail -bp, mailq)
//           cmd=flush                    (postdrop -f: sendmail -q; showq tells qmgr)
// reply:    list: zero or more frames status=part, text=CHUNK (the mailq(1) listing in
//           order, at most kShowqChunk bytes each), then status=ok;
//           flush: status=ok once qmgr accepted cmd=flush;
//           any other request, or a failure: status=error, text=reason.
inline constexpr const char* kShowqSocket = "public/showq";
inline constexpr unsigned kShowqChunk = 65536;

// ---- delivery: qmgr -> agent, queue_directory/private/<transport> (local, smtp, ...)
// request:  cmd=deliver, id=QUEUEID, file=active/QUEUEID (relative to queue_directory),
//           sender=ADDR (may be empty), nexthop=TEXT (smtp: domain or [host]:port;
//           local: ""), then per recipient, in order, the three attributes
//           rcpt=ADDR, orcpt=ADDR-or-empty, offset=N (the recipient record's offset in
//           the queue file, whose status byte the agent updates in place after a final
//           outcome - sent or bounced - and before replying). rcpt is the address as
//           routed, which may differ from the record's (a virtual alias's target): the
//           offset names the record. qmgr writes it with queue::encode_delivery_request
//           and every agent reads it with queue::parse_delivery_request
//           (lib/queue/delivery_request.h).
// reply:    status=ok (the request was understood) or status=error, text=...;
//           then per recipient, in request order: rcpt=ADDR, result=sent|defer|bounce,
//           dsn=X.Y.Z, text=human reason, relay=TEXT (e.g. local, mx.b.tst[127.0.3.1]:25).
//           logged=yes before the first rcpt: the agent wrote each recipient's
//           to=... status=... line itself (smtp); the client does not log them again.
//           Agents build it with queue::DeliveryReplyBuilder, qmgr reads it with
//           queue::parse_delivery_reply (lib/queue/delivery_reply.h); whoever logs an
//           outcome uses queue::log_delivery (lib/queue/delivery_log.h).
// An agent that dies mid-request is a defer for every recipient not reported.
// An agent may serve several requests on one connection, one after another (local,
// smtp); a client may also close it after each reply.
// Partly bounced expansion (local; optional, both sides stay compatible with peers
// that predate it): a request with report=expanded says the client takes these
// reports. Then a recipient whose alias/.forward expansion was partly delivered and
// partly bounced (nothing deferred) is result=sent, its status byte left pending for
// the client to write once the report is queued (a crash in between repeats the
// delivery rather than losing the report), followed, before the next rcpt, by one group per bounced destination:
// expanded=ADDR (user@domain, |command, /file or :include:/path), expanded_dsn=X.Y.Z,
// expanded_text=reason; the client reports each in a non-delivery notice, with the
// recipient as the original one. Without report=expanded such a recipient is
// result=bounce as a whole; a client that ignores unknown attributes is unaffected.
inline constexpr const char* kPrivateDir = "private/";

// ---- auth: queue_directory/private/auth ------------------------------------------
// request:  cmd=auth, service=smtpd|pop3d|imapd, user=NAME, password=TEXT, client=IP
//           cmd=lookup, user=NAME                          (no password: delivery, pop3d)
// reply:    status=ok|fail|tempfail, text=...; on ok: user, uid, gid, home, maildir
inline constexpr const char* kAuthSocket = "private/auth";

// ---- anvil: queue_directory/private/anvil (smtpd, pop3d; see anvil(8)) -------------
// Connection counts and rates per service and client address over all smtpd and pop3d
// processes. Each server process keeps one connection; what it counted ends when that
// connection does. Both sides: lib/ipc/anvil_table.h, lib/ipc/anvil_client.h.
// request:  cmd=connect, service=NAME, client=IP     (a session starts)
// reply:    status=ok, count=N (simultaneous sessions of service+client, this one
//           included), rate=N (sessions in the current anvil_rate_time_unit window)
// request:  cmd=disconnect, service=NAME, client=IP  (no reply)
// request:  cmd=message|recipient|auth, service=NAME, client=IP  (one MAIL FROM, RCPT
//           TO or AUTH command of that client)
// reply:    status=ok, rate=N (events of that kind from service+client in the current
//           anvil_rate_time_unit window, this one included)
// Anything else: the connection is closed.
inline constexpr const char* kAnvilSocket = "private/anvil";

// ---- metrics: queue_directory/private/metrics (every daemon, when metrics_listen is set)
// Publishers only send, metrics(8) never answers: one frame per event, name=METRIC,
// label=KEY=VALUE (each of the metric's labels, in schema order), value=NUMBER.
// Schema, checks and both sides: lib/ipc/metrics.h. A malformed event ends the link.
inline constexpr const char* kMetricsSocket = "private/metrics";

// ---- resolver: queue_directory/private/resolver -----------------------------------
// Defined by resolver/ (see resolver(8)); the smtp client is its main caller.
inline constexpr const char* kResolverSocket = "private/resolver";

}  // namespace postilion::ipc::proto
