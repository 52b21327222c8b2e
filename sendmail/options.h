// sendmail/options.h - the sendmail(1) command line: the flags programs rely on, mode
// by program name (mailq = -bp, newaliases = -bi), parsed without side effects so the
// rules are tested on their own.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace postilion::sendmail {

enum class Mode { Deliver, Smtp, ListQueue, NewAliases, Flush };

struct Options {
  Mode mode = Mode::Deliver;
  bool extract_recipients = false;  // -t
  bool ignore_dots = false;         // -i, -oi: a lone "." does not end the message
  bool verbose = false;             // -v
  std::optional<std::string> sender;  // -f / -r
  std::string full_name;            // -F
  std::string body_type;            // -B 7BIT|8BITMIME
  std::string notify;               // -N (RFC 3461 NOTIFY, or "never"/"success,delay")
  std::string ret;                  // -R full|hdrs
  std::string envid;                // -V
  std::string config_dir;           // -C
  std::vector<std::string> recipients;
  std::vector<std::string> warnings;  // accepted but ignored options
};

struct ParseResult {
  std::optional<Options> options;
  std::string error;  // usage error text when options is empty (exit EX_USAGE)
};

// argv[0]'s basename selects the default mode.
ParseResult parse_options(const std::vector<std::string>& argv);

}  // namespace postilion::sendmail
