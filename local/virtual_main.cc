// local/virtual_main.cc - entry point of virtual(8), the delivery agent for virtual
// mailboxes (virtual_mailbox_domains), run by master(8) through lib/service as root so
// that it writes as each mailbox's owner. Like local(8), a process serves one
// connection at a time and on it one request after another, in process.
// `virtual --standalone [-c DIR] [-s PATH] [-o name=value]...` runs it without a master.
#include <memory>

#include "lib/config/config.h"
#include "local/server.h"
#include "local/virtual_server.h"

using namespace postilion;

namespace {

local::ServeOne setup(service::Context& ctx) {
  const config::Config& conf = ctx.config();
  auto c = local::virtual_config_from([&](const char* n) {
    // Sizes may carry a unit (k, m, g): hand over plain bytes.
    if (std::string_view(n) == "virtual_mailbox_limit") return std::to_string(conf.bytes(n));
    return conf.str(n);
  });
  auto& server = ctx.keep(std::make_unique<local::VirtualServer>(service::required(std::move(c))));
  return [&server](int client) { return server.serve_one(client); };
}

}  // namespace

int main(int argc, char** argv) {
  return local::run_agent(argc, argv, "virtual", &local::virtual_params(), setup);
}
