// postscreen/dummy_smtp.h - postscreen(8)'s own small SMTP engine for a client that
// failed a test under the "enforce" action: it talks SMTP so that the client (and its
// operator) see why, refuses every RCPT with the reason, and never takes a message.
// Bytes in, replies out; no I/O. Every line and count is bounded.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace postilion::postscreen {

inline constexpr size_t kMaxLine = 512;       // RFC 5321 4.5.3.1.4, with the CRLF
inline constexpr int kMaxCommands = 100;      // then 421
inline constexpr int kMaxErrors = 20;         // unknown commands and bad syntax, then 421

class DummySmtp {
 public:
  // reject: the whole reply to each RCPT ("550 5.7.1 Service unavailable; ...");
  // hostname: in the EHLO/HELO reply.
  DummySmtp(std::string reject, std::string hostname);

  struct Output {
    std::string replies;            // CRLF-terminated reply lines to send
    std::vector<std::string> logs;  // one per refused RCPT: "NOQUEUE: reject: RCPT ..." tail
    bool close = false;             // after sending replies, close the connection
  };
  // Takes more bytes from the client. Output.logs hold "REPLY; from=<..>, to=<..>,
  // proto=.., helo=<..>" (the caller puts "NOQUEUE: reject: RCPT from [addr]:port: "
  // in front). Once close is set, further input is ignored.
  Output feed(std::string_view bytes);

 private:
  void command(std::string_view line, Output* out);

  std::string reject_;
  std::string hostname_;
  std::string line_;
  bool overlong_ = false;
  bool closed_ = false;
  int commands_ = 0;
  int errors_ = 0;
  std::string helo_;
  std::string sender_;
  bool have_mail_ = false;
  bool esmtp_ = false;
};

}  // namespace postilion::postscreen
