// smtp/capabilities.h - what a server said it supports in its EHLO reply (RFC 5321
// 4.1.1.1 and the extension RFCs): PIPELINING, SIZE, 8BITMIME, SMTPUTF8, STARTTLS,
// AUTH mechanisms, DSN, CHUNKING.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lib/smtp/reply.h"

namespace postilion::smtp_client {

struct Capabilities {
  bool esmtp = false;  // the server answered EHLO (not only HELO)
  bool pipelining = false;
  bool size = false;
  uint64_t size_limit = 0;  // 0 = SIZE without a limit (or not announced)
  bool eightbitmime = false;
  bool smtputf8 = false;
  bool starttls = false;
  bool dsn = false;
  bool chunking = false;
  std::vector<std::string> auth;  // upper case: PLAIN, LOGIN, ...
  bool has_auth(const std::string& mech) const;
};

// Parses a 250 EHLO reply: the first line is the greeting, each further line a keyword
// with parameters. Unknown keywords and malformed parameters are ignored.
Capabilities parse_ehlo(const smtp::Reply& r);

}  // namespace postilion::smtp_client
