// lib/smtp/data_reader.h - incremental readers of message content: DATA (dot-stuffed,
// ends only at CRLF.CRLF) and BDAT chunks (exact byte counts). Bytes in, content out.
// A reader never stops at a content error: it records the first one, discards the
// rest of the message and still finds the true end, so the client and server agree on
// where the message stops (the "SMTP smuggling" class of attacks needs them not to).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "lib/smtp/reply.h"

namespace postilion::smtp {

// RFC 5321 4.5.3.1.6: 1000 octets per text line including CRLF. The default only:
// smtpd passes smtpd_line_limit (which counts the CRLF) minus 2.
constexpr size_t kMaxDataLine = 998;

enum class DataError { None, BareLf, BareCr, Nul, LineTooLong, TooBig };
const char* data_error_name(DataError e);
// The reply for a message refused for this error (after its end was read).
Reply data_error_reply(DataError e);

class DataReader {
 public:
  // max_size: the largest content accepted (0 = unlimited); bigger is TooBig.
  // strict_line_ends: reject bare CR and bare LF (default; the smuggling defence).
  // max_line: the longest text line in octets, without its CRLF (longer: LineTooLong).
  explicit DataReader(uint64_t max_size, bool strict_line_ends = true, size_t max_line = kMaxDataLine)
      : max_size_(max_size), strict_(strict_line_ends), max_line_(max_line) {}

  enum class Status { NeedMore, End };
  // Consumes from in, appending unstuffed content (CRLF line ends) to *out. Stops right
  // after the final CRLF.CRLF, so pipelined commands after it are left: *consumed says
  // how much of in was used. After End the reader must not be fed again.
  Status feed(std::string_view in, std::string* out, size_t* consumed);

  DataError error() const { return error_; }
  // Content octets seen (counted even after an error, for the log).
  uint64_t size() const { return size_; }
  bool done() const { return state_ == State::Done; }

 private:
  enum class State { LineStart, Dot, DotCr, Mid, Cr, Done };
  void fail(DataError e) {
    if (error_ == DataError::None) error_ = e;
  }
  void emit(std::string* out, std::string_view bytes);

  uint64_t max_size_;
  bool strict_;
  size_t max_line_;
  State state_ = State::LineStart;
  DataError error_ = DataError::None;
  uint64_t size_ = 0;
  size_t line_len_ = 0;
};

// One BDAT chunk of exactly `size` octets, no dot-stuffing (RFC 3030). NUL is still
// refused (no BINARYMIME) and the message total still counts against max_size.
class ChunkReader {
 public:
  ChunkReader() = default;
  ChunkReader(uint64_t chunk_size, uint64_t already, uint64_t max_size)
      : remaining_(chunk_size), total_(already), max_size_(max_size) {}
  enum class Status { NeedMore, End };
  // Appends up to the chunk's remaining bytes of in to *out (unless in error).
  Status feed(std::string_view in, std::string* out, size_t* consumed);
  DataError error() const { return error_; }
  uint64_t total() const { return total_; }
  uint64_t remaining() const { return remaining_; }
  // Records an error found outside the reader (e.g. an earlier chunk's).
  void set_error(DataError e) { if (error_ == DataError::None) error_ = e; }

 private:
  uint64_t remaining_ = 0;
  uint64_t total_ = 0;
  uint64_t max_size_ = 0;
  DataError error_ = DataError::None;
};

}  // namespace postilion::smtp
