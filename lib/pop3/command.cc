// lib/pop3/command.cc - POP3 command lines: line splitting, verbs, argument checks.
#include "lib/pop3/command.h"

#include <cstring>

#include "lib/base/strings.h"

namespace postilion::pop3 {

namespace {

struct VerbSpec {
  const char* name;
  Verb verb;
};
const VerbSpec kVerbs[] = {
    {"USER", Verb::User}, {"PASS", Verb::Pass}, {"APOP", Verb::Apop}, {"STAT", Verb::Stat},
    {"LIST", Verb::List}, {"RETR", Verb::Retr}, {"DELE", Verb::Dele}, {"RSET", Verb::Rset},
    {"NOOP", Verb::Noop}, {"QUIT", Verb::Quit}, {"TOP", Verb::Top},   {"UIDL", Verb::Uidl},
    {"CAPA", Verb::Capa}, {"STLS", Verb::Stls}, {"AUTH", Verb::Auth},
};

bool has_control(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return true;
  return false;
}

// Splits on spaces; empty fields (repeated spaces) are dropped.
std::vector<std::string_view> words(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    size_t j = i;
    while (j < s.size() && s[j] != ' ') ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

using P = Parsed<Command>;

}  // namespace

const char* verb_name(Verb v) {
  for (const auto& s : kVerbs)
    if (s.verb == v) return s.name;
  return "?";
}

std::optional<uint64_t> parse_number(std::string_view s) {
  if (s.empty() || s.size() > kMaxNumberDigits) return std::nullopt;
  uint64_t n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  if (n == 0) return std::nullopt;
  return n;
}

P parse_command(std::string_view line) {
  // A tab or other control character is never part of a POP3 command; NUL bytes would
  // cut names short in C APIs further on.
  if (line.empty() || str::trim(line).empty()) return P::bad("empty command");
  size_t sp = line.find(' ');
  std::string_view word = line.substr(0, sp);
  std::string_view rest = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
  if (word.size() > 4 || has_control(word)) return P::bad("unknown command");
  const VerbSpec* spec = nullptr;
  for (const auto& s : kVerbs)
    if (str::iequals(word, s.name)) spec = &s;
  if (!spec) return P::bad("unknown command");
  Command cmd{spec->verb, {}, std::nullopt, 0, std::nullopt};

  if (cmd.verb == Verb::Pass) {
    // RFC 1939 allows spaces in the password: the argument is the rest of the line.
    if (rest.empty()) return P::bad("syntax error: PASS needs a password");
    if (rest.size() > kMaxPassword) return P::bad("syntax error: password too long");
    if (rest.find('\0') != std::string_view::npos) return P::bad("syntax error: NUL in password");
    cmd.arg = std::string(rest);
    return cmd;
  }
  if (has_control(rest)) return P::bad("syntax error: control characters in arguments");
  auto args = words(rest);
  auto want = [&](size_t lo, size_t hi) { return args.size() >= lo && args.size() <= hi; };
  switch (cmd.verb) {
    case Verb::Stat: case Verb::Rset: case Verb::Noop: case Verb::Quit: case Verb::Capa:
    case Verb::Stls:
      if (!args.empty()) return P::bad(std::string("syntax error: ") + spec->name + " takes no arguments");
      return cmd;
    case Verb::User:
      if (!want(1, 1)) return P::bad("syntax error: USER needs one name");
      if (args[0].size() > kMaxUserName) return P::bad("syntax error: user name too long");
      cmd.arg = std::string(args[0]);
      return cmd;
    case Verb::Apop:
      if (!want(2, 2)) return P::bad("syntax error: APOP needs a name and a digest");
      cmd.arg = std::string(args[0]);
      return cmd;
    case Verb::List: case Verb::Uidl:
      if (!want(0, 1)) return P::bad(std::string("syntax error: ") + spec->name + " takes at most one message number");
      if (args.size() == 1) {
        cmd.msg = parse_number(args[0]);
        if (!cmd.msg) return P::bad("invalid message number");
      }
      return cmd;
    case Verb::Retr: case Verb::Dele:
      if (!want(1, 1)) return P::bad(std::string("syntax error: ") + spec->name + " needs one message number");
      cmd.msg = parse_number(args[0]);
      if (!cmd.msg) return P::bad("invalid message number");
      return cmd;
    case Verb::Top: {
      if (!want(2, 2)) return P::bad("syntax error: TOP needs a message number and a line count");
      cmd.msg = parse_number(args[0]);
      if (!cmd.msg) return P::bad("invalid message number");
      // The line count may be 0 (headers only); parse_number refuses 0, so handle it.
      if (args[1] == "0") {
        cmd.lines = 0;
      } else {
        auto n = parse_number(args[1]);
        if (!n) return P::bad("invalid line count");
        cmd.lines = *n;
      }
      return cmd;
    }
    case Verb::Auth:
      // RFC 5034: AUTH alone lists mechanisms (like CAPA's SASL line).
      if (!want(0, 2)) return P::bad("syntax error: AUTH takes a mechanism and an optional initial response");
      if (!args.empty()) {
        if (args[0].size() > kMaxArgument) return P::bad("syntax error: mechanism name too long");
        cmd.arg = str::upper(args[0]);
      }
      if (args.size() == 2) cmd.initial = std::string(args[1]);
      return cmd;
    case Verb::Pass:
      break;
  }
  return P::bad("unknown command");
}

}  // namespace postilion::pop3
