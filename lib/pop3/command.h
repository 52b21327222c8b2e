// lib/pop3/command.h - POP3 command lines (RFC 1939, RFC 2449 CAPA, RFC 2595 STLS,
// RFC 5034 AUTH): splitting input into lines, the verb table and argument checks.
// Pure functions, no I/O. Bad input is a value carrying the -ERR text to send.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "lib/base/parsed.h"
#include "lib/mail/line_reader.h"

namespace postilion::pop3 {

// RFC 2449 section 4: a command line is at most 255 octets with its CRLF. AUTH
// responses (RFC 5034 section 4) may be longer; sessions use a separate limit for those.
constexpr size_t kMaxCommandLine = 255;
// RFC 2449 section 4: each argument at most 40 octets. PASS and AUTH are exempt
// (passwords, SASL data), USER is allowed more because addresses are long.
constexpr size_t kMaxArgument = 40;
constexpr size_t kMaxUserName = 255;
constexpr size_t kMaxPassword = 1024;
// Message numbers are at most this many digits (no mailbox holds 10^10 messages).
constexpr size_t kMaxNumberDigits = 10;

// Either a parsed value or the -ERR text refusing it (Parsed<T>::bad(text)).
template <class T>
using Parsed = postilion::Parsed<T>;

// ---- lines ----------------------------------------------------------------------
// Input split into command lines (lib/mail/line_reader.h), at most kMaxCommandLine
// octets unless the session sets another limit (AUTH responses).
class LineReader : public mail::LineReader {
 public:
  explicit LineReader(size_t max_line = kMaxCommandLine) : mail::LineReader(max_line) {}
};

// ---- commands ---------------------------------------------------------------------
enum class Verb { User, Pass, Apop, Stat, List, Retr, Dele, Rset, Noop, Quit, Top, Uidl, Capa, Stls, Auth };
const char* verb_name(Verb v);

struct Command {
  Verb verb;
  std::string arg;              // USER name, PASS password (rest of line), AUTH mechanism
  std::optional<uint64_t> msg;  // LIST/UIDL (optional), RETR/DELE/TOP: message number >= 1
  uint64_t lines = 0;           // TOP: number of body lines
  std::optional<std::string> initial;  // AUTH: initial response as written (base64 or "=")
};

// Parses one command line (without its line end). Errors name what is wrong:
// "unknown command", "syntax error: ...", "invalid message number". Verbs are
// case-insensitive; arguments are separated by single spaces (extra ones are allowed).
Parsed<Command> parse_command(std::string_view line);

// A message number: 1..(10^10-1), decimal digits only, no sign, no leading zeros
// beyond "0" itself (which is refused as not >= 1).
std::optional<uint64_t> parse_number(std::string_view s);

// SASL PLAIN (RFC 4616), with POP3's limits on the user name and password.
using PlainCredentials = mail::PlainCredentials;
inline std::optional<PlainCredentials> parse_sasl_plain(std::string_view decoded) {
  return mail::parse_sasl_plain(decoded, kMaxUserName, kMaxPassword);
}

}  // namespace postilion::pop3
