// pop3d/settings.cc - pop3d(8) parameters from main.conf.
#include "pop3d/settings.h"

namespace postilion::pop3d {

Result<Settings> Settings::from_config(const config::Config& cfg) {
  auto listener = service::MailListener::from_config(cfg, "pop3d_");
  if (!listener) return listener.error();
  Settings s;
  static_cast<service::MailListener&>(s) = std::move(*listener);
  int64_t ll = cfg.integer("pop3d_line_limit");
  if (ll < 64 || ll > 65536) return Error("pop3d_line_limit: want 64..65536");
  s.line_limit = static_cast<size_t>(ll);
  s.message_size_limit = cfg.bytes("pop3d_message_size_limit");
  s.lock_session = cfg.boolean("pop3d_lock_session");
  return s;
}

}  // namespace postilion::pop3d
