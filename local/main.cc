// local/main.cc - entry point of local(8), the local delivery agent, run by master(8)
// through lib/service. A process serves one connection at a time and on it one request
// after another, in process (deliveries block, bounded by deadlines and an alarm); it
// reports itself busy meanwhile, so the master starts more processes up to maxproc.
// `local --standalone [-c DIR] [-s PATH] [-o name=value]...` runs it without a master
// (tests, debugging): four processes accept on the one socket.
#include <memory>
#include <string>

#include "lib/config/config.h"
#include "lib/service/service.h"
#include "local/server.h"
#include "local/settings.h"

using namespace postilion;

namespace {

const std::vector<std::string_view> kParams = {
    "queue_directory", "myhostname", "mydestination", "recipient_delimiter", "home_mailbox",
    "mail_spool_directory", "alias_maps", "default_privs", "command_time_limit",
    "allow_mail_to_commands", "allow_mail_to_files", "local_home_root", "mailbox_size_limit",
    "mailbox_command", "mailbox_command_maps", "luser_relay"};

Result<local::AllSettings> read_settings(const config::Config& conf) {
  return local::settings_from([&](const char* n) {
    // Sizes may carry a unit (k, m, g): hand over plain bytes.
    if (std::string_view(n) == "mailbox_size_limit") return std::to_string(conf.bytes(n));
    return conf.str(n);
  });
}

}  // namespace

int main(int argc, char** argv) {
  return local::run_agent(argc, argv, "local", &kParams, [](service::Context& ctx) -> local::ServeOne {
    auto& server = ctx.keep(std::make_unique<local::Server>(service::required(read_settings(ctx.config()))));
    return [&server](int client) { return server.serve_one(client); };
  });
}
