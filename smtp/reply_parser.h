// smtp/reply_parser.h - the client side of SMTP replies (RFC 5321 4.2): an incremental
// parser that takes the server's bytes as they come and yields whole replies, single or
// multi-line, with the enhanced status code (RFC 3463) split off when the first line
// has one of the reply's class. Server bytes are untrusted: bad syntax, mixed codes,
// over-long lines or too many lines are an error (the session drops the server).
#pragma once

#include <string>
#include <string_view>

#include "lib/base/parsed.h"
#include "lib/smtp/reply.h"

namespace postilion::smtp_client {

inline constexpr size_t kMaxReplyLine = 4096;   // RFC says 512; be lenient, but bounded
inline constexpr size_t kMaxReplyLines = 500;

class ReplyParser {
 public:
  enum class Status { NeedMore, Ready, Error };
  void feed(std::string_view bytes) { buf_.append(bytes); }
  // Ready: *out holds the next reply (its lines without code and separator; the
  // enhanced code removed from every line that carries it). Error: *why says what
  // is wrong; the parser stays in Error.
  Status next(smtp::Reply* out, std::string* why);
  size_t buffered() const { return buf_.size(); }
  // Bytes received after the last complete reply (STARTTLS: must be none).
  bool has_pending() const { return !buf_.empty() || !lines_.empty(); }

 private:
  std::string buf_;
  std::vector<std::string> lines_;  // of the reply being read
  int code_ = 0;
  bool failed_ = false;
  std::string why_;
};

// Parses one complete reply text ("250-a\r\n250 b\r\n"); for tests and the fuzzer.
Parsed<smtp::Reply> parse_reply(std::string_view text);

// "X.Y.Z" with X equal to the reply's class digit, Y 0..999, Z 0..999.
bool valid_enhanced(std::string_view s, char cls);

}  // namespace postilion::smtp_client
