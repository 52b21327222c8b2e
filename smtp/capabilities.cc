// smtp/capabilities.cc - EHLO keyword parsing.
#include "smtp/capabilities.h"

#include "lib/base/strings.h"

namespace postilion::smtp_client {

bool Capabilities::has_auth(const std::string& mech) const {
  for (const auto& m : auth)
    if (m == mech) return true;
  return false;
}

Capabilities parse_ehlo(const smtp::Reply& r) {
  Capabilities c;
  c.esmtp = true;
  for (size_t i = 1; i < r.lines.size(); ++i) {
    auto words = str::split(r.lines[i], " ");
    if (words.empty()) continue;
    std::string kw = str::upper(words[0]);
    if (kw == "PIPELINING") {
      c.pipelining = true;
    } else if (kw == "SIZE") {
      c.size = true;
      if (words.size() > 1)
        if (auto v = str::parse_uint(words[1])) c.size_limit = *v;
    } else if (kw == "8BITMIME") {
      c.eightbitmime = true;
    } else if (kw == "SMTPUTF8") {
      c.smtputf8 = true;
    } else if (kw == "STARTTLS") {
      c.starttls = true;
    } else if (kw == "DSN") {
      c.dsn = true;
    } else if (kw == "CHUNKING") {
      c.chunking = true;
    } else if (kw == "AUTH" || kw.rfind("AUTH=", 0) == 0) {
      // "AUTH PLAIN LOGIN" and the old "AUTH=PLAIN LOGIN" form.
      size_t first = 1;
      if (kw.size() > 5) {
        words[0] = kw.substr(5);
        first = 0;
      }
      for (size_t j = first; j < words.size(); ++j) {
        std::string m = str::upper(words[j]);
        if (!m.empty() && m.size() <= 20 && !c.has_auth(m)) c.auth.push_back(m);
      }
    }
  }
  return c;
}

}  // namespace postilion::smtp_client
