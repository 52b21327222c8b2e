// smtp/content.cc - bounded reads of the queued message and on-the-fly DATA transparency.
#include "smtp/content.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace postilion::smtp_client {

namespace {

Status pread_all(int fd, char* buf, size_t len, uint64_t off) {
  for (size_t got = 0; got < len;) {
    ssize_t n = ::pread(fd, buf + got, len - got, static_cast<off_t>(off + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::from_errno("cannot read queue file");
    if (n == 0) return Error("cannot read queue file: message shorter than recorded", EIO);
    got += static_cast<size_t>(n);
  }
  return {};
}

}  // namespace

Status Content::each(const std::function<Status(std::string_view)>& sink) const {
  if (in_memory_) return length_ ? sink(text_) : Status{};
  if (whole_) return sink(piece_);
  if (fd_ < 0) return Error("no message to send", EBADF);
  for (uint64_t done = 0; done < length_;) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(kPiece, length_ - done));
    piece_.resize(n);
    if (auto st = pread_all(fd_, piece_.data(), n, offset_ + done); !st) {
      piece_.clear();
      return st;
    }
    whole_ = n == length_;
    if (auto st = sink(piece_); !st) return st;
    done += n;
  }
  return {};
}

Result<bool> Content::has_8bit() const {
  bool found = false;
  auto st = each([&](std::string_view p) -> Status {
    unsigned char acc = 0;
    for (unsigned char c : p) acc |= c;  // no early exit: the loop vectorizes
    if (acc & 0x80) {
      found = true;
      return Error("found");  // stop reading
    }
    return {};
  });
  if (found) return true;
  if (!st) return st.error();
  return false;
}

Result<std::string> Content::load() const {
  if (in_memory_) return text_;
  std::string all;
  all.reserve(static_cast<size_t>(length_));
  auto st = each([&](std::string_view p) {
    all.append(p);
    return Status{};
  });
  if (!st) return st.error();
  return all;
}

void DotStuffer::add(std::string_view p, std::string* out) {
  size_t i = 0;
  const size_t n = p.size();
  while (i < n) {
    char c = p[i];
    if (after_cr_) {
      after_cr_ = false;
      if (c == '\n') {  // the LF of a CRLF whose line end is already out
        ++i;
        continue;
      }
    }
    if (c == '\r' || c == '\n') {
      out->append("\r\n");
      bol_ = true;
      after_cr_ = c == '\r';
      ++i;
      continue;
    }
    if (bol_ && c == '.') out->push_back('.');  // RFC 5321 4.5.2 transparency
    size_t j = i;
    while (j < n && p[j] != '\r' && p[j] != '\n') ++j;
    out->append(p.data() + i, j - i);
    bol_ = false;
    i = j;
  }
}

void DotStuffer::finish(std::string* out) {
  if (!bol_) out->append("\r\n");
  out->append(".\r\n");
  bol_ = true;
  after_cr_ = false;
}

}  // namespace postilion::smtp_client
