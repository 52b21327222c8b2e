// auth/main.cc - entry point of auth(8), the only reader of password data.
// Until lib/service's skeleton is in place this runs on its own: it reads main.conf
// from -c CONFIG_DIR, takes -o name=value overrides, and listens on
// $queue_directory/private/auth (or -s PATH).
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "auth/backend.h"
#include "auth/server.h"
#include "auth/settings.h"
#include "lib/config/config.h"
#include "lib/event/event.h"
#include "lib/event/listener.h"
#include "lib/ipc/message.h"
#include "lib/ipc/protocols.h"
#include "lib/log/log.h"

using namespace postilion;

int main(int argc, char** argv) {
  std::string config_dir = SYSCONFDIR "/postilion", socket_path;
  std::vector<std::string> overrides;
  int c;
  while ((c = getopt(argc, argv, "c:o:s:v")) != -1) {
    if (c == 'c') config_dir = optarg;
    else if (c == 'o') overrides.push_back(optarg);
    else if (c == 's') socket_path = optarg;
    else if (c != 'v') {
      std::fprintf(stderr, "usage: auth [-c config_dir] [-s socket] [-o name=value]...\n");
      return 2;
    }
  }
  log::init("auth");
  signal(SIGPIPE, SIG_IGN);
  auth::Settings settings;
  try {
    config::Config cfg = config::Config::load(config_dir);
    for (const auto& o : overrides) {
      auto eq = o.find('=');
      if (eq == std::string::npos) throw config::ConfigError("-o " + o + ": expected name=value");
      cfg.set(o.substr(0, eq), o.substr(eq + 1));
    }
    if (!cfg.str("maillog_file").empty()) {
      if (auto st = log::use_file(cfg.str("maillog_file")); !st) log::warn("%s", st.error().c_str());
    }
    settings = auth::Settings::from_config(cfg);
  } catch (const config::ConfigError& e) {
    log::fatal("%s", e.what());
  }
  auto backends = auth::Backends::open(settings);
  if (!backends) log::fatal("%s", backends.error().c_str());
  if (socket_path.empty()) socket_path = settings.queue_directory + "/" + ipc::proto::kAuthSocket;
  event::EventBase base;
  auth::Server server(base, settings, std::move(*backends));
  // 0666: the socket's folder (private/, mode 0700) decides who may connect.
  auto fd = ipc::listen_unix(socket_path, 0666);
  if (!fd) log::fatal("%s", fd.error().c_str());
  event::Listener listener(base, std::move(*fd),
                           [&](UniqueFd conn, const sockaddr*, int) { server.accept(std::move(conn)); });
  event::Signal term(base, SIGTERM, [&] { base.loopbreak(); });
  event::Signal intr(base, SIGINT, [&] { base.loopbreak(); });
  log::info("listening on %s (backends: %s)", socket_path.c_str(),
            settings.backends.empty() ? "none" : settings.backends[0].c_str());
  base.loop();
  return 0;
}
