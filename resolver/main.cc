// resolver/main.cc - entry point of resolver(8), Postilion's DNS resolver daemon, run
// by master(8) through lib/service. `resolver --standalone [-c DIR] [-s PATH]
// [-o name=value]...` runs it without a master (tests, debugging), listening on PATH
// or $queue_directory/private/resolver.
#include <memory>
#include <string>

#include "lib/config/config.h"
#include "lib/ipc/protocols.h"
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

}  // namespace

int main(int argc, char** argv) {
  service::Spec spec{.name = "resolver", .kind = service::Kind::Stream};
  spec.params = &kParams;
  spec.socket = ipc::proto::kResolverSocket;
  // Before the jail: /etc/resolv.conf is read here, and in a chroot it is out of reach.
  spec.pre_jail = [](service::Context& ctx) {
    auto& engine = ctx.keep(service::required(resolver::Engine::create(ctx.loop(), service::required(settings(ctx.config())))));
    ctx.keep(std::make_unique<resolver::Server>(ctx.loop(), engine));
  };
  spec.on_accept = [](service::Context& ctx, UniqueFd fd) {
    ctx.get<resolver::Server>().accept(std::move(fd), [&ctx] { ctx.session_end(); });
  };
  return service::run(argc, argv, spec);
}
