// lib/imap/response.h - the IMAP response writer: strings in the form their content
// allows (atom, quoted or literal), nstring, mailbox names, and "* n FETCH (...)".
//
// Contract: pure string building, no I/O; whatever bytes a value holds, the output is
// valid IMAP (CR, LF, NUL, 8-bit and over-long values go out as literals). Literal8
// (RFC 3516) is used only where the caller asks for it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace postilion::imap {

constexpr size_t kMaxQuoted = 1024;  // longer strings are sent as literals

// Appends s as a quoted string when it can be one, else as a literal.
void append_string(std::string& out, std::string_view s, bool utf8_ok = false);
// As append_string, but an atom when s is a plain atom (not "NIL").
void append_astring(std::string& out, std::string_view s, bool utf8_ok = false);
// NIL for nullopt.
void append_nstring(std::string& out, std::optional<std::string_view> s, bool utf8_ok = false);
// Always a literal ("{n}\r\n" + bytes), or literal8 ("~{n}\r\n") when binary.
void append_literal(std::string& out, std::string_view s, bool binary = false);
// A UTF-8 mailbox name for LIST, STATUS...: modified UTF-7 unless utf8_accept, quoted
// when needed ("INBOX" stays an atom).
void append_mailbox(std::string& out, std::string_view utf8_name, bool utf8_accept = false);

std::string quoted(std::string_view s);  // "..." with \" and \\ escaped; s must be quotable
bool quotable(std::string_view s, bool utf8_ok = false);

// Builds "* 12 FETCH (UID 7 FLAGS (\Seen) BODY[] {5}\r\nhello)\r\n" item by item.
class FetchResponse {
 public:
  explicit FetchResponse(uint32_t seq);
  // Adds "NAME value"; value is written as given (already IMAP syntax).
  FetchResponse& add(std::string_view name, std::string_view value);
  // Adds "NAME " and leaves room for the caller to append the value to out().
  std::string& begin_item(std::string_view name);
  std::string finish();  // the whole response line(s)
  bool empty() const { return items_ == 0; }

 private:
  std::string out_;
  size_t items_ = 0;
};

// "a1 OK [CODE] text\r\n"; code without brackets, empty for none.
std::string tagged(std::string_view tag, std::string_view status, std::string_view code,
                   std::string_view text);
// "* OK [CODE] text\r\n" and other untagged status lines.
std::string untagged(std::string_view status, std::string_view code, std::string_view text);

}  // namespace postilion::imap
