// imapd/settings.cc - imapd(8) parameters from main.conf.
#include "imapd/settings.h"

namespace postilion::imapd {

Result<Settings> Settings::from_config(const config::Config& cfg) {
  auto listener = service::MailListener::from_config(cfg, "imapd_");
  if (!listener) return listener.error();
  Settings s;
  static_cast<service::MailListener&>(s) = std::move(*listener);
  int64_t ll = cfg.integer("imapd_line_limit");
  if (ll < 1000 || ll > 16777216) return Error("imapd_line_limit: want 1000..16777216");
  s.line_limit = static_cast<size_t>(ll);
  int64_t lit = cfg.integer("imapd_literal_limit");
  if (lit < 1000 || lit > 16777216) return Error("imapd_literal_limit: want 1000..16777216");
  s.literal_limit = static_cast<size_t>(lit);
  s.append_limit = cfg.bytes("imapd_appendlimit");
  if (s.append_limit < 1024 || s.append_limit > (uint64_t{1} << 31))
    return Error("imapd_appendlimit: want 1k..2g");
  return s;
}

}  // namespace postilion::imapd
