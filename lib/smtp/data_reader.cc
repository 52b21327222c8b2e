// lib/smtp/data_reader.cc - DATA and BDAT content readers.
#include "lib/smtp/data_reader.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace postilion::smtp {

const char* data_error_name(DataError e) {
  switch (e) {
    case DataError::None: return "none";
    case DataError::BareLf: return "bare <LF> received";
    case DataError::BareCr: return "bare <CR> received";
    case DataError::Nul: return "message contains NUL characters";
    case DataError::LineTooLong: return "message line too long";
    case DataError::TooBig: return "message size exceeds fixed limit";
  }
  return "?";
}

Reply data_error_reply(DataError e) {
  switch (e) {
    case DataError::None: return Reply{};
    case DataError::BareLf: return reply(550, "5.5.2", "Error: bare <LF> received");
    case DataError::BareCr: return reply(550, "5.5.2", "Error: bare <CR> received");
    case DataError::Nul: return reply(550, "5.6.0", "Error: message contains NUL characters");
    case DataError::LineTooLong: return reply(550, "5.5.2", "Error: message line too long");
    case DataError::TooBig: return reply(552, "5.3.4", "Error: message file too big");
  }
  return reply(451, "4.3.0", "Error: internal error");
}

// Output never depends on how the input was split: a piece that crosses the size
// limit is cut exactly at the limit, as byte-by-byte feeding would cut it.
void DataReader::emit(std::string* out, std::string_view bytes) {
  if (error_ == DataError::None) {
    if (max_size_ && size_ + bytes.size() > max_size_) {
      out->append(bytes.substr(0, max_size_ - size_));
      fail(DataError::TooBig);
    } else {
      out->append(bytes);
    }
  }
  size_ += bytes.size();
}

DataReader::Status DataReader::feed(std::string_view in, std::string* out, size_t* consumed) {
  size_t i = 0;
  const size_t n = in.size();
  // Where the next CR, LF and NUL are (at or after the last position asked about):
  // each is found with memchr and reused until passed, so the whole input is scanned
  // at most once per byte value however its lines are shaped.
  size_t next_cr = SIZE_MAX, next_lf = SIZE_MAX, next_nul = SIZE_MAX;
  auto find = [&](char ch, size_t* cache, size_t from) {
    if (*cache == SIZE_MAX || *cache < from) {
      const void* q = std::memchr(in.data() + from, ch, n - from);
      *cache = q ? static_cast<size_t>(static_cast<const char*>(q) - in.data()) : n;
    }
    return *cache;
  };
  while (i < n && state_ != State::Done) {
    char c = in[i];
    switch (state_) {
      case State::LineStart:
        line_len_ = 0;
        if (c == '.') {
          state_ = State::Dot;
          ++i;
          continue;
        }
        state_ = State::Mid;
        continue;  // the same byte, as text
      case State::Dot:
        if (c == '\r') {
          state_ = State::DotCr;
          ++i;
          continue;
        }
        // ".x" -> "x": the leading dot of a stuffed line goes (RFC 5321 4.5.2).
        line_len_ = 1;
        state_ = State::Mid;
        continue;
      case State::DotCr:
        if (c == '\n') {
          state_ = State::Done;
          ++i;
          continue;
        }
        // ".\r" without LF: not the end. The CR was bare.
        if (strict_) fail(DataError::BareCr);
        emit(out, "\r");
        state_ = State::Mid;
        continue;
      case State::Mid: {
        // Fast path: the run of ordinary bytes up to the next CR, LF or NUL.
        size_t j = std::min({find('\r', &next_cr, i), find('\n', &next_lf, i), find('\0', &next_nul, i)});
        if (j > i) {
          // Up to the line limit the bytes are content; the rest of an over-long line
          // is only counted (the same cut whatever the input's split).
          size_t run = j - i;
          size_t room = line_len_ < max_line_ ? max_line_ - line_len_ : 0;
          size_t keep = run < room ? run : room;
          line_len_ += run;
          emit(out, in.substr(i, keep));
          if (run > keep) {
            fail(DataError::LineTooLong);
            size_ += run - keep;
          }
          i = j;
          continue;
        }
        if (c == '\r') {
          state_ = State::Cr;
        } else if (c == '\n') {
          // A bare LF is data, never a line end: it cannot start a "." line.
          if (strict_) fail(DataError::BareLf);
          emit(out, "\n");
          ++line_len_;
        } else {  // NUL
          fail(DataError::Nul);
          ++line_len_;
        }
        ++i;
        continue;
      }
      case State::Cr:
        if (c == '\n') {
          emit(out, "\r\n");
          state_ = State::LineStart;
          ++i;
          continue;
        }
        if (strict_) fail(DataError::BareCr);
        emit(out, "\r");
        ++line_len_;
        state_ = State::Mid;
        continue;
      case State::Done:
        break;
    }
  }
  *consumed = i;
  return state_ == State::Done ? Status::End : Status::NeedMore;
}

ChunkReader::Status ChunkReader::feed(std::string_view in, std::string* out, size_t* consumed) {
  size_t take = in.size() < remaining_ ? in.size() : static_cast<size_t>(remaining_);
  std::string_view part = in.substr(0, take);
  remaining_ -= take;
  total_ += take;
  if (max_size_ && total_ > max_size_) set_error(DataError::TooBig);
  if (error_ == DataError::None && std::memchr(part.data(), '\0', part.size()))
    set_error(DataError::Nul);
  if (error_ == DataError::None) out->append(part);
  *consumed = take;
  return remaining_ == 0 ? Status::End : Status::NeedMore;
}

}  // namespace postilion::smtp
