// imapd/settings.cc - imapd(8) parameters from main.conf.
#include "imapd/settings.h"

namespace postilion::imapd {

Result<Settings> Settings::from_config(const config::Config& cfg) {
  Settings s;
  s.queue_directory = cfg.str("queue_directory");
  s.mail_owner = cfg.str("mail_owner");
  s.timeout_ms = cfg.seconds("imapd_timeout") * 1000;
  s.wrappermode = cfg.boolean("imapd_tls_wrappermode");
  s.cert_file = cfg.str("imapd_tls_cert_file");
  s.key_file = cfg.str("imapd_tls_key_file");
  if (s.key_file.empty()) s.key_file = s.cert_file;
  std::string p = cfg.str("imapd_plaintext_auth");
  if (p == "no") s.plaintext = Plaintext::No;
  else if (p == "loopback") s.plaintext = Plaintext::Loopback;
  else if (p == "yes") s.plaintext = Plaintext::Yes;
  else return Error("imapd_plaintext_auth: want no, loopback or yes, not \"" + p + "\"");
  int64_t ll = cfg.integer("imapd_line_limit");
  if (ll < 1000 || ll > 16777216) return Error("imapd_line_limit: want 1000..16777216");
  s.line_limit = static_cast<size_t>(ll);
  int64_t lit = cfg.integer("imapd_literal_limit");
  if (lit < 1000 || lit > 16777216) return Error("imapd_literal_limit: want 1000..16777216");
  s.literal_limit = static_cast<size_t>(lit);
  s.append_limit = cfg.bytes("imapd_appendlimit");
  if (s.append_limit < 1024 || s.append_limit > (uint64_t{1} << 31))
    return Error("imapd_appendlimit: want 1k..2g");
  s.auth_timeout_ms = cfg.seconds("imapd_auth_timeout") * 1000;
  s.auth_failure_limit = cfg.integer("imapd_auth_failure_limit");
  s.error_limit = cfg.integer("imapd_error_limit");
  s.client_limit = cfg.integer("imapd_client_limit");
  int64_t cl = cfg.integer("imapd_client_connection_count_limit");
  int64_t rl = cfg.integer("imapd_client_connection_rate_limit");
  if (cl < 0 || cl > 1000000) return Error("imapd_client_connection_count_limit: want 0..1000000");
  if (rl < 0 || rl > 1000000) return Error("imapd_client_connection_rate_limit: want 0..1000000");
  s.connection_count_limit = static_cast<int>(cl);
  s.connection_rate_limit = static_cast<int>(rl);
  s.rate_time_unit_ms = cfg.seconds("anvil_rate_time_unit") * 1000;
  s.anvil_timeout_ms = cfg.seconds("anvil_timeout") * 1000;
  if (s.rate_time_unit_ms <= 0) return Error("anvil_rate_time_unit: must be positive");
  auto ex = parse_cidr_list(cfg.list("imapd_client_connection_limit_exceptions"));
  if (!ex) return Error("imapd_client_connection_limit_exceptions: bad network: " + ex.error());
  s.limit_exceptions = std::move(*ex);
  if (s.timeout_ms <= 0) return Error("imapd_timeout: must be positive");
  if (s.wrappermode && s.cert_file.empty())
    return Error("imapd_tls_wrappermode needs imapd_tls_cert_file");
  return s;
}

bool is_loopback(const std::string& ip) {
  return ip.rfind("127.", 0) == 0 || ip == "::1" || ip.rfind("::ffff:127.", 0) == 0;
}

}  // namespace postilion::imapd
