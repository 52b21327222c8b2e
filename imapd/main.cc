// imapd/main.cc - entry point of imapd(8), the IMAP server (ports 143 and 993), run by
// master(8) through lib/service as a Kind::Session service: the listener only
// accepts, and each client is served by a process of its own (`imapd --session`,
// imapd/session.h). `imapd --standalone [-c DIR] [-o name=value]... -l [addr:]port...`
// runs it without a master (tests, debugging).
#include <unistd.h>

#include <string>
#include <vector>

#include "imapd/session.h"
#include "imapd/settings.h"
#include "lib/log/log.h"
#include "lib/service/launcher.h"
#include "lib/service/service.h"
#include "lib/tls/tls.h"

using namespace postilion;

namespace {

const std::vector<std::string_view> kParams = {
    "queue_directory", "mail_owner", "imapd_timeout", "imapd_tls_wrappermode", "imapd_tls_cert_file",
    "imapd_tls_key_file", "imapd_plaintext_auth", "imapd_line_limit", "imapd_literal_limit", "imapd_appendlimit",
    "imapd_login_timeout", "imapd_auth_timeout", "imapd_auth_failure_limit", "imapd_error_limit", "imapd_client_limit",
    "imapd_client_connection_count_limit", "imapd_client_connection_rate_limit",
    "imapd_client_connection_limit_exceptions", "anvil_rate_time_unit", "anvil_timeout"};

// The replies to a client over its connection limits, instead of the greeting
// (RFC 3501 7.1.5 BYE, RFC 5530 UNAVAILABLE): a per-client limit, and
// imapd_client_limit (or a failed fork).
constexpr const char* kTooManyFromHost = "* BYE [UNAVAILABLE] Too many connections from your host\r\n";
constexpr const char* kTooManyConnections = "* BYE [UNAVAILABLE] too many connections, try again later\r\n";

// The listener's limits: anvil(8) counts a client's imap and imaps sessions apart
// (per master.conf service), as smtpd's.
service::SessionLimits limits(service::Context& ctx) {
  imapd::Settings s = service::required(imapd::Settings::from_config(ctx.config()));
  if (::geteuid() == 0 && ctx.options().unprivileged)
    log::warn("running as mail_owner: sessions cannot switch to the mailbox owner and must "
              "read the TLS key and config as mail_owner (master.conf should say n in the unpriv "
              "column for imapd)");
  return s.session_limits("imapd_", kTooManyFromHost, kTooManyConnections);
}

int session(service::Context& ctx, UniqueFd client, const std::string& client_ip) {
  imapd::Settings s = service::required(imapd::Settings::from_config(ctx.config()));
  tls::Context tls = s.load_tls();  // inherited by the login process
  return imapd::run_session(s, tls.valid() ? &tls : nullptr, client_ip, std::move(client));
}

}  // namespace

int main(int argc, char** argv) {
  service::Spec spec{.name = "imapd", .kind = service::Kind::Session};
  spec.params = &kParams;
  spec.inet = true;
  spec.session_limits = limits;
  spec.on_session = session;
  return service::run(argc, argv, spec);
}
