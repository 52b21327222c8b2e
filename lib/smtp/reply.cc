// lib/smtp/reply.cc - the SMTP reply builder.
#include "lib/smtp/reply.h"

#include <cstdio>

namespace postilion::smtp {
namespace {

void append_clean(std::string* out, std::string_view text) {
  if (text.size() > kMaxReplyText) text = text.substr(0, kMaxReplyText);
  for (char c : text) {
    unsigned char u = static_cast<unsigned char>(c);
    out->push_back(u < 0x20 || u == 0x7f ? '?' : c);
  }
}

}  // namespace

std::string Reply::summary() const {
  std::string out = std::to_string(code);
  if (!status.empty()) out += " " + status;
  if (!lines.empty()) {
    out += " ";
    append_clean(&out, lines.front());
  }
  return out;
}

std::string Reply::wire() const {
  std::string out;
  char code_buf[8];
  int c = code >= 100 && code <= 599 ? code : 451;
  std::snprintf(code_buf, sizeof code_buf, "%03d", c);
  size_t n = lines.empty() ? 1 : lines.size();
  for (size_t i = 0; i < n; ++i) {
    out.append(code_buf, 3);
    out.push_back(i + 1 < n ? '-' : ' ');
    if (!status.empty()) {
      out += status;
      out.push_back(' ');
    }
    if (!lines.empty()) append_clean(&out, lines[i]);
    out += "\r\n";
  }
  return out;
}

Reply reply(int code, std::string_view status, std::string_view text) {
  return Reply{code, std::string(status), {std::string(text)}};
}

Reply reply_lines(int code, std::string_view status, std::vector<std::string> lines) {
  return Reply{code, std::string(status), std::move(lines)};
}

}  // namespace postilion::smtp
