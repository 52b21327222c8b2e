// resolver/main.cc - entry point of resolver(8), Postilion's DNS resolver daemon.
// Until lib/service's skeleton is in place this runs on its own: it listens on
// QUEUE_DIR/private/resolver (or -s PATH) and takes parameters as -o name=value.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <string>

#include "lib/base/strings.h"
#include "lib/event/event.h"
#include "lib/event/listener.h"
#include "lib/ipc/message.h"
#include "lib/ipc/protocols.h"
#include "lib/log/log.h"
#include "resolver/server.h"
#include "resolver/settings.h"

using namespace postilion;

int main(int argc, char** argv) {
  std::map<std::string, std::string> params = {
      {"dns_servers", ""},          {"dnssec_trust_anchor_file", ""},
      {"inet_protocols", "ipv4"},   {"resolver_query_timeout", "10"},
      {"resolver_cache_size", "10000"}, {"resolver_cache_max_ttl", "86400"},
      {"resolver_negative_ttl", "300"}, {"myhostname", "localhost"},
      {"inet_interfaces", "all"},   {"proxy_interfaces", ""},
      {"queue_directory", "."},
  };
  std::string socket_path;
  int c;
  while ((c = getopt(argc, argv, "o:s:v")) != -1) {
    if (c == 'o') {
      std::string kv = optarg;
      auto eq = kv.find('=');
      if (eq == std::string::npos || !params.count(kv.substr(0, eq))) {
        std::fprintf(stderr, "resolver: bad -o %s\n", optarg);
        return 2;
      }
      params[kv.substr(0, eq)] = kv.substr(eq + 1);
    } else if (c == 's') {
      socket_path = optarg;
    } else if (c != 'v') {
      std::fprintf(stderr, "usage: resolver [-s socket] [-o name=value]...\n");
      return 2;
    }
  }
  log::init("resolver");
  log::use_stderr();
  signal(SIGPIPE, SIG_IGN);
  auto settings = resolver::settings_from([&](const char* n) { return params[n]; });
  if (!settings) log::fatal("%s", settings.error().c_str());
  if (socket_path.empty()) socket_path = params["queue_directory"] + "/" + ipc::proto::kResolverSocket;
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
