// resolver/main.cc - entry point of resolver(8), Postilion's DNS resolver daemon.
// Until lib/service's skeleton is in place this runs on its own: it reads main.conf
// from -c CONFIG_DIR, takes -o name=value overrides, and listens on
// $queue_directory/private/resolver (or -s PATH).
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "lib/config/config.h"
#include "lib/event/event.h"
#include "lib/event/listener.h"
#include "lib/ipc/message.h"
#include "lib/ipc/protocols.h"
#include "lib/log/log.h"
#include "resolver/server.h"
#include "resolver/settings.h"

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
      std::fprintf(stderr, "usage: resolver [-c config_dir] [-s socket] [-o name=value]...\n");
      return 2;
    }
  }
  log::init("resolver");
  log::use_stderr();
  signal(SIGPIPE, SIG_IGN);
  config::Config cfg;
  try {
    cfg = access((config_dir + "/main.conf").c_str(), F_OK) == 0 ? config::Config::load(config_dir)
                                                                 : config::Config::parse("", "main.conf", config_dir);
    for (const auto& o : overrides) {
      auto eq = o.find('=');
      if (eq == std::string::npos) throw config::ConfigError("-o " + o + ": expected name=value");
      cfg.set(o.substr(0, eq), o.substr(eq + 1));
    }
  } catch (const config::ConfigError& e) {
    log::fatal("%s", e.what());
  }
  auto settings = resolver::settings_from([&](const char* n) -> std::string {
    const config::ParamSpec* p = config::find_param(n);
    if (p && p->type == config::Type::Time) return std::to_string(cfg.seconds(n));
    return cfg.str(n);
  });
  if (!settings) log::fatal("%s", settings.error().c_str());
  if (socket_path.empty()) socket_path = cfg.str("queue_directory") + "/" + ipc::proto::kResolverSocket;
  event::EventBase base;
  auto engine = resolver::Engine::create(base, *settings);
  if (!engine) log::fatal("%s", engine.error().c_str());
  resolver::Server server(base, **engine);
  auto fd = ipc::listen_unix(socket_path, 0600);
  if (!fd) log::fatal("%s", fd.error().c_str());
  event::Listener listener(base, std::move(*fd),
                           [&](UniqueFd conn, const sockaddr*, int) { server.accept(std::move(conn)); });
  event::Signal term(base, SIGTERM, [&] { base.loopbreak(); });
  event::Signal intr(base, SIGINT, [&] { base.loopbreak(); });
  log::info("resolver: listening on %s", socket_path.c_str());
  base.loop();
  return 0;
}
