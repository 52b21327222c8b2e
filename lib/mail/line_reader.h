// lib/mail/line_reader.h - splitting buffered protocol input into command lines, as the
// SMTP and POP3 servers read them, and the SASL PLAIN response (RFC 4616) both decode.
// Pure functions and a small state machine: no I/O.
#pragma once

#include <cstddef>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

namespace postilion::mail {

// Splits buffered input into lines. A line ends at LF; a CR before it is dropped. A
// line longer than the limit is swallowed up to its LF and reported once (TooLong), so
// one error reply answers one over-long line and the session stays in step with the
// client, and an endless line is never buffered whole.
class LineReader {
 public:
  explicit LineReader(size_t max_line) : max_line_(max_line) {}
  enum class Status { NeedMore, Line, TooLong };
  // Looks at buf (all input not yet consumed). *consumed is how much of buf to drop
  // (valid for every status); on Line, *line views into buf.
  Status next(std::string_view buf, size_t* consumed, std::string_view* line);
  bool discarding() const { return discarding_; }
  void set_max_line(size_t n) { max_line_ = n; }

 private:
  size_t max_line_;
  bool discarding_ = false;
};

// SASL PLAIN (RFC 4616): "authzid\0authcid\0passwd", after base64 decoding. Refused
// (nullopt): not exactly three fields, an empty user or password, or one longer than
// its limit.
struct PlainCredentials {
  std::string authzid, user, password;
};
std::optional<PlainCredentials> parse_sasl_plain(std::string_view decoded,
                                                 size_t max_user = std::numeric_limits<size_t>::max(),
                                                 size_t max_password = std::numeric_limits<size_t>::max());

}  // namespace postilion::mail
