// smtp/session.h - one SMTP conversation with one server address: connect, greeting,
// EHLO (HELO fallback), STARTTLS per the TLS level (DANE/verify via OpenSSL), AUTH
// with per-host credentials, then any number of messages (MAIL/RCPT/DATA, pipelined
// when offered; RSET between them so the connection can be reused), then QUIT.
// Every failure is classified: a site failure means "try the next address"; a reply
// to one recipient or to the message decides that recipient's or message's fate.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lib/dns/dns.h"
#include "lib/smtp/reply.h"
#include "lib/tls/tls.h"
#include "smtp/capabilities.h"
#include "smtp/conn.h"
#include "smtp/content.h"
#include "smtp/reply_parser.h"
#include "smtp/tls_policy.h"

namespace postilion::smtp_client {

struct SessionSettings {
  std::string helo_name = "localhost";
  std::string bind_address;
  int connect_timeout_ms = 30000;
  int helo_timeout_ms = 300000;     // greeting, EHLO, STARTTLS, AUTH
  int command_timeout_ms = 300000;  // MAIL, RCPT, DATA, RSET, QUIT
  int data_done_timeout_ms = 600000;
  bool skip_5xx_greeting = true;
};

// Where and how to connect.
struct Peer {
  std::string host;     // name for logs, SNI and certificate checks
  std::string address;  // IP literal
  uint16_t port = 25;
  std::string nexthop;  // the destination domain (secure level matches it too)
  TlsLevel tls = TlsLevel::May;
  std::vector<dns::TlsaRecord> tlsa;  // dane with usable, DNSSEC-secure records
  std::string sasl_user, sasl_password;    // empty user: no AUTH
  // "mx.b.tst[127.0.3.1]:25"
  std::string label() const;
};

enum class RcptFate { Pending, Sent, Bounced, Deferred };

struct RcptJob {
  std::string address;
  std::string orcpt;
  RcptFate fate = RcptFate::Pending;
  std::string dsn;
  std::string text;   // the reason (or the 250 reply of DATA) for logs and qmgr
  std::string relay;  // peer label of the final attempt
};

struct MessageJob {
  std::string queue_id;
  std::string sender;
  Content content;     // header + body as queued, read piece by piece
  bool eightbit = false;      // BODY=8BITMIME was given, or 8-bit bytes found
  bool smtputf8 = false;      // SMTPUTF8 needed
  std::string envid, ret;     // DSN parameters, if given
  std::string auth;           // queue file "auth": the AUTH= mailbox, "<>" or "" (none)
};

// The AUTH= parameter of MAIL FROM (RFC 4954 5) with its leading space, or "" when
// the server did not announce AUTH. The mailbox (xtext, RFC 3461 4) goes only to a
// server this connection authenticated to; any other gets AUTH=<>, so the server
// never takes our word for who submitted the message.
std::string mail_auth_param(const Capabilities& caps, bool authenticated, const std::string& auth);

// What happened to a message in one session.
enum class SendResult {
  Done,       // every recipient got an answer (some may remain Pending after a 4xx)
  SiteError,  // the server failed as a whole (timeout, lost connection, 4xx to MAIL):
              // recipients still Pending should go to the next address
  LocalError, // the queue file could not be read: recipients still Pending are
              // deferred; a message cut short was never ended with "." (connection dropped)
};

class Session {
 public:
  // Connects and greets. Site failures come back as an Error whose text is the
  // reason ("connect to ...: Connection refused"); permanent() is set when the
  // server refused with 5xx and smtp_skip_5xx_greeting is off; code() is EPROTO when
  // the STARTTLS handshake failed.
  static Result<std::unique_ptr<Session>> open(const Peer& peer, const SessionSettings& s,
                                               const tls::Context* tls_ctx);
  ~Session();

  // Delivers one message to the recipients still Pending in rcpts.
  SendResult send(const MessageJob& m, std::vector<RcptJob*>& rcpts, std::string* site_error);
  // RSET before the next message on a reused connection; false: do not reuse.
  bool reset();
  // Before the next message on a reused connection: with PIPELINING the RSET goes out
  // with the next MAIL FROM (a dead connection then shows as a site error of send());
  // otherwise reset(). False: do not reuse.
  bool prepare_reuse();
  void quit();

  const Capabilities& capabilities() const { return caps_; }
  const Peer& peer() const { return peer_; }
  bool tls_active() const { return conn_.ssl() != nullptr; }
  bool usable() const { return conn_.open() && !broken_; }
  int64_t last_used_ms() const { return last_used_ms_; }
  const std::string& tls_summary() const { return tls_summary_; }
  // Messages accepted (250 after DATA) on this connection.
  unsigned messages() const { return messages_; }

 private:
  Session(const Peer& p, const SessionSettings& s) : peer_(p), settings_(s) {}
  Status send_line(const std::string& line, int timeout_ms);
  Result<smtp::Reply> read_reply(int timeout_ms, const char* state);
  Status ehlo(std::string* err);
  Status starttls(const tls::Context* ctx, std::string* err);
  Status auth(std::string* err);
  std::string said(const smtp::Reply& r, const char* in_reply_to) const;

  // The steps of send(), in order; each returns the result when the transaction ends
  // there, nullopt to go on.
  struct Transaction;
  // Checks the message against the server's SMTPUTF8, 8BITMIME and SIZE, converting
  // an 8-bit message to 7 bits (into *converted) when the server takes only 7.
  std::optional<SendResult> fit_content(const MessageJob& m, Transaction& t, const Content** content,
                                        Content* converted, bool* eightbit);
  std::string mail_command(const MessageJob& m, const Content& content, bool eightbit) const;
  std::string rcpt_command(const RcptJob& r) const;
  // MAIL FROM, or with PIPELINING [RSET,] MAIL, every RCPT and DATA in one write.
  std::optional<SendResult> write_envelope(const std::string& mail, const std::vector<std::string>& rcpt_lines,
                                           Transaction& t);
  // The MAIL and RCPT replies (sending each RCPT without PIPELINING), then DATA.
  std::optional<SendResult> read_envelope_replies(const std::vector<std::string>& rcpt_lines, Transaction& t);
  // DATA for the accepted recipients: nullopt once the server said 354.
  std::optional<SendResult> start_data(const smtp::Reply* pipelined_data_reply, Transaction& t);
  std::optional<SendResult> send_content(const Content& content, Transaction& t);
  SendResult end_of_data(Transaction& t);

  Peer peer_;
  SessionSettings settings_;
  Conn conn_;
  ReplyParser parser_;
  Capabilities caps_;
  bool broken_ = false;
  int64_t last_used_ms_ = 0;
  std::string tls_summary_;
  unsigned messages_ = 0;
  bool authenticated_ = false;  // AUTH succeeded on this connection
  bool rset_pending_ = false;  // RSET to send at the head of the next pipelined group
};

// The DSN code of a reply: its enhanced code, or X.0.0 from its class.
std::string reply_dsn(const smtp::Reply& r);
// Dot-stuffing and CRLF line ends for DATA, ending with "CRLF.CRLF" (DotStuffer in one go).
std::string data_payload(std::string_view content);
// RFC 6152 downgrade of a non-multipart 8-bit message to quoted-printable; nullopt
// when the message cannot be converted (multipart, message/*): it must bounce.
std::optional<std::string> downgrade_8bit(std::string_view content);
bool has_8bit(std::string_view s);

}  // namespace postilion::smtp_client
