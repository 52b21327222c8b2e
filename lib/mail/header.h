// lib/mail/header.h - the header section of an RFC 5322 message: split into fields
// (folded lines kept as written), looked up by name, and the header/body boundary.
// Works on bytes in memory; tolerates LF or CRLF line ends and never throws.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postilion::mail {

constexpr size_t kMaxHeaderFields = 10000;

struct HeaderField {
  std::string name;   // as written, e.g. "Delivered-To"
  std::string raw;    // the whole field including folded lines and the line end(s)
  // The value unfolded: line breaks removed, leading whitespace trimmed.
  std::string value() const;
};

struct Headers {
  std::vector<HeaderField> fields;
  size_t body_offset = 0;  // where the body starts in the message (after the blank line)
  bool complete = false;   // a blank line ended the header section

  // First / all values of a field (case-insensitive name).
  std::optional<std::string> get(std::string_view name) const;
  std::vector<std::string> get_all(std::string_view name) const;
  bool has(std::string_view name) const { return get(name).has_value(); }
};

// Parses the header section at the start of message. A line that is neither a field
// nor a continuation ends the headers (it belongs to the body, as in Postfix).
Headers parse_headers(std::string_view message);

// The message without the fields named (case-insensitive), e.g. Bcc for sendmail -t.
std::string remove_fields(std::string_view message, const std::vector<std::string>& names);

// Folds a header value to lines of at most ~78 characters at whitespace.
std::string fold(std::string_view name, std::string_view value);

// Converts bare LF line ends to CRLF (for SMTP/DSN text); CRLF is kept as is.
std::string to_crlf(std::string_view text);
// Converts CRLF to LF (mailbox files are written with LF ends).
std::string to_lf(std::string_view text);

}  // namespace postilion::mail
