// lib/mail/line_reader.cc - command lines out of buffered input; SASL PLAIN.
#include "lib/mail/line_reader.h"

#include <cstring>

namespace postilion::mail {

LineReader::Status LineReader::next(std::string_view buf, size_t* consumed, std::string_view* line) {
  const void* lf = std::memchr(buf.data(), '\n', buf.size());
  if (!lf) {
    // Without its end, a line may still turn out short enough; beyond the limit (+1
    // for a CR that may precede the LF) it cannot, so discard it as it comes instead
    // of buffering a hostile client's endless line.
    if (discarding_ || buf.size() > max_line_ + 1) {
      discarding_ = true;
      *consumed = buf.size();
    } else {
      *consumed = 0;
    }
    return Status::NeedMore;
  }
  size_t pos = static_cast<const char*>(lf) - buf.data();
  *consumed = pos + 1;
  size_t len = pos > 0 && buf[pos - 1] == '\r' ? pos - 1 : pos;
  if (discarding_ || len > max_line_) {
    discarding_ = false;
    return Status::TooLong;
  }
  *line = buf.substr(0, len);
  return Status::Line;
}

std::optional<PlainCredentials> parse_sasl_plain(std::string_view d, size_t max_user, size_t max_password) {
  size_t a = d.find('\0');
  if (a == std::string_view::npos) return std::nullopt;
  size_t b = d.find('\0', a + 1);
  if (b == std::string_view::npos) return std::nullopt;
  if (d.find('\0', b + 1) != std::string_view::npos) return std::nullopt;
  PlainCredentials c{std::string(d.substr(0, a)), std::string(d.substr(a + 1, b - a - 1)),
                     std::string(d.substr(b + 1))};
  if (c.user.empty() || c.password.empty() || c.user.size() > max_user || c.password.size() > max_password)
    return std::nullopt;
  return c;
}

}  // namespace postilion::mail
