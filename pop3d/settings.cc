// pop3d/settings.cc - pop3d(8) parameters from main.conf.
#include "pop3d/settings.h"

namespace postilion::pop3d {

Result<Settings> Settings::from_config(const config::Config& cfg) {
  Settings s;
  s.queue_directory = cfg.str("queue_directory");
  s.mail_owner = cfg.str("mail_owner");
  s.timeout_ms = cfg.seconds("pop3d_timeout") * 1000;
  s.wrappermode = cfg.boolean("pop3d_tls_wrappermode");
  s.cert_file = cfg.str("pop3d_tls_cert_file");
  s.key_file = cfg.str("pop3d_tls_key_file");
  if (s.key_file.empty()) s.key_file = s.cert_file;
  std::string p = cfg.str("pop3d_plaintext_auth");
  if (p == "no") s.plaintext = Plaintext::No;
  else if (p == "loopback") s.plaintext = Plaintext::Loopback;
  else if (p == "yes") s.plaintext = Plaintext::Yes;
  else return Error("pop3d_plaintext_auth: want no, loopback or yes, not \"" + p + "\"");
  int64_t ll = cfg.integer("pop3d_line_limit");
  if (ll < 64 || ll > 65536) return Error("pop3d_line_limit: want 64..65536");
  s.line_limit = static_cast<size_t>(ll);
  s.auth_timeout_ms = cfg.seconds("pop3d_auth_timeout") * 1000;
  s.auth_failure_limit = cfg.integer("pop3d_auth_failure_limit");
  s.error_limit = cfg.integer("pop3d_error_limit");
  s.client_limit = cfg.integer("pop3d_client_limit");
  s.message_size_limit = cfg.bytes("pop3d_message_size_limit");
  s.lock_session = cfg.boolean("pop3d_lock_session");
  int64_t cl = cfg.integer("pop3d_client_connection_count_limit");
  int64_t rl = cfg.integer("pop3d_client_connection_rate_limit");
  if (cl < 0 || cl > 1000000) return Error("pop3d_client_connection_count_limit: want 0..1000000");
  if (rl < 0 || rl > 1000000) return Error("pop3d_client_connection_rate_limit: want 0..1000000");
  s.connection_count_limit = static_cast<int>(cl);
  s.connection_rate_limit = static_cast<int>(rl);
  s.rate_time_unit_ms = cfg.seconds("anvil_rate_time_unit") * 1000;
  s.anvil_timeout_ms = cfg.seconds("anvil_timeout") * 1000;
  if (s.rate_time_unit_ms <= 0) return Error("anvil_rate_time_unit: must be positive");
  auto ex = parse_cidr_list(cfg.list("pop3d_client_connection_limit_exceptions"));
  if (!ex) return Error("pop3d_client_connection_limit_exceptions: bad network: " + ex.error());
  s.limit_exceptions = std::move(*ex);
  if (s.timeout_ms <= 0) return Error("pop3d_timeout: must be positive");
  if (s.wrappermode && s.cert_file.empty())
    return Error("pop3d_tls_wrappermode needs pop3d_tls_cert_file");
  return s;
}

bool is_loopback(const std::string& ip) {
  return ip.rfind("127.", 0) == 0 || ip == "::1" || ip.rfind("::ffff:127.", 0) == 0;
}

}  // namespace postilion::pop3d
