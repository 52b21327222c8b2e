// sendmail/compose.cc - building the message sendmail queues.
#include "sendmail/compose.h"

#include <sysexits.h>

#include "lib/base/strings.h"
#include "lib/mail/address.h"
#include "lib/mail/dsn.h"
#include "lib/mail/header.h"

namespace postilion::sendmail {

std::string qualify(const std::string& address, const std::string& myorigin) {
  if (address.empty()) return address;
  auto a = mail::parse_address(address);
  if (!a) return address;
  if (a->domain.empty()) a->domain = str::lower(myorigin);
  return a->str();
}

Prepared prepare(const Options& o, std::string_view input, const Who& who) {
  Prepared p;
  auto fail = [&](int code, std::string why) {
    p.error = std::move(why);
    p.exit_code = code;
    return p;
  };
  // The message: up to EOF, or up to a line with a single "." (sendmail without -i).
  std::string text = mail::to_lf(input);
  if (!o.ignore_dots) {
    if (text.starts_with(".\n") || text == ".") text.clear();
    else if (size_t dot = text.find("\n.\n"); dot != std::string::npos) text.resize(dot + 1);
    else if (text.ends_with("\n.")) text.resize(text.size() - 1);
  }
  if (!text.empty() && text.back() != '\n') text += '\n';
  mail::Headers h = mail::parse_headers(text);
  // No header section at all (text starts with a body line): add the blank line.
  if (h.fields.empty() && !h.complete) text = "\n" + text, h = mail::parse_headers(text);

  std::string sender = o.sender ? *o.sender : who.login;
  if (sender.find_first_of("\r\n") != std::string::npos || !mail::parse_address(sender))
    return fail(EX_DATAERR, "bad sender address: " + str::printable(sender, 100));
  p.sender = qualify(sender, who.myorigin);

  std::vector<std::string> rcpts = o.recipients;
  if (o.extract_recipients) {
    for (const char* f : {"To", "Cc", "Bcc"})
      for (const auto& v : h.get_all(f))
        for (const auto& a : mail::parse_address_list(v)) rcpts.push_back(a);
  }
  for (const auto& r : rcpts) {
    auto a = mail::parse_address(r);
    if (!a || a->local.empty()) return fail(EX_DATAERR, "bad recipient address: " + str::printable(r, 100));
    std::string q = qualify(r, who.myorigin);
    bool dup = false;
    for (const auto& x : p.recipients) dup = dup || str::iequals(x, q);
    if (!dup) p.recipients.push_back(q);
  }
  if (p.recipients.empty()) return fail(EX_NOUSER, "no recipient addresses found in message header");

  std::string added;
  added += "Received: by " + who.myhostname + " (Postilion, from userid " + std::to_string(who.uid) + ");\n\t" +
           mail::rfc5322_date(who.now) + "\n";
  if (!h.has("From")) {
    std::string from = p.sender.empty() ? "MAILER-DAEMON" : p.sender;
    std::string name;
    for (char c : o.full_name)
      if (c != '"' && c != '\\' && c != '\r' && c != '\n') name += c;
    added += name.empty() ? "From: " + from + "\n" : "From: \"" + name + "\" <" + from + ">\n";
  }
  if (!h.has("Date")) added += "Date: " + mail::rfc5322_date(who.now) + "\n";
  if (!h.has("Message-ID")) added += "Message-ID: <" + who.unique + "@" + who.myhostname + ">\n";
  std::string body = o.extract_recipients ? mail::remove_fields(text, {"Bcc"}) : text;
  p.content = mail::to_crlf(added + body);
  return p;
}

}  // namespace postilion::sendmail
