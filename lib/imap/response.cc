// lib/imap/response.cc - response strings.
#include "lib/imap/response.h"

#include "lib/base/strings.h"
#include "lib/imap/mailbox_name.h"

namespace postilion::imap {
namespace {

bool atom_char(unsigned char c) {
  return c > 32 && c < 127 && std::string_view("(){%*\"\\]").find(char(c)) == std::string_view::npos;
}

bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = s[i];
    size_t n = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += n;
  }
  return true;
}

}  // namespace

bool quotable(std::string_view s, bool utf8_ok) {
  if (s.size() > kMaxQuoted) return false;
  bool eight = false;
  for (unsigned char c : s) {
    if (c == 0 || c == '\r' || c == '\n') return false;
    if (c >= 0x80) eight = true;
  }
  return !eight || (utf8_ok && valid_utf8(s));
}

std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

void append_literal(std::string& out, std::string_view s, bool binary) {
  if (binary) out += '~';
  out += '{';
  out += std::to_string(s.size());
  out += "}\r\n";
  out.append(s);
}

void append_string(std::string& out, std::string_view s, bool utf8_ok) {
  if (quotable(s, utf8_ok)) out += quoted(s);
  else append_literal(out, s);
}

void append_astring(std::string& out, std::string_view s, bool utf8_ok) {
  bool atom = !s.empty() && !str::iequals(s, "NIL") && s.size() <= kMaxQuoted;
  for (unsigned char c : s) atom = atom && atom_char(c);
  if (atom) out.append(s);
  else append_string(out, s, utf8_ok);
}

void append_nstring(std::string& out, std::optional<std::string_view> s, bool utf8_ok) {
  if (!s) out += "NIL";
  else append_string(out, *s, utf8_ok);
}

void append_mailbox(std::string& out, std::string_view name, bool utf8_accept) {
  if (name == "INBOX") {
    out += "INBOX";
    return;
  }
  // Mailbox names are always quoted, as most servers send them: clients split LIST
  // lines more reliably on quotes, and names with spaces or wildcards need them anyway.
  std::string wire = utf8_accept ? std::string(name) : mutf7_encode(name);
  append_string(out, wire, utf8_accept);
}

FetchResponse::FetchResponse(uint32_t seq) { out_ = "* " + std::to_string(seq) + " FETCH ("; }

FetchResponse& FetchResponse::add(std::string_view name, std::string_view value) {
  begin_item(name).append(value);
  return *this;
}

std::string& FetchResponse::begin_item(std::string_view name) {
  if (items_++ > 0) out_ += ' ';
  out_.append(name);
  out_ += ' ';
  return out_;
}

std::string FetchResponse::finish() {
  out_ += ")\r\n";
  return std::move(out_);
}

std::string tagged(std::string_view tag, std::string_view status, std::string_view code,
                   std::string_view text) {
  std::string out(tag);
  out += ' ';
  out.append(status);
  if (!code.empty()) {
    out += " [";
    out.append(code);
    out += ']';
  }
  out += ' ';
  out.append(text);
  out += "\r\n";
  return out;
}

std::string untagged(std::string_view status, std::string_view code, std::string_view text) {
  return tagged("*", status, code, text);
}

}  // namespace postilion::imap
