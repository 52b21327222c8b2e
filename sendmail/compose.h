// sendmail/compose.h - what sendmail(1) queues: the message read from standard input
// (a lone "." ends it unless -i), recipients from the command line and, with -t, from
// To:/Cc:/Bcc: (Bcc: removed), missing From:/Date:/Message-ID: added, a Received: line,
// CRLF line ends. Pure: user, host and time are passed in.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sendmail/options.h"

namespace postilion::sendmail {

struct Who {
  std::string login;      // the invoking user's name
  unsigned uid = 0;
  std::string myorigin;   // domain for unqualified addresses
  std::string myhostname;
  int64_t now = 0;
  std::string unique;     // for the Message-ID local part
};

struct Prepared {
  std::string sender;                  // envelope sender ("" = null sender)
  std::vector<std::string> recipients;
  std::string content;                 // the message, CRLF line ends
  std::string error;                   // non-empty: refuse (exit code below)
  int exit_code = 0;                   // sysexits.h
};

Prepared prepare(const Options& o, std::string_view input, const Who& who);

// An address with @myorigin added when it has no domain ("" stays "").
std::string qualify(const std::string& address, const std::string& myorigin);

}  // namespace postilion::sendmail
