// lib/pop3/reply.h - POP3 replies: one builder for every line pop3d sends, and the
// multi-line encoding of messages (CRLF line ends, dot-stuffing, TOP).
// Text that may hold peer data is cleaned: control characters become '?' and it is
// cut to kMaxReplyText, so nothing a client sent can inject a reply line.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postilion::pop3 {

// RFC 2449 section 4: a response line is at most 512 octets with its CRLF.
constexpr size_t kMaxReplyText = 500;

// "+OK text\r\n" (text may be empty: "+OK\r\n").
std::string ok(std::string_view text);
// "-ERR text\r\n".
std::string err(std::string_view text);
// RFC 2449 / RFC 3206 extended response codes: "-ERR [IN-USE] text\r\n".
enum class Code { None, InUse, LoginDelay, SysTemp, SysPerm, Auth };
std::string err(Code code, std::string_view text);
// RFC 5034 continuation: "+ base64\r\n" ("+ \r\n" for an empty challenge).
std::string continuation(std::string_view base64);

// A multi-line reply: "+OK text", each line dot-stuffed, then ".".
std::string multiline(std::string_view text, const std::vector<std::string>& lines);

// The CAPA list pop3d offers, from what this session allows.
struct Capabilities {
  bool stls = false;        // STLS (only before TLS and before login)
  bool sasl_plain = false;  // SASL PLAIN (when plaintext login is allowed now)
  bool user = false;        // USER/PASS (same condition)
  int login_delay = -1;     // LOGIN-DELAY seconds, < 0 = not announced
  std::string implementation;
};
std::vector<std::string> capa_lines(const Capabilities& c);

// A stored message as sent by RETR/TOP: LF or CRLF line ends become CRLF, a line
// starting with '.' gets another '.', a missing final line end is added, and the
// terminating ".\r\n" is appended. top_lines: headers, the blank line, then at most
// that many body lines (RFC 1939 TOP); nullopt: the whole message.
std::string encode_message(std::string_view raw, std::optional<uint64_t> top_lines = std::nullopt);

// A UIDL value must be 1..70 characters 0x21..0x7E (RFC 1939 section 7).
bool valid_uidl(std::string_view s);

}  // namespace postilion::pop3
