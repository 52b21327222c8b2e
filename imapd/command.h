// imapd/command.h - IMAP command input (RFC 3501 section 9): a reader that cuts the
// byte stream into whole commands (literals included) and says when the client waits
// for a continuation, and a parser of one command into tag, name and argument tree.
// No I/O. Kept apart from the sessions so that it can move into lib/imap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postilion::imapd {

class CommandReader {
 public:
  enum class Status {
    NeedMore,      // nothing complete yet
    Command,       // *out holds one whole command (CRLF and literals included)
    Continuation,  // a synchronizing literal follows: send "+ ..." and read on
    TooLong,       // the line is over the limit: *out holds the tag ("" if none); the
                   // rest of the line is skipped
    LiteralTooBig, // a literal over its limit: *out holds the tag; the literal is not
                   // read (a non-synchronizing one is skipped)
  };
  // line_limit: octets of command text outside literals; literal_limit: octets of one
  // literal (append_limit for APPEND).
  CommandReader(size_t line_limit, size_t literal_limit, size_t append_limit)
      : line_limit_(line_limit), literal_limit_(literal_limit), append_limit_(append_limit) {}

  // Takes what it can from the front of in.
  Status next(std::string& in, std::string* out);
  // Forgets a partial command (after STARTTLS).
  void reset();
  // Largest literal seen announced of the current command so far (for a NO reply).
  bool in_literal() const { return literal_left_ > 0; }

 private:
  std::string tag_of() const;
  bool is_append() const;
  size_t line_limit_, literal_limit_, append_limit_;
  std::string cmd_;
  size_t line_len_ = 0;       // text octets of the current command outside literals
  uint64_t literal_left_ = 0; // literal octets still to come into cmd_
  uint64_t skip_ = 0;         // octets to drop (a refused non-synchronizing literal)
  bool skip_line_ = false;    // drop up to the next LF (an overlong line)
};

struct Value {
  enum class Type { Atom, String, List };
  Type type = Type::Atom;
  std::string text;          // atom or string contents
  std::vector<Value> items;  // a list's members
  bool literal = false;      // a string that came as a literal

  bool is_atom() const { return type == Type::Atom; }
  bool is_list() const { return type == Type::List; }
  bool is_string() const { return type != Type::List; }  // atom or string (astring)
  bool is_nil() const;
};

struct Command {
  std::string tag;
  std::string name;  // upper-cased
  std::vector<Value> args;
};

struct ParseResult {
  std::optional<Command> cmd;
  std::string tag;    // when the command could not be parsed: its tag, or "*"
  std::string error;  // why
};

// Parses one whole command as CommandReader returns it.
ParseResult parse_command(std::string_view raw);

inline constexpr size_t kMaxNesting = 32;

}  // namespace postilion::imapd
