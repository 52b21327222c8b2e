// local/virtual_main.cc - entry point of virtual(8), the delivery agent for virtual
// mailboxes (virtual_mailbox_domains), run by master(8) through lib/service as root so
// that it writes as each mailbox's owner. Like local(8), a process serves one
// connection at a time and on it one request after another, in process.
#include <memory>

#include "lib/config/config.h"
#include "local/server.h"
#include "local/virtual_server.h"

using namespace postilion;

namespace {

std::unique_ptr<local::VirtualServer> g_server;

local::ServeOne setup(const config::Config& conf) {
  auto c = local::virtual_config_from([&](const char* n) {
    // Sizes may carry a unit (k, m, g): hand over plain bytes.
    if (std::string_view(n) == "virtual_mailbox_limit") return std::to_string(conf.bytes(n));
    return conf.str(n);
  });
  if (!c) throw config::ConfigError(c.error().str());
  g_server = std::make_unique<local::VirtualServer>(std::move(*c));
  return [](int client) { return g_server->serve_one(client); };
}

}  // namespace

int main(int argc, char** argv) {
  return local::run_agent(argc, argv, "virtual", &local::virtual_params(), setup);
}
