// smtp/content.h - the message as smtp(8) sends it: read from the queue file in bounded
// pieces with pread (the whole message is never in memory, unless it must be converted
// for a 7-bit server), and made transparent for DATA on the fly (CRLF line ends,
// dot-stuffing, RFC 5321 4.5.2) by a stuffer that keeps its state between pieces.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "lib/base/result.h"

namespace postilion::smtp_client {

class Content {
 public:
  static constexpr size_t kPiece = 64 * 1024;  // the read and the send buffer

  Content() = default;
  // length bytes at offset of fd (not owned; it must stay open while this is used).
  Content(int fd, uint64_t offset, uint64_t length) : fd_(fd), offset_(offset), length_(length) {}
  // A message held in memory (tests, a message converted to 7 bits).
  explicit Content(std::string text) : length_(text.size()), text_(std::move(text)), in_memory_(true) {}

  uint64_t size() const { return length_; }
  // Calls sink with successive pieces of at most kPiece bytes (an in-memory message in
  // one piece). Errors: the file's (EIO, short file) or the sink's, as returned.
  Status each(const std::function<Status(std::string_view)>& sink) const;
  // Whether any byte has the high bit set.
  Result<bool> has_8bit() const;
  // The whole message (only for the 8-bit downgrade).
  Result<std::string> load() const;

 private:
  int fd_ = -1;
  uint64_t offset_ = 0;
  uint64_t length_ = 0;
  std::string text_;
  bool in_memory_ = false;
  // A message that fits in one piece is read once and kept for the next pass.
  mutable std::string piece_;
  mutable bool whole_ = false;
};

// Dot-stuffing and CRLF line ends for DATA, fed piece by piece: a bare CR or LF
// becomes CRLF, a line that starts with "." gets another one.
class DotStuffer {
 public:
  void add(std::string_view piece, std::string* out);
  // Ends the last line if it is open, then the terminating ".CRLF".
  void finish(std::string* out);

 private:
  bool bol_ = true;       // at the beginning of a line
  bool after_cr_ = false; // the last byte was a CR (a following LF belongs to it)
};

}  // namespace postilion::smtp_client
