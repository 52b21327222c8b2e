// resolver/main.cc - entry point of resolver(8), Postilion's DNS resolver daemon, run
// by master(8) through lib/service. `resolver --standalone [-c DIR] [-s PATH]
// [-o name=value]...` runs it without a master (tests, debugging), listening on PATH
// or $queue_directory/private/resolver.
#include <signal.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>

#include "lib/config/config.h"
#include "lib/event/event.h"
#include "lib/event/listener.h"
#include "lib/ipc/message.h"
#include "lib/ipc/protocols.h"
#include "lib/log/log.h"
#include "lib/service/service.h"
#include "resolver/server.h"
#include "resolver/settings.h"

using namespace postilion;

namespace {

const std::vector<std::string_view> kParams = {
    "dns_servers", "dnssec_trust_anchor_file", "inet_protocols", "resolver_query_timeout",
    "resolver_cache_size", "resolver_cache_max_ttl", "resolver_negative_ttl", "myhostname",
    "inet_interfaces", "proxy_interfaces", "queue_directory"};

Result<resolver::Settings> settings(const config::Config& cfg) {
  return resolver::settings_from([&](const char* n) -> std::string {
    const config::ParamSpec* p = config::find_param(n);
    if (p && p->type == config::Type::Time) return std::to_string(cfg.seconds(n));
    return cfg.str(n);
  });
}

int standalone(int argc, char** argv) {
  int rc = 0;
  service::Standalone sa = service::standalone_setup("resolver", argc, argv, &rc);
  if (!sa.config) return rc;
  const config::Config& cfg = *sa.config;
  auto s = settings(cfg);
  if (!s) log::fatal("%s", s.error().c_str());
  std::string socket_path = sa.socket_path;
  if (socket_path.empty()) socket_path = cfg.str("queue_directory") + "/" + ipc::proto::kResolverSocket;
  event::EventBase base;
  auto engine = resolver::Engine::create(base, *s);
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

// Built after the jail, torn down before the loop's base (declared before it ends).
std::unique_ptr<resolver::Engine> g_engine;
std::unique_ptr<resolver::Server> g_server;

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--standalone") == 0) return standalone(argc - 1, argv + 1);
  service::Spec spec{.name = "resolver", .kind = service::Kind::Stream};
  spec.params = &kParams;
  // Before the jail: /etc/resolv.conf is read here, and in a chroot it is out of reach.
  spec.pre_jail = [](service::Context& ctx) {
    auto s = settings(ctx.config());
    if (!s) throw config::ConfigError(s.error().str());
    auto e = resolver::Engine::create(ctx.loop(), *s);
    if (!e) throw config::ConfigError(e.error().str());
    g_engine = std::move(*e);
    g_server = std::make_unique<resolver::Server>(ctx.loop(), *g_engine);
  };
  spec.on_accept = [](service::Context& ctx, UniqueFd fd) {
    g_server->accept(std::move(fd), [&ctx] { ctx.session_end(); });
  };
  int rc = service::run(argc, argv, spec);
  // Their events lived on the service's loop, which run() has freed: let the process
  // end without touching them.
  (void)g_server.release();
  (void)g_engine.release();
  return rc;
}
