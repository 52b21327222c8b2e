// qmgr/main.cc - entry point of qmgr(8), the queue manager, run by master(8) through
// lib/service. `qmgr --standalone [-c DIR] [-s PATH] [-o name=value]...` runs it
// without a master (tests, debugging), listening on PATH or $queue_directory/private/qmgr.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <optional>
#include <map>
#include <string>

#include "lib/config/config.h"
#include "lib/event/event.h"
#include "lib/event/listener.h"
#include "lib/ipc/message.h"
#include "lib/ipc/protocols.h"
#include "lib/log/log.h"
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
    "double_bounce_sender", "bounce_notice_recipient"};

// Built after the jail; released (not destroyed) after run(), whose loop owned their events.
std::vector<std::unique_ptr<maps::MapList>> g_tables;
std::unique_ptr<qmgr::Daemon> g_daemon;

int standalone(int argc, char** argv) {
  int rc = 0;
  service::Standalone sa = service::standalone_setup("qmgr", argc, argv, &rc);
  if (!sa.config) return rc;
  const config::Config& conf = *sa.config;
  std::string socket_path = sa.socket_path;
  auto get = [&](const char* n) { return conf.str(n); };
  std::vector<std::unique_ptr<maps::MapList>> tables;
  auto cfg = qmgr::settings_from(get, &tables);
  if (!cfg) log::fatal("%s", cfg.error().c_str());
  if (socket_path.empty()) socket_path = get("queue_directory") + "/" + ipc::proto::kQmgrSocket;
  event::EventBase base;
  qmgr::Daemon daemon(base, *cfg);
  auto fd = ipc::listen_unix(socket_path, 0600);
  if (!fd) log::fatal("%s", fd.error().c_str());
  event::Listener listener(base, std::move(*fd), [&](UniqueFd conn, const sockaddr*, int) { daemon.accept(std::move(conn)); });
  event::Signal term(base, SIGTERM, [&] { base.loopbreak(); });
  event::Signal intr(base, SIGINT, [&] { base.loopbreak(); });
  daemon.start();
  base.loop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--standalone") == 0) return standalone(argc - 1, argv + 1);
  service::Spec spec{.name = "qmgr", .kind = service::Kind::Stream};
  spec.params = &kParams;
  spec.post_jail = [](service::Context& ctx) {
    auto cfg = qmgr::settings_from([&](const char* n) { return ctx.config().str(n); }, &g_tables);
    if (!cfg) throw config::ConfigError(cfg.error().str());
    g_daemon = std::make_unique<qmgr::Daemon>(ctx.loop(), *cfg);
    g_daemon->start();
  };
  spec.on_accept = [](service::Context& ctx, UniqueFd fd) { g_daemon->accept(std::move(fd), [&ctx] { ctx.session_end(); }); };
  spec.on_wakeup = [](service::Context&) { g_daemon->wakeup(); };
  int rc = service::run(argc, argv, spec);
  (void)g_daemon.release();
  return rc;
}
