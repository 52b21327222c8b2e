// smtpd/main.cc - entry point of smtpd(8), the SMTP server (ports 25, 587, 465), run
// by master(8) through lib/service. `smtpd --standalone [-c DIR] [-o name=value]...
// -l [addr:]port...` runs it without a master (tests, debugging).
#include <signal.h>

#include <memory>
#include <string>
#include <vector>

#include "lib/config/config.h"
#include "lib/service/service.h"
#include "smtpd/server.h"

using namespace postilion;

namespace {

const std::vector<std::string_view> kParams = {
    "myhostname", "queue_directory", "mydestination", "relay_domains", "mynetworks",
    "message_size_limit", "smtpd_banner", "smtpd_timeout", "smtpd_recipient_limit",
    "smtpd_sasl_auth_enable", "smtpd_tls_security_level", "smtpd_tls_wrappermode",
    "smtpd_tls_cert_file", "smtpd_tls_key_file", "smtpd_client_restrictions", "smtpd_helo_restrictions",
    "smtpd_sender_restrictions", "smtpd_delay_reject", "smtpd_sender_login_maps", "rbl_reply_maps",
    "default_rbl_reply", "maps_rbl_reject_code", "smtpd_restriction_dns_timeout",
    "smtpd_client_message_rate_limit", "smtpd_client_recipient_rate_limit",
    "smtpd_sasl_user_message_rate_limit", "smtpd_sasl_user_recipient_rate_limit", "smtpd_client_auth_rate_limit",
    "smtpd_client_event_limit_exceptions", "smtpd_milters", "smtpd_milter_maps", "milter_protocol", "milter_default_action",
    "milter_connect_timeout", "milter_command_timeout", "milter_content_timeout", "milter_macro_daemon_name",
    "milter_macro_v", "milter_connect_macros", "milter_helo_macros", "milter_mail_macros", "milter_rcpt_macros",
    "milter_data_macros", "milter_end_of_header_macros", "milter_end_of_data_macros", "content_filter",
    "receive_override_options"};

}  // namespace

int main(int argc, char** argv) {
  service::Spec spec{.name = "smtpd", .kind = service::Kind::Stream};
  spec.params = &kParams;
  spec.inet = true;
  spec.pre_jail = [](service::Context& ctx) {  // certificate and maps, as root
    auto& server =
        ctx.keep(std::make_unique<smtpd::Server>(ctx.loop(), service::required(smtpd::Settings::from_config(ctx.config()))));
    server.set_service_name(ctx.name());  // anvil counts per master.conf service
    service::required(server.init());
  };
  spec.post_jail = [](service::Context& ctx) {
    signal(SIGXFSZ, SIG_IGN);  // a file size limit is a write error (452), not death
    auto& server = ctx.get<smtpd::Server>();
    server.set_on_session_end([&ctx] { ctx.session_end(); });
    server.start();
  };
  spec.on_accept = [](service::Context& ctx, UniqueFd fd) { ctx.get<smtpd::Server>().accept(std::move(fd)); };
  return service::run(argc, argv, spec);
}
