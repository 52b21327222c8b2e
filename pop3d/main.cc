// pop3d/main.cc - entry point of pop3d(8), the POP3 server (ports 110 and 995), run by
// master(8) through lib/service as a Kind::Session service: the listener only
// accepts, and each client is served by a process of its own (`pop3d --session`,
// pop3d/session.h). `pop3d --standalone [-c DIR] [-o name=value]... -l [addr:]port...`
// runs it without a master (tests, debugging).
#include <unistd.h>

#include <string>
#include <vector>

#include "lib/log/log.h"
#include "lib/service/launcher.h"
#include "lib/service/service.h"
#include "lib/tls/tls.h"
#include "pop3d/session.h"
#include "pop3d/settings.h"

using namespace postilion;

namespace {

const std::vector<std::string_view> kParams = {
    "queue_directory", "mail_owner", "pop3d_timeout", "pop3d_tls_wrappermode", "pop3d_tls_cert_file",
    "pop3d_tls_key_file", "pop3d_plaintext_auth", "pop3d_line_limit", "pop3d_client_limit",
    "pop3d_client_connection_count_limit", "pop3d_client_connection_rate_limit",
    "pop3d_client_connection_limit_exceptions", "anvil_rate_time_unit", "anvil_timeout"};

// The replies to a client over its connection limits (RFC 3206 response code): a
// per-client limit, and pop3d_client_limit (or a failed fork).
constexpr const char* kTooManyFromHost = "-ERR [SYS/TEMP] Too many connections from your host\r\n";
constexpr const char* kTooManyConnections = "-ERR [SYS/TEMP] too many connections, try again later\r\n";

// The listener's limits: anvil(8) counts a client's pop3 and pop3s sessions apart
// (per master.conf service), as smtpd's.
service::SessionLimits limits(service::Context& ctx) {
  pop3d::Settings s = service::required(pop3d::Settings::from_config(ctx.config()));
  if (::geteuid() == 0 && ctx.options().unprivileged)
    log::warn("running as mail_owner: sessions cannot switch to the mailbox owner and must "
              "read the TLS key and config as mail_owner (master.conf should say n in the unpriv "
              "column for pop3d)");
  return s.session_limits("pop3d_", kTooManyFromHost, kTooManyConnections);
}

int session(service::Context& ctx, UniqueFd client, const std::string& client_ip) {
  pop3d::Settings s = service::required(pop3d::Settings::from_config(ctx.config()));
  tls::Context tls = s.load_tls();  // inherited by the login process
  return pop3d::run_session(s, tls.valid() ? &tls : nullptr, client_ip, std::move(client));
}

}  // namespace

int main(int argc, char** argv) {
  service::Spec spec{.name = "pop3d", .kind = service::Kind::Session};
  spec.params = &kParams;
  spec.inet = true;
  spec.session_limits = limits;
  spec.on_session = session;
  return service::run(argc, argv, spec);
}
