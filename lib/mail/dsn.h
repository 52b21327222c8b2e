// lib/mail/dsn.h - delivery status notifications (RFC 3464, RFC 3461 parameters):
// NOTIFY/RET parsing and the composition of a multipart/report message. No I/O: the
// caller supplies the time, the boundary and the original message, and queues the text.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postilion::mail {

// RFC 3461 NOTIFY= as bits. None (0) means "not given": the defaults apply
// (FAILURE and DELAY). Never is exclusive with the others.
enum Notify : unsigned {
  kNotifyDefault = 0,
  kNotifySuccess = 1,
  kNotifyFailure = 2,
  kNotifyDelay = 4,
  kNotifyNever = 8,
};
// "SUCCESS,DELAY" -> bits; nullopt for an unknown keyword or NEVER mixed with others.
std::optional<unsigned> parse_notify(std::string_view value);
std::string notify_string(unsigned bits);
// Whether a notice of this kind goes out for a recipient with these bits.
bool wants_failure(unsigned bits);
bool wants_delay(unsigned bits);
bool wants_success(unsigned bits);

enum class Ret { Default, Full, Headers };
std::optional<Ret> parse_ret(std::string_view value);

// The address of a stored ORCPT ("rfc822;addr" -> "addr"); another address type is
// returned whole.
std::string orcpt_address(std::string_view orcpt);

// xtext (RFC 3461 4.2) decoding for ORCPT and ENVID; nullopt when malformed.
std::optional<std::string> xtext_decode(std::string_view in);
std::string xtext_encode(std::string_view in);

enum class DsnAction { Failed, Delayed, Delivered, Relayed, Expanded };
const char* action_name(DsnAction a);

// X.Y.Z with X in 2,4,5; subject and detail up to 3 digits.
bool valid_status_code(std::string_view code);

struct DsnRecipient {
  std::string final_recipient;     // the address the attempt was for
  std::string original_recipient;  // ORCPT address (without "rfc822;"), may be empty
  DsnAction action = DsnAction::Failed;
  std::string status;              // e.g. "5.1.1"; invalid values become 5.0.0/4.0.0/2.0.0
  std::string remote_mta;          // e.g. "mx.example.org", may be empty
  std::string diagnostic;          // human text, e.g. "unknown user: \"bob\""
  int64_t last_attempt = 0;        // unix seconds, 0 = omit
  int64_t will_retry_until = 0;    // delayed only, 0 = omit
};

struct DsnRequest {
  std::string reporting_mta;       // myhostname
  std::string queue_id;            // of the original message
  std::string envelope_id;         // ENVID, may be empty
  std::string sender;              // the original envelope sender (DSN recipient)
  std::string from;                // From: of the report, e.g. "MAILER-DAEMON@host"
  std::string boundary;            // unique; must not occur in the original message
  std::string message_id;          // "<...>" for the report's Message-ID
  int64_t arrival_time = 0;        // unix seconds, 0 = omit
  int64_t now = 0;                 // unix seconds
  Ret ret = Ret::Default;          // Default = headers for success, full otherwise
  size_t max_returned_size = 50 * 1024 * 1024;  // larger originals are cut to headers
  std::vector<DsnRecipient> recipients;
};

// The whole report message (headers + body) with LF line ends. original is the
// returned message as stored (headers, blank line, body; LF or CRLF).
std::string compose_dsn(const DsnRequest& req, std::string_view original);

// "Sun, 29 Nov 2026 04:01:17 +0000" for a unix time (UTC).
std::string rfc5322_date(int64_t unix_seconds);

}  // namespace postilion::mail
