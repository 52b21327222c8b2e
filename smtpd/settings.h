// smtpd/settings.h - every main.conf parameter smtpd(8) uses, read once at start.
// Names and defaults are in lib/config/params/smtpd.def and tls.def; see smtpd(8).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lib/base/result.h"
#include "lib/config/restrictions.h"

namespace postilion::config {
class Config;
}

namespace postilion::smtpd {

// permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination.
std::vector<config::RestrictionStep> default_relay_restrictions();

struct Settings {
  std::string myhostname = "localhost";
  std::string banner;  // "" = "$myhostname ESMTP Postilion"
  std::string queue_directory;
  int queue_file_recycle_limit = 100;  // 0: qmgr keeps no spare files, do not look for any
  std::vector<std::string> mydestination = {"localhost"};
  std::vector<std::string> relay_domains;
  std::vector<std::string> virtual_alias_domains;
  std::vector<std::string> virtual_mailbox_domains;
  std::vector<std::string> mynetworks = {"127.0.0.0/8", "[::1]/128"};
  std::string alias_maps;
  std::string virtual_alias_maps;
  std::string virtual_mailbox_maps;
  std::string recipient_delimiter = "+";
  bool local_recipient_check = true;

  // Access maps: client IP, HELO name, sender, recipient -> OK / REJECT / DEFER ...
  std::string client_access, helo_access, sender_access, recipient_access;
  // MAIL FROM address -> SASL login names (reject_*sender_login_mismatch).
  std::string sender_login_maps;
  // DNS list replies: templates (smtpd/restrictions.h) by list domain, the default one.
  std::string rbl_reply_maps;
  std::string default_rbl_reply =
      "$rbl_code Service unavailable; $rbl_class [$rbl_what] blocked using $rbl_domain${rbl_reason?; $rbl_reason}";
  int rbl_code = 554;
  // smtpd_client_restrictions, smtpd_helo_restrictions, smtpd_sender_restrictions
  // (smtpd/restrictions.cc), all at RCPT while delay_reject holds, else at HELO and MAIL.
  std::vector<config::RestrictionStep> client_restrictions, helo_restrictions, sender_restrictions;
  // smtpd_relay_restrictions and smtpd_recipient_restrictions, at RCPT after the three
  // above (and the access maps); the relay list's default is the built-in relay rule.
  std::vector<config::RestrictionStep> relay_restrictions = default_relay_restrictions();
  std::vector<config::RestrictionStep> recipient_restrictions;
  std::vector<config::RestrictionStep> data_restrictions;  // at DATA and the first BDAT
  // check_policy_service (smtpd/policy_service.h).
  int64_t policy_timeout_ms = 100000;
  int64_t policy_max_idle_ms = 300000;
  std::string policy_default_action = "451 4.3.5 Server configuration problem";
  int unknown_client_code = 450;  // unknown_client_reject_code
  bool delay_reject = true;
  int64_t restriction_dns_timeout_ms = 10000;

  // Content inspection (smtpd/content_checks.h): table specs, and how much of each
  // body part body_checks sees.
  std::string header_checks, mime_header_checks, nested_header_checks, body_checks;
  uint64_t body_checks_size_limit = 51200;

  uint64_t message_size_limit = 10240000;
  uint64_t queue_minfree = 0;  // bytes the queue file system keeps free (MAIL gets 452 within them)
  int recipient_limit = 1000;
  int hard_error_limit = 20;
  // smtpd_per_request_deadline: a command line must arrive whole within timeout_s of
  // its first byte (a client trickling it is timed out); off: timeout_s bounds each
  // silence only.
  bool per_request_deadline = true;
  int junk_command_limit = 100;      // NOOP, RSET, VRFY, ETRN before each counts as an error
  int soft_error_limit = 10;         // errors after which each error reply waits
  int64_t error_sleep_ms = 1000;     // that wait (a timer; the loop goes on)
  size_t line_limit = 1000;          // DATA text line, octets incl. CRLF (RFC 5321 4.5.3.1.6)
  bool vrfy_enabled = false;         // disable_vrfy_command = no: VRFY answers 250/550
  bool peername_lookup = true;       // reverse DNS of the client through the resolver
  int64_t peername_timeout_ms = 5000;
  int connection_count_limit = 50;   // per client IP, across smtpd processes (anvil)
  int connection_rate_limit = 0;     // connections per rate_time_unit per IP; 0 = none (anvil)
  int message_rate_limit = 0;        // MAIL FROM per rate_time_unit per IP; 0 = none (anvil)
  int recipient_rate_limit = 0;      // RCPT TO, likewise
  int sasl_user_message_rate_limit = 0;    // MAIL FROM per hour per SASL login; 0 = none (anvil)
  int sasl_user_recipient_rate_limit = 0;  // RCPT TO, likewise
  int auth_rate_limit = 0;           // AUTH, likewise
  // Clients exempt from all the per-client limits above (smtpd_client_event_limit_exceptions).
  // Networks as in mynetworks (its default); Server::init() refuses a malformed one.
  std::vector<std::string> limit_exceptions = {"127.0.0.0/8", "[::1]/128"};
  int64_t rate_time_unit_s = 60;
  int64_t anvil_timeout_ms = 1000;
  int64_t timeout_s = 300;
  int64_t data_timeout_s = 600;
  int64_t auth_timeout_s = 30;
  int max_sessions = 1000;
  bool forbid_bare_newline = true;
  bool helo_required = false;
  bool submission_header_fixes = false;  // add Message-ID/Date for authenticated clients
  int group_delay_us = 0;

  // After-queue content filter recorded in each queue file (content_filter,
  // "transport:nexthop"); "" = none.
  std::string content_filter;

  // Mail filters (lib/milter/session.h): smtpd_milters and the milter_* parameters.
  std::vector<std::string> milters;
  // smtpd_milter_maps: per client IP address, the filters instead of smtpd_milters
  // ("DISABLE": none); opened by Policy, the value read by milter::parse_milter_list.
  std::string milter_maps;
  int milter_protocol = 6;
  std::string milter_default_action = "tempfail";  // tempfail | reject | accept | quarantine
  int64_t milter_connect_timeout_ms = 30000;
  int64_t milter_command_timeout_ms = 30000;
  int64_t milter_content_timeout_ms = 300000;
  std::string milter_daemon_name = "localhost";
  std::string milter_macro_v = "Postilion";
  // Macro names per stage, in the order of milter::Stage (connect, HELO, MAIL, RCPT,
  // DATA, end of message, end of header).
  std::vector<std::string> milter_macros[7] = {{"j", "{daemon_name}", "{daemon_addr}", "v", "_"},
                                               {"{tls_version}", "{cipher}", "{cipher_bits}", "{cert_subject}", "{cert_issuer}"},
                                               {"i", "{auth_type}", "{auth_authen}", "{auth_author}", "{mail_addr}", "{mail_host}", "{mail_mailer}"},
                                               {"i", "{rcpt_addr}", "{rcpt_host}", "{rcpt_mailer}"},
                                               {"i"},
                                               {"i"},
                                               {"i"}};

  bool sasl_auth_enable = false;
  bool sasl_auth_required = false;  // AUTH before MAIL (submission, RFC 6409)
  bool tls_received_header = true;
  std::string tls_security_level = "may";  // none | may | encrypt
  bool tls_wrappermode = false;
  std::string tls_cert_file, tls_key_file, tls_ciphers;
  std::string tls_min_version = "TLSv1.2";

  std::string banner_text() const { return banner.empty() ? myhostname + " ESMTP Postilion" : banner; }
  bool tls_wanted() const { return tls_wrappermode || tls_security_level != "none"; }

  // Reads every value from a loaded configuration. Parameters that this build's
  // table does not know keep the defaults above.
  static Result<Settings> from_config(const config::Config& cfg);
};

}  // namespace postilion::smtpd
