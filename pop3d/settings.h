// pop3d/settings.h - the parameters pop3d(8) uses, read once at start.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lib/base/cidr.h"
#include "lib/base/result.h"
#include "lib/config/config.h"

namespace postilion::pop3d {

enum class Plaintext { No, Loopback, Yes };

struct Settings {
  std::string queue_directory;
  std::string mail_owner;
  int64_t timeout_ms = 600000;
  bool wrappermode = false;
  std::string cert_file, key_file;
  Plaintext plaintext = Plaintext::Loopback;
  size_t line_limit = 255;
  int64_t auth_timeout_ms = 30000;
  int64_t auth_failure_limit = 3;
  int64_t error_limit = 20;
  int64_t client_limit = 100;
  uint64_t message_size_limit = 256u << 20;
  // One POP3 session per mailbox at a time (a second gets -ERR [IN-USE]).
  bool lock_session = false;
  // Per client IP and master.conf service, over all pop3d processes (anvil(8)).
  int connection_count_limit = 10;  // 0: none
  int connection_rate_limit = 0;    // per rate_time_unit_ms; 0: none
  int64_t rate_time_unit_ms = 60000;
  int64_t anvil_timeout_ms = 1000;
  std::vector<Cidr> limit_exceptions;  // clients the two limits do not apply to

  // A bad value is an Error naming the parameter.
  static Result<Settings> from_config(const config::Config& cfg);
};

// True for 127.0.0.0/8 and ::1 (and ::ffff:127.x.y.z).
bool is_loopback(const std::string& ip);

}  // namespace postilion::pop3d
