// postscreen/dummy_smtp.cc - the enforce action's SMTP engine (see dummy_smtp.h).
#include "postscreen/dummy_smtp.h"

#include "lib/base/strings.h"

namespace postilion::postscreen {
namespace {

// The address in "FROM:<a@b> SIZE=10" (without the brackets), printable and bounded.
std::string path_of(std::string_view arg) {
  auto lt = arg.find('<');
  auto gt = arg.find('>', lt == std::string_view::npos ? 0 : lt);
  if (lt == std::string_view::npos || gt == std::string_view::npos) return str::printable(str::trim(arg), 256);
  return str::printable(arg.substr(lt + 1, gt - lt - 1), 256);
}

bool starts_with_word(std::string_view line, std::string_view word) {
  if (line.size() < word.size() || !str::iequals(line.substr(0, word.size()), word)) return false;
  return line.size() == word.size() || line[word.size()] == ' ' || line[word.size()] == ':';
}

}  // namespace

DummySmtp::DummySmtp(std::string reject, std::string hostname)
    : reject_(std::move(reject)), hostname_(std::move(hostname)) {}

DummySmtp::Output DummySmtp::feed(std::string_view bytes) {
  Output out;
  for (char c : bytes) {
    if (closed_) break;
    if (c != '\n') {
      if (line_.size() < kMaxLine) {
        line_ += c;
      } else {
        overlong_ = true;  // the rest of this line is dropped
      }
      continue;
    }
    std::string line = std::move(line_);
    line_.clear();
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (overlong_) {
      overlong_ = false;
      out.replies += "500 5.5.2 Error: line too long\r\n";
      if (++errors_ >= kMaxErrors) {
        out.replies += "421 4.7.0 " + hostname_ + " Error: too many errors\r\n";
        closed_ = out.close = true;
      }
      continue;
    }
    command(line, &out);
  }
  return out;
}

void DummySmtp::command(std::string_view line, Output* out) {
  auto reply = [&](const std::string& r) { out->replies += r + "\r\n"; };
  auto error = [&](const std::string& r) {
    reply(r);
    if (++errors_ >= kMaxErrors) {
      reply("421 4.7.0 " + hostname_ + " Error: too many errors");
      closed_ = out->close = true;
    }
  };
  if (++commands_ > kMaxCommands) {
    reply("421 4.7.0 " + hostname_ + " Error: too many commands");
    closed_ = out->close = true;
    return;
  }
  std::string_view arg;
  if (auto sp = line.find_first_of(" :"); sp != std::string_view::npos) arg = str::trim(line.substr(sp + 1));
  if (starts_with_word(line, "EHLO") || starts_with_word(line, "HELO")) {
    if (arg.empty()) return error("501 5.5.4 Syntax: " + std::string(line.substr(0, 4)) + " hostname");
    helo_ = str::printable(arg, 256);
    esmtp_ = str::iequals(line.substr(0, 4), "EHLO");
    have_mail_ = false;
    if (esmtp_) return reply("250-" + hostname_ + "\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n250 8BITMIME");
    return reply("250 " + hostname_);
  }
  if (starts_with_word(line, "MAIL")) {
    if (have_mail_) return error("503 5.5.1 Error: nested MAIL command");
    if (!str::iequals(line.substr(0, std::min<size_t>(line.size(), 10)), "MAIL FROM:"))
      return error("501 5.5.4 Syntax: MAIL FROM:<address>");
    sender_ = path_of(line.substr(10));
    have_mail_ = true;
    return reply("250 2.1.0 Ok");
  }
  if (starts_with_word(line, "RCPT")) {
    if (!have_mail_) return error("503 5.5.1 Error: need MAIL command");
    if (!str::iequals(line.substr(0, std::min<size_t>(line.size(), 8)), "RCPT TO:"))
      return error("501 5.5.4 Syntax: RCPT TO:<address>");
    out->logs.push_back(reject_ + "; from=<" + sender_ + ">, to=<" + path_of(line.substr(8)) + ">, proto=" +
                        (esmtp_ ? "ESMTP" : "SMTP") + ", helo=<" + helo_ + ">");
    return reply(reject_);
  }
  if (starts_with_word(line, "DATA") || starts_with_word(line, "BDAT")) {
    if (!have_mail_) return error("503 5.5.1 Error: need RCPT command");
    return error("554 5.5.1 Error: no valid recipients");
  }
  if (starts_with_word(line, "RSET")) {
    have_mail_ = false;
    return reply("250 2.0.0 Ok");
  }
  if (starts_with_word(line, "NOOP")) return reply("250 2.0.0 Ok");
  if (starts_with_word(line, "QUIT")) {
    reply("221 2.0.0 Bye");
    closed_ = out->close = true;
    return;
  }
  error("502 5.5.2 Error: command not recognized");
}

}  // namespace postilion::postscreen
