// lib/imap/command.h - the IMAP command reader (RFC 3501 section 9, RFC 7888): takes bytes
// as they arrive and returns NeedMore, a parsed command (tag, name, argument tree), a
// request to send "+ " for a synchronizing literal, or an error with its tagged BAD reply.
//
// Contract: no I/O. feed() consumes input bytes and reports how many it used; the caller
// drops them and calls again with the rest (a packet may hold part of a command or many
// pipelined commands). After Status::Command the command is in command() until the next
// feed(). After Status::Error the reply is in error(): if it is fatal the caller sends
// it and closes the connection (the client may be sending literal data the reader
// cannot frame any more); otherwise the rest of the bad line is skipped and reading
// goes on. Memory is bounded by the limits: a line (outside literals) of at most
// max_line bytes, literals of at most max_literal (max_append_literal for APPEND), at
// most max_depth nested lists and max_args tokens per command. Never throws.
//
// The next protocol issue fits here: CATENATE and BINARY literal8 ("~{n}") are read
// as Literal arguments with `binary` set; command names are not interpreted beyond
// "UID <name>", so new commands (SORT, THREAD, ESEARCH options) need no change here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace postilion::imap {

struct Arg {
  enum class Kind { Atom, Quoted, Literal, List };
  Kind kind = Kind::Atom;
  std::string text;        // atom text, quoted string unescaped, literal bytes
  std::vector<Arg> list;   // the items of a List
  bool binary = false;     // a literal8 (~{n}, RFC 3516)

  bool is_atom() const { return kind == Kind::Atom; }
  bool is_string() const { return kind == Kind::Quoted || kind == Kind::Literal; }
  bool is_list() const { return kind == Kind::List; }
  // atom or string (RFC 3501 astring)
  bool is_astring() const { return is_atom() || is_string(); }
  bool is_nil() const;  // the atom NIL (case-insensitive)
};

struct Command {
  std::string tag;
  std::string name;  // uppercase; for "UID FETCH ..." the name is "FETCH" and uid is set
  bool uid = false;
  std::vector<Arg> args;
};

struct ReaderLimits {
  size_t max_line = 65536;              // bytes of one line outside literals
  size_t max_literal = 65536;           // literal size outside APPEND
  size_t max_append_literal = 50 << 20; // APPEND message size (imapd's appendlimit)
  size_t max_nonsync_literal = SIZE_MAX; // 4096 for LITERAL- (RFC 7888 5)
  size_t max_depth = 32;                // nested parenthesized lists
  size_t max_args = 10000;              // tokens in one command
  size_t max_command = 100 << 20;       // all bytes held for one command, literals too
};

class CommandReader {
 public:
  enum class Status {
    NeedMore,  // all input used, no complete command yet
    Continue,  // a synchronizing literal is announced and accepted: send "+ Ready\r\n"
    Command,   // command() holds a command
    Line,      // raw line mode: line() holds one line without its line end
    Error,     // error() holds the reply
  };
  struct Error {
    std::string tag;    // "*" when the line had no valid tag
    std::string reply;  // e.g. "a1 BAD Literal too large\r\n"
    bool fatal = false;
  };

  explicit CommandReader(ReaderLimits limits = {}) : limits_(limits) {}

  // Consumes input up to the end of one event; *used is set to the bytes taken.
  Status feed(std::string_view input, size_t* used);

  // The next feed() returns one raw line (AUTHENTICATE responses, IDLE's DONE); at most
  // max_line bytes, else an Error.
  void expect_line() {
    raw_line_ = true;
    line_buf_.clear();
  }

  const Command& command() const { return cmd_; }
  // Leaves no trace of the command behind (its UID prefix included) for the next one.
  Command take_command() {
    Command c = std::move(cmd_);
    cmd_ = Command{};
    return c;
  }
  const std::string& line() const { return line_buf_; }
  const Error& error() const { return err_; }
  // True between commands: no part of a command has been read.
  bool idle() const { return st_ == St::Tag && tok_.empty() && !raw_line_; }
  // Bytes held for the command being read (for memory accounting).
  size_t buffered() const { return held_; }

 private:
  enum class St { Tag, Name, Args, Atom, Tilde, Quoted, QuotedEscape, LiteralSize, LiteralCr,
                  LiteralLf, LiteralData, LineLf, Skip, SkipLiteral };
  Status fail(std::string text, bool fatal = false);
  Status end_of_line();
  bool push(Arg a);
  bool end_atom();
  size_t literal_limit() const;
  void reset();

  ReaderLimits limits_;
  St st_ = St::Tag;
  bool raw_line_ = false;
  Command cmd_;
  Error err_;
  std::string line_buf_;
  std::string tok_;           // tag, name or atom being read
  std::vector<Arg> lists_;    // open lists; lists_[0] holds the command's arguments
  size_t line_len_ = 0;       // bytes of the current line outside literals
  size_t ntokens_ = 0;
  size_t held_ = 0;
  uint64_t literal_size_ = 0;
  bool literal_sync_ = true;
  bool literal_binary_ = false;
  bool literal_plus_ = false;
  size_t literal_digits_ = 0;
  bool in_bracket_ = false;   // inside [...] of an atom like BODY[HEADER.FIELDS (A B)]
  bool bracket_quote_ = false;
  unsigned char last_ = 0;   // the byte being read, for fail()
  std::string skip_tail_;     // end of a skipped line, to find a "{n+}" literal announced there
};

}  // namespace postilion::imap
