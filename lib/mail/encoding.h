// lib/mail/encoding.h - content decoders for MIME (RFC 2045 base64 and quoted-printable),
// RFC 2047 encoded-words in header text, RFC 2231 extended parameter values and charset
// conversion to UTF-8. Pure functions on bytes in memory: bad input gives a best-effort
// result (bytes kept or replaced by U+FFFD), never an exception.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace postilion::mail {

// Base64 body decoding as mail readers do it: characters outside the alphabet (line
// ends, spaces, junk) are skipped, decoding stops at the first '='; a trailing partial
// group yields the whole bytes it holds.
std::string decode_base64_lenient(std::string_view in);

// Quoted-printable (RFC 2045 6.7): "=XX" decoded (either case), soft line breaks "=\r\n"
// and "=\n" removed, trailing whitespace on a line dropped; a malformed '=' is kept.
std::string decode_quoted_printable(std::string_view in);

// Decodes a body by its Content-Transfer-Encoding (case-insensitive): base64 and
// quoted-printable; anything else (7bit, 8bit, binary, unknown) is returned as is.
std::string decode_transfer(std::string_view body, std::string_view encoding);

// True when a charset name is one this converter knows: utf-8, us-ascii, iso-8859-*,
// windows-125x and a few common CJK and Cyrillic ones (case-insensitive, aliases too).
bool known_charset(std::string_view charset);

// Converts text in charset to UTF-8. Invalid sequences become U+FFFD. An empty charset
// means us-ascii. Returns nullopt for a charset known_charset() refuses.
std::optional<std::string> to_utf8(std::string_view text, std::string_view charset);

// Replaces invalid UTF-8 sequences with U+FFFD.
std::string sanitize_utf8(std::string_view text);

// Decodes RFC 2047 encoded-words ("=?charset?B?...?=", "=?charset*lang?Q?...?=") in an
// unstructured header value to UTF-8; whitespace between adjacent encoded-words is
// dropped. A word in an unknown charset, or malformed, is left as written; raw 8-bit text
// outside encoded-words is taken as UTF-8 (invalid bytes replaced).
std::string decode_rfc2047(std::string_view value);

// Percent-decoding of an RFC 2231 extended value section ("%E2%82%AC"); a malformed
// escape is kept.
std::string percent_decode(std::string_view in);
// Percent-encoding for an RFC 2231 extended value: attribute-chars kept, others %XX.
std::string percent_encode(std::string_view in);

}  // namespace postilion::mail
