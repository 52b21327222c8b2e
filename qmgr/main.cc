// qmgr/main.cc - entry point of qmgr(8), the queue manager, run by master(8) through
// lib/service. `qmgr --standalone [-c DIR] [-s PATH] [-o name=value]...` runs it
// without a master (tests, debugging), listening on PATH or $queue_directory/private/qmgr.
#include <memory>
#include <string>
#include <vector>

#include "lib/config/config.h"
#include "lib/ipc/protocols.h"
#include "lib/service/service.h"
#include "qmgr/daemon.h"
#include "qmgr/settings.h"

using namespace postilion;

namespace {

const std::vector<std::string_view> kParams = {
    "queue_directory", "myhostname", "mydestination", "virtual_alias_domains", "virtual_alias_maps",
    "virtual_mailbox_domains", "virtual_mailbox_maps", "recipient_delimiter", "relay_domains", "transport_maps", "relayhost",
    "default_transport", "local_transport", "relay_transport", "virtual_transport", "minimal_backoff_time",
    "maximal_backoff_time", "queue_run_delay", "maximal_queue_lifetime", "bounce_queue_lifetime",
    "delay_warning_time", "default_transport_concurrency_limit", "default_destination_concurrency_limit",
    "local_destination_concurrency_limit", "smtp_destination_concurrency_limit",
    "relay_destination_concurrency_limit", "initial_destination_concurrency",
    "default_destination_concurrency_failed_cohort_limit", "default_destination_rate_delay",
    "default_destination_concurrency_positive_feedback", "default_destination_concurrency_negative_feedback",
    "default_destination_recipient_limit", "local_destination_recipient_limit", "qmgr_message_active_limit", "queue_file_recycle_limit",
    "double_bounce_sender", "bounce_notice_recipient", "content_filter", "default_filter_nexthop",
    "local_sender_message_rate_limit", "local_sender_recipient_rate_limit",
    "non_smtpd_milters", "receive_override_options", "milter_protocol", "milter_default_action", "milter_connect_timeout",
    "milter_command_timeout", "milter_content_timeout", "milter_macro_daemon_name", "milter_macro_v",
    "milter_connect_macros", "milter_helo_macros", "milter_mail_macros", "milter_rcpt_macros", "milter_data_macros",
    "milter_end_of_header_macros", "milter_end_of_data_macros", "message_size_limit"};

using Tables = std::vector<std::unique_ptr<maps::MapList>>;

}  // namespace

int main(int argc, char** argv) {
  service::Spec spec{.name = "qmgr", .kind = service::Kind::Stream};
  spec.params = &kParams;
  spec.socket = ipc::proto::kQmgrSocket;
  spec.post_jail = [](service::Context& ctx) {
    // The tables the settings refer to are kept first, so they outlive the daemon.
    auto& tables = ctx.keep(std::make_unique<Tables>());
    auto cfg = service::required(qmgr::settings_from([&](const char* n) { return ctx.config().str(n); }, &tables));
    ctx.keep(std::make_unique<qmgr::Daemon>(ctx.loop(), cfg)).start();
  };
  spec.on_accept = [](service::Context& ctx, UniqueFd fd) {
    ctx.get<qmgr::Daemon>().accept(std::move(fd), [&ctx] { ctx.session_end(); });
  };
  spec.on_wakeup = [](service::Context& ctx) { ctx.get<qmgr::Daemon>().wakeup(); };
  return service::run(argc, argv, spec);
}
