// local/virtual_main.cc - entry point of virtual(8), the delivery agent for virtual
// mailboxes (virtual_mailbox_domains), run by master(8) through lib/service as root so
// that it writes as each mailbox's owner. Like local(8), a process serves one
// connection at a time and on it one request after another, in process.
#include <memory>

#include "lib/config/config.h"
#include "lib/service/service.h"
#include "local/server.h"
#include "local/virtual_server.h"

using namespace postilion;

namespace {

std::unique_ptr<local::VirtualServer> g_server;

}  // namespace

int main(int argc, char** argv) {
  service::Spec spec{.name = "virtual", .kind = service::Kind::Stream};
  spec.params = &local::virtual_params();
  spec.max_clients = 1;  // busy while serving one client: the master starts another process
  spec.post_jail = [](service::Context& ctx) {
    const config::Config& conf = ctx.config();
    auto c = local::virtual_config_from([&](const char* n) {
      // Sizes may carry a unit (k, m, g): hand over plain bytes.
      if (std::string_view(n) == "virtual_mailbox_limit") return std::to_string(conf.bytes(n));
      return conf.str(n);
    });
    if (!c) throw config::ConfigError(c.error().str());
    local::agent_signals();
    g_server = std::make_unique<local::VirtualServer>(std::move(*c));
  };
  spec.on_accept = [](service::Context& ctx, UniqueFd fd) {
    ctx.serve_blocking(std::move(fd), [](int client) { return g_server->serve_one(client); });
  };
  return service::run(argc, argv, spec);
}
