// sendmail/smtp_mode.cc - the `sendmail -bs` SMTP dialogue.
#include "sendmail/smtp_mode.h"

#include "lib/base/strings.h"
#include "lib/mail/address.h"

namespace postilion::sendmail {
namespace {

constexpr size_t kMaxLine = 2048;
constexpr size_t kMaxRecipients = 1000;

bool getline_crlf(std::istream& in, std::string* line) {
  line->clear();
  char c;
  while (in.get(c)) {
    if (c == '\n') {
      if (!line->empty() && line->back() == '\r') line->pop_back();
      return true;
    }
    if (line->size() < kMaxLine + 1) *line += c;
  }
  return !line->empty();
}

// "FROM:<a@b> SIZE=10" -> "a@b"; nullopt when malformed.
std::optional<std::string> path_arg(std::string_view arg, std::string_view keyword) {
  if (!str::istarts_with(arg, keyword)) return std::nullopt;
  arg.remove_prefix(keyword.size());
  arg = str::trim(arg);
  size_t end = arg.find('>');
  if (end == std::string_view::npos) return std::nullopt;
  return mail::parse_path(arg.substr(0, end + 1));
}

}  // namespace

int smtp_session(std::istream& in, std::ostream& out, const std::string& host, const Submit& submit,
                 size_t max_message) {
  auto reply = [&](const std::string& r) { out << r << "\r\n" << std::flush; };
  reply("220 " + host + " ESMTP Postilion");
  std::optional<std::string> sender;
  std::vector<std::string> rcpts;
  std::string line;
  while (getline_crlf(in, &line)) {
    if (line.size() > kMaxLine) {
      reply("500 5.5.0 Error: line too long");
      continue;
    }
    std::string verb = str::upper(line.substr(0, line.find(' ')));
    std::string arg = line.find(' ') == std::string::npos ? "" : line.substr(line.find(' ') + 1);
    if (verb == "HELO" || verb == "EHLO") {
      sender.reset();
      rcpts.clear();
      reply(verb == "EHLO" ? "250-" + host + "\r\n250-8BITMIME\r\n250 PIPELINING" : "250 " + host);
    } else if (verb == "MAIL") {
      auto p = path_arg(arg, "FROM:");
      if (sender) reply("503 5.5.1 Error: nested MAIL command");
      else if (!p) reply("501 5.1.7 Bad sender address syntax");
      else sender = *p, reply("250 2.1.0 Ok");
    } else if (verb == "RCPT") {
      auto p = path_arg(arg, "TO:");
      if (!sender) reply("503 5.5.1 Error: need MAIL command");
      else if (!p || p->empty()) reply("501 5.1.3 Bad recipient address syntax");
      else if (rcpts.size() >= kMaxRecipients) reply("452 4.5.3 Error: too many recipients");
      else rcpts.push_back(*p), reply("250 2.1.5 Ok");
    } else if (verb == "DATA") {
      if (!sender || rcpts.empty()) {
        reply(sender ? "554 5.5.1 Error: no valid recipients" : "503 5.5.1 Error: need RCPT command");
        continue;
      }
      reply("354 End data with <CR><LF>.<CR><LF>");
      std::string content;
      bool too_big = false, ended = false;
      while (getline_crlf(in, &line)) {
        if (line == ".") {
          ended = true;
          break;
        }
        if (line.starts_with(".")) line.erase(0, 1);
        if (content.size() + line.size() + 2 > max_message) too_big = true;
        if (!too_big) content += line + "\r\n";
      }
      if (!ended) return 0;  // input ended inside DATA: nothing is queued
      std::string id;
      if (too_big) reply("552 5.3.4 Error: message file too big");
      else if (std::string why = submit(*sender, rcpts, content, &id); !why.empty())
        reply("451 4.3.0 Error: queue file write error: " + str::printable(why, 100));
      else reply("250 2.0.0 Ok: queued as " + id);
      sender.reset();
      rcpts.clear();
    } else if (verb == "RSET") {
      sender.reset();
      rcpts.clear();
      reply("250 2.0.0 Ok");
    } else if (verb == "NOOP") {
      reply("250 2.0.0 Ok");
    } else if (verb == "QUIT") {
      reply("221 2.0.0 Bye");
      return 0;
    } else {
      reply("502 5.5.2 Error: command not recognized");
    }
  }
  return 0;
}

}  // namespace postilion::sendmail
