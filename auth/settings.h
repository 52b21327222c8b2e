// auth/settings.h - the parameters auth(8) uses, read once at start.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lib/base/result.h"
#include "lib/config/config.h"

namespace postilion::auth {

struct Settings {
  std::string queue_directory;
  std::vector<std::string> backends = {"system"};  // "system", "virtual", in order
  std::string virtual_users;                       // map specs, comma-separated
  std::string home_mailbox = "Maildir/";           // system users: maildir below home
  int64_t system_min_uid = 1000;
  int64_t failure_delay_ms = 2000;
  int64_t failure_max_delay_ms = 10000;
  int64_t failure_limit = 10;
  int64_t failure_window_ms = 600000;
  int verify_threads = 0;  // password-check threads; 0 = one per CPU (at most 8)

  // An unknown backend or a bad value is an Error naming the parameter.
  static Result<Settings> from_config(const config::Config& cfg);
};

}  // namespace postilion::auth
