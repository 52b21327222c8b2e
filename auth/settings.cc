// auth/settings.cc - auth(8) parameters from main.conf.
#include "auth/settings.h"

#include <algorithm>

#include "lib/base/strings.h"

namespace postilion::auth {

Result<Settings> Settings::from_config(const config::Config& cfg) {
  Settings s;
  s.queue_directory = cfg.str("queue_directory");
  s.backends = cfg.list("auth_backends");
  for (const auto& b : s.backends)
    if (b != "system" && b != "virtual")
      return Error("auth_backends: unknown backend \"" + b + "\" (system, virtual)");
  s.virtual_users = str::join(cfg.list("auth_virtual_users"), ", ");
  bool wants_virtual = false;
  for (const auto& b : s.backends) wants_virtual |= b == "virtual";
  if (wants_virtual && s.virtual_users.empty())
    return Error("auth_backends names virtual, but auth_virtual_users is empty");
  s.home_mailbox = cfg.str("home_mailbox");
  s.system_min_uid = cfg.integer("auth_system_min_uid");
  s.failure_delay_ms = cfg.seconds("auth_failure_delay") * 1000;
  s.failure_max_delay_ms = cfg.seconds("auth_failure_max_delay") * 1000;
  s.failure_limit = cfg.integer("auth_failure_limit");
  s.failure_window_ms = cfg.seconds("auth_failure_window") * 1000;
  s.verify_threads = static_cast<int>(std::clamp<int64_t>(cfg.integer("auth_verify_threads"), 0, 64));
  if (s.failure_limit < 1) return Error("auth_failure_limit: must be at least 1");
  return s;
}

}  // namespace postilion::auth
