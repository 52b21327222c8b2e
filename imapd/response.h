// imapd/response.h - building IMAP responses (RFC 3501 section 7): tagged status
// lines, strings in their shortest safe form, internal dates. No I/O.
#pragma once

#include <ctime>
#include <string>
#include <string_view>

namespace postilion::imapd {

// "TAG KIND text\r\n"; the text loses any CR or LF.
std::string tagged(std::string_view tag, std::string_view kind, std::string_view text);
// A string as an atom or a quoted string when it can be one, else as a literal.
std::string astring(std::string_view s);
// Always a literal: {n}CRLF followed by the bytes.
std::string literal(std::string_view s);
// NIL for an empty optional-like value, else astring().
std::string nstring(std::string_view s);
// date-time: "07-Dec-2026 06:17:18 +0000".
std::string date_time(time_t t);
// Parses a date-time ("dd-Mon-yyyy hh:mm:ss +zzzz", day may be " d"); -1 when bad.
time_t parse_date_time(std::string_view s);
// Parses a date ("d-Mon-yyyy"); the midnight UTC that begins it, -1 when bad.
time_t parse_date(std::string_view s);

}  // namespace postilion::imapd
