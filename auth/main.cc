// auth/main.cc - entry point of auth(8), the only reader of password data, run by
// master(8) through lib/service on private/auth. `auth --standalone [-c DIR]
// [-s SOCKET] [-o name=value]...` runs it without a master (tests, debugging).
#include <memory>
#include <string>
#include <vector>

#include "auth/backend.h"
#include "auth/server.h"
#include "auth/settings.h"
#include "lib/config/config.h"
#include "lib/event/event.h"
#include "lib/ipc/protocols.h"
#include "lib/service/service.h"

using namespace postilion;

namespace {

const std::vector<std::string_view> kParams = {
    "queue_directory", "auth_backends", "auth_virtual_users", "auth_system_min_uid", "auth_failure_delay",
    "auth_failure_max_delay", "auth_failure_limit", "auth_failure_window", "auth_verify_threads",
    "home_mailbox"};

std::unique_ptr<auth::Server> make_server(event::EventBase& base, const auth::Settings& settings) {
  return std::make_unique<auth::Server>(base, settings, service::required(auth::Backends::open(settings)));
}

}  // namespace

int main(int argc, char** argv) {
  service::Spec spec{.name = "auth", .kind = service::Kind::Stream};
  spec.params = &kParams;
  spec.socket = ipc::proto::kAuthSocket;
  spec.socket_mode = 0666;  // stand-alone: the socket's folder (private/, 0700) decides who may connect
  // Maps are opened and the worker threads started before any privilege change, so a
  // root auth (needed for shadow) and an unprivileged one (virtual users only) behave
  // the same.
  spec.pre_jail = [](service::Context& ctx) {
    auto& server = ctx.keep(make_server(ctx.loop(), service::required(auth::Settings::from_config(ctx.config()))));
    server.set_on_close([&ctx] { ctx.session_end(); });
  };
  spec.on_accept = [](service::Context& ctx, UniqueFd fd) { ctx.get<auth::Server>().accept(std::move(fd)); };
  return service::run(argc, argv, spec);
}
