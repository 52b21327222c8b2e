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
    "transport_maps", "relayhost", "default_transport", "local_transport", "minimal_backoff_time",
    "maximal_backoff_time", "queue_run_delay", "maximal_queue_lifetime", "bounce_queue_lifetime",
    "delay_warning_time", "default_transport_concurrency_limit", "default_destination_concurrency_limit",
    "local_destination_concurrency_limit", "default_destination_recipient_limit",
    "local_destination_recipient_limit", "qmgr_message_active_limit", "double_bounce_sender",
    "bounce_notice_recipient"};

// Built after the jail; released (not destroyed) after run(), whose loop owned their events.
std::vector<std::unique_ptr<maps::MapList>> g_tables;
std::unique_ptr<qmgr::Daemon> g_daemon;

int standalone(int argc, char** argv) {
  std::string config_dir = std::string(SYSCONFDIR) + "/postilion";
  std::vector<std::pair<std::string, std::string>> overrides;
  std::string socket_path;
  int c;
  while ((c = getopt(argc, argv, "c:o:s:v")) != -1) {
    if (c == 'c') {
      config_dir = optarg;
    } else if (c == 'o') {
      std::string kv = optarg;
      auto eq = kv.find('=');
      if (eq == std::string::npos) {
        std::fprintf(stderr, "qmgr: bad -o %s\n", optarg);
        return 2;
      }
      overrides.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    } else if (c == 's') {
      socket_path = optarg;
    } else if (c != 'v') {
      std::fprintf(stderr, "usage: qmgr --standalone [-c config_dir] [-s socket] [-o name=value]...\n");
      return 2;
    }
  }
  std::optional<config::Config> cfg_store;
  try {
    cfg_store = config::Config::load(config_dir);
    for (const auto& [n, v] : overrides) cfg_store->set(n, v);
  } catch (const config::ConfigError& e) {
    std::fprintf(stderr, "qmgr: fatal: %s\n", e.what());
    return 1;
  }
  const config::Config& conf = *cfg_store;
  auto get = [&](const char* n) { return conf.str(n); };
  log::init("qmgr");
  if (get("maillog_file").empty() || !log::use_file(get("maillog_file"))) log::use_stderr();
  signal(SIGPIPE, SIG_IGN);
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
