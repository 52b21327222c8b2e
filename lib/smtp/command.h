// lib/smtp/command.h - SMTP command lines: splitting the input into lines, the verb
// table, and the arguments of MAIL FROM / RCPT TO (paths and ESMTP parameters), BDAT
// and AUTH. Pure functions: no I/O. Bad input is a value carrying the reply to send.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "lib/base/parsed.h"
#include "lib/mail/line_reader.h"
#include "lib/smtp/reply.h"

namespace postilion::smtp {

// RFC 5321 allows 512 octets for a command line; ESMTP parameters and SMTPUTF8
// addresses make real lines longer, so we allow this much (CRLF excluded).
constexpr size_t kMaxCommandLine = 2048;
constexpr size_t kMaxLocalPart = 64;    // RFC 5321 4.5.3.1.1
constexpr size_t kMaxDomain = 255;      // RFC 5321 4.5.3.1.2
constexpr size_t kMaxPath = 256;        // RFC 5321 4.5.3.1.3
constexpr size_t kMaxEnvid = 100;       // RFC 3461 4.4
constexpr size_t kMaxOrcpt = 500;       // RFC 3461 4.2

// Either a parsed value or the reply that refuses it.
template <class T>
using Parsed = postilion::Parsed<T, Reply>;

// ---- lines ----------------------------------------------------------------------
// Input split into command lines (lib/mail/line_reader.h), at most kMaxCommandLine
// octets by default.
class LineReader : public mail::LineReader {
 public:
  explicit LineReader(size_t max_line = kMaxCommandLine) : mail::LineReader(max_line) {}
};

// ---- commands ---------------------------------------------------------------------
enum class Verb {
  Helo, Ehlo, Mail, Rcpt, Data, Bdat, Rset, Noop, Quit, Vrfy, Expn, Help, Starttls, Auth,
};
const char* verb_name(Verb v);

struct Command {
  Verb verb;
  // The text after the verb: MAIL/RCPT without "FROM:"/"TO:", whitespace trimmed.
  std::string_view arg;
};

// Parses one command line (without its line end). Errors: 500 syntax (empty line,
// control characters), 502 unknown verb, 501 argument missing or not allowed.
// A verb that looks like an HTTP request (GET, POST, ...) gives a 521-style reply the
// caller should close on; see is_http_verb.
Parsed<Command> parse_command(std::string_view line);
// True for "GET"/"POST"/"CONNECT"/... and "Host:" lines: a web client or a
// cross-protocol attack; the session hangs up (Postfix does the same).
bool is_http_line(std::string_view line);

// ---- paths ------------------------------------------------------------------------
struct Path {
  std::string address;  // local@domain as written (local part quoted if it needs it); "" = <>
  std::string local;    // unquoted local part
  std::string domain;   // as written; "" when the address has no domain
  bool source_route = false;  // "<@a,@b:u@d>": the route was removed (RFC 5321 4.1.1.3)
  bool utf8 = false;          // holds non-ASCII (needs SMTPUTF8)
  bool null() const { return address.empty(); }
  // The local part holds '%', '!' or '@': sender-specified routing ("user%other@ours",
  // "host!user@ours", "\"u@other\"@ours"). Refused for clients that may not relay.
  bool routing() const;
  std::string domain_lower() const;
};

enum class PathKind { Sender, Recipient };
// Parses "<local@domain>" (or a bare address without spaces). Sender "<>" is the null
// path; a recipient must not be null. Non-ASCII needs smtputf8 (553 5.6.7).
Parsed<Path> parse_path(std::string_view text, PathKind kind, bool smtputf8);

// ---- MAIL FROM / RCPT TO ----------------------------------------------------------
enum class Body { Default, SevenBit, EightBitMime };
enum class Ret { Default, Full, Headers };

struct MailFrom {
  Path path;
  bool size_given = false;
  uint64_t size = 0;
  Body body = Body::Default;
  bool smtputf8 = false;
  Ret ret = Ret::Default;
  std::string envid;   // decoded xtext
  std::string auth;    // AUTH= mailbox (decoded), "<>" or ""
};

struct RcptTo {
  Path path;
  unsigned notify = 0;   // lib/mail/dsn.h Notify bits; 0 = not given
  std::string orcpt;     // "rfc822;addr" decoded, or ""
};

// Parse the argument of MAIL (after "FROM:") and RCPT (after "TO:").
Parsed<MailFrom> parse_mail_from(std::string_view arg);
Parsed<RcptTo> parse_rcpt_to(std::string_view arg, bool smtputf8);

// ---- BDAT ---------------------------------------------------------------------------
struct Bdat {
  uint64_t size = 0;
  bool last = false;
};
Parsed<Bdat> parse_bdat(std::string_view arg);

// ---- AUTH ---------------------------------------------------------------------------
struct AuthStart {
  std::string mechanism;               // upper case
  std::optional<std::string> initial;  // the initial response, raw (base64 or "=")
};
Parsed<AuthStart> parse_auth(std::string_view arg);
// Decodes a SASL PLAIN response "authzid\0authcid\0password" (base64 already removed).
using PlainCredentials = mail::PlainCredentials;
inline std::optional<PlainCredentials> parse_sasl_plain(std::string_view decoded) {
  return mail::parse_sasl_plain(decoded);
}

}  // namespace postilion::smtp
