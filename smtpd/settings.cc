// smtpd/settings.cc - smtpd's view of main.conf.
#include "smtpd/settings.h"

#include <cctype>

#include "lib/base/strings.h"
#include "lib/config/config.h"
#include "lib/log/log.h"

namespace postilion::smtpd {
namespace {

bool known(const char* name) { return config::find_param(name) != nullptr; }

void get(const config::Config& c, const char* n, std::string* out) {
  if (known(n)) *out = c.str(n);
}
void get(const config::Config& c, const char* n, std::vector<std::string>* out) {
  if (known(n)) *out = c.list(n);
}
void get(const config::Config& c, const char* n, bool* out) {
  if (known(n)) *out = c.boolean(n);
}
// Config loading refused every list parse_restriction_list() does not accept.
void get(const config::Config& c, const char* n, std::vector<config::RestrictionStep>* out) {
  if (!known(n)) return;
  auto steps = config::parse_restriction_list(c.str(n));
  if (!steps) PANIC("%s: %s after config loading accepted it", n, steps.error().c_str());
  *out = std::move(*steps);
}
void get_int(const config::Config& c, const char* n, int* out) {
  if (known(n)) *out = static_cast<int>(c.integer(n));
}
void get_time(const config::Config& c, const char* n, int64_t* out) {
  if (known(n)) *out = c.seconds(n);
}

// content_filter and receive_override_options, as Postfix's cleanup takes them: what
// the after-queue filter's re-injection listener (-o content_filter= -o
// receive_override_options=no_milters,...) leaves out.
Status apply_receive_overrides(const config::Config& c, Settings& s) {
  get(c, "content_filter", &s.content_filter);
  s.content_filter = std::string(str::trim(s.content_filter));
  if (!s.content_filter.empty()) {
    size_t colon = s.content_filter.find(':');
    std::string_view name = std::string_view(s.content_filter).substr(0, colon);
    bool ok = colon != std::string::npos && colon > 0;
    for (char ch : name) ok = ok && (std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_');
    for (unsigned char ch : s.content_filter) ok = ok && ch >= 0x20 && ch != 0x7f;
    if (!ok)
      return Error("content_filter: \"" + str::printable(s.content_filter, 100) + "\" is not transport:nexthop").set_permanent();
  }
  std::vector<std::string> overrides;
  get(c, "receive_override_options", &overrides);
  for (const auto& o : overrides) {
    if (o == "no_milters") {
      s.milters.clear();
      s.milter_maps.clear();
    } else if (o == "no_header_body_checks") {
      s.header_checks.clear();
      s.mime_header_checks.clear();
      s.nested_header_checks.clear();
      s.body_checks.clear();
    } else if (o == "no_unknown_recipient_checks") {
      s.local_recipient_check = false;
    } else if (o == "no_address_mappings") {
      // Virtual alias mapping is qmgr's, after the filter: nothing to leave out here.
    } else {
      // As Postfix: an unknown name is ignored with a warning.
      log::warn("receive_override_options: ignoring unknown value \"%s\"", str::printable(o, 60).c_str());
    }
  }
  return {};
}

}  // namespace

std::vector<config::RestrictionStep> default_relay_restrictions() {
  auto steps = config::parse_restriction_list("permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination");
  if (!steps) PANIC("default smtpd_relay_restrictions: %s", steps.error().c_str());
  return std::move(*steps);
}

Result<Settings> Settings::from_config(const config::Config& c) {
  Settings s;
  get(c, "myhostname", &s.myhostname);
  get(c, "smtpd_banner", &s.banner);
  get(c, "queue_directory", &s.queue_directory);
  get(c, "mydestination", &s.mydestination);
  get(c, "relay_domains", &s.relay_domains);
  get(c, "virtual_alias_domains", &s.virtual_alias_domains);
  get(c, "virtual_mailbox_domains", &s.virtual_mailbox_domains);
  get(c, "mynetworks", &s.mynetworks);
  get(c, "alias_maps", &s.alias_maps);
  get(c, "virtual_alias_maps", &s.virtual_alias_maps);
  get(c, "virtual_mailbox_maps", &s.virtual_mailbox_maps);
  get(c, "recipient_delimiter", &s.recipient_delimiter);
  get(c, "smtpd_reject_unlisted_recipient", &s.local_recipient_check);
  get(c, "smtpd_client_access_maps", &s.client_access);
  get(c, "smtpd_helo_access_maps", &s.helo_access);
  get(c, "smtpd_sender_access_maps", &s.sender_access);
  get(c, "smtpd_recipient_access_maps", &s.recipient_access);
  get(c, "smtpd_sender_login_maps", &s.sender_login_maps);
  get(c, "rbl_reply_maps", &s.rbl_reply_maps);
  get(c, "header_checks", &s.header_checks);
  get(c, "mime_header_checks", &s.mime_header_checks);
  get(c, "nested_header_checks", &s.nested_header_checks);
  get(c, "body_checks", &s.body_checks);
  if (known("body_checks_size_limit")) s.body_checks_size_limit = c.bytes("body_checks_size_limit");
  get(c, "default_rbl_reply", &s.default_rbl_reply);
  get_int(c, "maps_rbl_reject_code", &s.rbl_code);
  get(c, "smtpd_client_restrictions", &s.client_restrictions);
  get(c, "smtpd_helo_restrictions", &s.helo_restrictions);
  get(c, "smtpd_sender_restrictions", &s.sender_restrictions);
  get(c, "smtpd_relay_restrictions", &s.relay_restrictions);
  get(c, "smtpd_recipient_restrictions", &s.recipient_restrictions);
  get(c, "smtpd_data_restrictions", &s.data_restrictions);
  get(c, "smtpd_delay_reject", &s.delay_reject);
  if (known("smtpd_policy_service_timeout"))
    s.policy_timeout_ms = c.seconds("smtpd_policy_service_timeout") * 1000;
  if (known("smtpd_policy_service_max_idle"))
    s.policy_max_idle_ms = c.seconds("smtpd_policy_service_max_idle") * 1000;
  get(c, "smtpd_policy_service_default_action", &s.policy_default_action);
  get_int(c, "unknown_client_reject_code", &s.unknown_client_code);
  if (known("smtpd_restriction_dns_timeout"))
    s.restriction_dns_timeout_ms = c.seconds("smtpd_restriction_dns_timeout") * 1000;
  if (known("message_size_limit")) s.message_size_limit = c.bytes("message_size_limit");
  if (known("queue_minfree")) s.queue_minfree = c.bytes("queue_minfree");
  get_int(c, "smtpd_recipient_limit", &s.recipient_limit);
  get_int(c, "queue_file_recycle_limit", &s.queue_file_recycle_limit);
  get_int(c, "smtpd_hard_error_limit", &s.hard_error_limit);
  get(c, "smtpd_per_request_deadline", &s.per_request_deadline);
  get_int(c, "smtpd_junk_command_limit", &s.junk_command_limit);
  get_int(c, "smtpd_soft_error_limit", &s.soft_error_limit);
  if (known("smtpd_error_sleep_time")) s.error_sleep_ms = c.seconds("smtpd_error_sleep_time") * 1000;
  if (known("smtpd_line_limit")) {
    int64_t n = c.integer("smtpd_line_limit");
    // At least RFC 5321's 1000: a smaller limit would refuse conforming mail.
    s.line_limit = n < 1000 ? 1000 : static_cast<size_t>(n);
  }
  if (known("disable_vrfy_command")) s.vrfy_enabled = !c.boolean("disable_vrfy_command");
  get(c, "smtpd_peername_lookup", &s.peername_lookup);
  if (known("smtpd_peername_timeout")) s.peername_timeout_ms = c.seconds("smtpd_peername_timeout") * 1000;
  get_int(c, "smtpd_client_connection_count_limit", &s.connection_count_limit);
  get_int(c, "smtpd_client_connection_rate_limit", &s.connection_rate_limit);
  get_int(c, "smtpd_client_message_rate_limit", &s.message_rate_limit);
  get_int(c, "smtpd_client_recipient_rate_limit", &s.recipient_rate_limit);
  get_int(c, "smtpd_sasl_user_message_rate_limit", &s.sasl_user_message_rate_limit);
  get_int(c, "smtpd_sasl_user_recipient_rate_limit", &s.sasl_user_recipient_rate_limit);
  get_int(c, "smtpd_client_auth_rate_limit", &s.auth_rate_limit);
  get(c, "smtpd_client_event_limit_exceptions", &s.limit_exceptions);
  get_time(c, "anvil_rate_time_unit", &s.rate_time_unit_s);
  if (known("anvil_timeout")) s.anvil_timeout_ms = c.seconds("anvil_timeout") * 1000;
  get_time(c, "smtpd_timeout", &s.timeout_s);
  get_time(c, "smtpd_auth_timeout", &s.auth_timeout_s);
  get(c, "smtpd_reject_bare_newlines", &s.forbid_bare_newline);
  get_time(c, "smtpd_data_timeout", &s.data_timeout_s);
  get_int(c, "smtpd_max_sessions", &s.max_sessions);
  get(c, "smtpd_helo_required", &s.helo_required);
  get(c, "smtpd_submission_header_fixes", &s.submission_header_fixes);
  get_int(c, "smtpd_fsync_group_delay", &s.group_delay_us);
  get(c, "smtpd_sasl_auth_required", &s.sasl_auth_required);
  get(c, "smtpd_tls_received_header", &s.tls_received_header);
  get(c, "smtpd_sasl_auth_enable", &s.sasl_auth_enable);
  get(c, "smtpd_tls_security_level", &s.tls_security_level);
  get(c, "smtpd_tls_wrappermode", &s.tls_wrappermode);
  get(c, "smtpd_tls_cert_file", &s.tls_cert_file);
  get(c, "smtpd_tls_key_file", &s.tls_key_file);
  get(c, "tls_high_cipherlist", &s.tls_ciphers);
  get(c, "smtpd_milters", &s.milters);
  get(c, "smtpd_milter_maps", &s.milter_maps);
  if (auto st = apply_receive_overrides(c, s); !st) return st.error();
  for (const auto& m : s.milters)
    if (m.rfind("inet:", 0) != 0 && m.rfind("unix:", 0) != 0)
      return Error("smtpd_milters: \"" + m + "\" is not inet:host:port or unix:/path").set_permanent();
  get_int(c, "milter_protocol", &s.milter_protocol);
  if (s.milter_protocol != 2 && s.milter_protocol != 3 && s.milter_protocol != 4 && s.milter_protocol != 6)
    return Error("milter_protocol: " + std::to_string(s.milter_protocol) + " is not 2, 3, 4 or 6").set_permanent();
  get(c, "milter_default_action", &s.milter_default_action);
  if (s.milter_default_action != "tempfail" && s.milter_default_action != "reject" &&
      s.milter_default_action != "accept" && s.milter_default_action != "quarantine")
    return Error("milter_default_action: \"" + s.milter_default_action +
                 "\" is not tempfail, reject, accept or quarantine").set_permanent();
  if (known("milter_connect_timeout")) s.milter_connect_timeout_ms = c.seconds("milter_connect_timeout") * 1000;
  if (known("milter_command_timeout")) s.milter_command_timeout_ms = c.seconds("milter_command_timeout") * 1000;
  if (known("milter_content_timeout")) s.milter_content_timeout_ms = c.seconds("milter_content_timeout") * 1000;
  get(c, "milter_macro_daemon_name", &s.milter_daemon_name);
  get(c, "milter_macro_v", &s.milter_macro_v);
  const char* macro_params[7] = {"milter_connect_macros", "milter_helo_macros", "milter_mail_macros",
                                 "milter_rcpt_macros", "milter_data_macros", "milter_end_of_data_macros",
                                 "milter_end_of_header_macros"};
  for (int i = 0; i < 7; ++i) get(c, macro_params[i], &s.milter_macros[i]);
  std::string protocols;
  get(c, "tls_protocols", &protocols);
  // ">=TLSv1.3" or a list without TLSv1.2 raises the floor; nothing goes below 1.2.
  if (protocols.find("TLSv1.3") != std::string::npos && protocols.find("TLSv1.2") == std::string::npos)
    s.tls_min_version = "TLSv1.3";
  return s;
}

}  // namespace postilion::smtpd
