// lib/smtp/reply.h - SMTP replies: one builder for every reply smtpd sends.
// A reply is a code, an enhanced status code (RFC 2034/3463; empty only for the
// greeting and EHLO/HELO, which RFC 2034 exempts) and one or more lines of text.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace postilion::smtp {

// Longest reply text line we emit (RFC 5321 4.5.3.1.5: 512 octets with code and CRLF).
constexpr size_t kMaxReplyText = 480;

struct Reply {
  int code = 0;
  std::string status;             // "5.5.1"; "" = no enhanced code on this reply
  std::vector<std::string> lines;  // at least one for a non-empty reply

  bool empty() const { return code == 0; }
  bool positive() const { return code >= 200 && code < 400; }
  bool transient() const { return code >= 400 && code < 500; }
  bool permanent() const { return code >= 500; }
  // The first line's text, for logs.
  std::string text() const { return lines.empty() ? std::string() : lines.front(); }
  // "550 5.1.1 text" (first line only), for NOQUEUE log lines.
  std::string summary() const;
  // Wire form: "250-a\r\n250 b\r\n". Control characters in the text become '?', and
  // over-long lines are cut, so peer text echoed in a reply cannot inject lines.
  std::string wire() const;
};

// A one-line reply.
Reply reply(int code, std::string_view status, std::string_view text);
// A multi-line reply (the EHLO keyword list, HELP).
Reply reply_lines(int code, std::string_view status, std::vector<std::string> lines);

}  // namespace postilion::smtp
