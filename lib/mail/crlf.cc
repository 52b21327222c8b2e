// lib/mail/crlf.cc - message sizes with CRLF line ends.
#include "lib/mail/crlf.h"

namespace postilion::mail {

uint64_t crlf_size(std::string_view raw) {
  uint64_t n = raw.size();
  for (size_t i = 0; i < raw.size(); ++i)
    if (raw[i] == '\n' && (i == 0 || raw[i - 1] != '\r')) ++n;
  if (!raw.empty() && raw.back() != '\n') n += 2;  // the line end a sender adds
  return n;
}

}  // namespace postilion::mail
