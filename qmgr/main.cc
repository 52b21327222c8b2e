// qmgr/main.cc - entry point of qmgr(8), the queue manager.
// Until lib/service's skeleton is in place this runs on its own, like resolver(8): it
// reads CONFIG_DIR/main.conf (-c, overrides with -o name=value),
// and listens on QUEUE_DIR/private/qmgr (or -s PATH).
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <optional>
#include <map>
#include <string>

#include "lib/config/config.h"
#include "lib/event/event.h"
#include "lib/event/listener.h"
#include "lib/ipc/message.h"
#include "lib/ipc/protocols.h"
#include "lib/log/log.h"
#include "qmgr/daemon.h"
#include "qmgr/settings.h"

using namespace postilion;

int main(int argc, char** argv) {
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
      std::fprintf(stderr, "usage: qmgr [-c config_dir] [-s socket] [-o name=value]...\n");
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
