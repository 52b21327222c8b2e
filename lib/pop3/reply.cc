// lib/pop3/reply.cc - the POP3 reply builder and message encoding.
#include "lib/pop3/reply.h"

namespace postilion::pop3 {
namespace {

std::string clean(std::string_view text) {
  std::string out;
  out.reserve(std::min(text.size(), kMaxReplyText));
  for (unsigned char c : text) {
    if (out.size() >= kMaxReplyText) break;
    out.push_back(c < 0x20 || c == 0x7f ? '?' : static_cast<char>(c));
  }
  return out;
}

std::string status_line(const char* status, std::string_view text) {
  std::string out = status;
  std::string t = clean(text);
  if (!t.empty()) {
    out += ' ';
    out += t;
  }
  out += "\r\n";
  return out;
}

}  // namespace

std::string ok(std::string_view text) { return status_line("+OK", text); }
std::string err(std::string_view text) { return status_line("-ERR", text); }

std::string err(Code code, std::string_view text) {
  const char* tag = "";
  switch (code) {
    case Code::None: break;
    case Code::InUse: tag = "[IN-USE] "; break;
    case Code::LoginDelay: tag = "[LOGIN-DELAY] "; break;
    case Code::SysTemp: tag = "[SYS/TEMP] "; break;
    case Code::SysPerm: tag = "[SYS/PERM] "; break;
    case Code::Auth: tag = "[AUTH] "; break;
  }
  return status_line("-ERR", std::string(tag) + std::string(text));
}

std::string continuation(std::string_view base64) {
  return "+ " + clean(base64) + "\r\n";
}

std::string multiline(std::string_view text, const std::vector<std::string>& lines) {
  std::string out = ok(text);
  for (const auto& l : lines) {
    std::string c = clean(l);
    if (!c.empty() && c[0] == '.') out += '.';
    out += c;
    out += "\r\n";
  }
  out += ".\r\n";
  return out;
}

std::vector<std::string> capa_lines(const Capabilities& c) {
  std::vector<std::string> v = {"TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE"};
  if (c.user) v.push_back("USER");
  if (c.sasl_plain) v.push_back("SASL PLAIN");
  if (c.stls) v.push_back("STLS");
  if (c.login_delay >= 0) v.push_back("LOGIN-DELAY " + std::to_string(c.login_delay));
  v.push_back("EXPIRE NEVER");
  if (!c.implementation.empty()) v.push_back("IMPLEMENTATION " + c.implementation);
  return v;
}

std::string encode_message(std::string_view raw, std::optional<uint64_t> top_lines) {
  std::string out;
  out.reserve(raw.size() + raw.size() / 32 + 8);
  bool in_body = false;
  uint64_t body_lines = 0;
  size_t pos = 0;
  while (pos < raw.size()) {
    if (in_body && top_lines && body_lines >= *top_lines) break;
    size_t lf = raw.find('\n', pos);
    size_t end = lf == std::string_view::npos ? raw.size() : lf;
    size_t next = lf == std::string_view::npos ? raw.size() : lf + 1;
    std::string_view line = raw.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty() && line[0] == '.') out += '.';
    out.append(line);
    out += "\r\n";
    if (in_body) {
      ++body_lines;
    } else if (line.empty()) {
      in_body = true;  // the blank line ending the header section
    }
    pos = next;
  }
  out += ".\r\n";
  return out;
}

bool valid_uidl(std::string_view s) {
  if (s.empty() || s.size() > 70) return false;
  for (unsigned char c : s)
    if (c < 0x21 || c > 0x7e) return false;
  return true;
}

}  // namespace postilion::pop3
