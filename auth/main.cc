// auth/main.cc - entry point of auth(8), the only reader of password data, run by
// master(8) through lib/service on private/auth. `auth --standalone [-c DIR]
// [-s SOCKET] [-o name=value]...` runs it without a master (tests, debugging).
#include <signal.h>
#include <unistd.h>

#include <cstring>
#include <memory>
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
#include "lib/service/service.h"

using namespace postilion;

namespace {

const std::vector<std::string_view> kParams = {
    "queue_directory", "auth_backends", "auth_virtual_users", "auth_system_min_uid", "auth_failure_delay",
    "auth_failure_max_delay", "auth_failure_limit", "auth_failure_window", "auth_verify_threads",
    "home_mailbox"};

std::unique_ptr<auth::Server> g_server;

std::unique_ptr<auth::Server> make_server(event::EventBase& base, const auth::Settings& settings) {
  auto backends = auth::Backends::open(settings);
  if (!backends) log::fatal("%s", backends.error().c_str());
  return std::make_unique<auth::Server>(base, settings, std::move(*backends));
}

int standalone(int argc, char** argv) {
  int rc = 0;
  service::Standalone sa = service::standalone_setup("auth", argc, argv, &rc);
  if (!sa.config) return rc;
  auth::Settings settings;
  try {
    settings = auth::Settings::from_config(*sa.config);
  } catch (const config::ConfigError& e) {
    log::fatal("%s", e.what());
  }
  std::string socket_path = sa.socket_path;
  if (socket_path.empty()) socket_path = settings.queue_directory + "/" + ipc::proto::kAuthSocket;
  event::EventBase base;
  auto server = make_server(base, settings);
  // 0666: the socket's folder (private/, mode 0700) decides who may connect.
  auto fd = ipc::listen_unix(socket_path, 0666);
  if (!fd) log::fatal("%s", fd.error().c_str());
  event::Listener listener(base, std::move(*fd),
                           [&](UniqueFd conn, const sockaddr*, int) { server->accept(std::move(conn)); });
  event::Signal term(base, SIGTERM, [&] { base.loopbreak(); });
  event::Signal intr(base, SIGINT, [&] { base.loopbreak(); });
  log::info("listening on %s", socket_path.c_str());
  base.loop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--standalone") == 0) return standalone(argc - 1, argv + 1);
  service::Spec spec{.name = "auth", .kind = service::Kind::Stream};
  spec.params = &kParams;
  // Maps are opened and the worker threads started before any privilege change, so a
  // root auth (needed for shadow) and an unprivileged one (virtual users only) behave
  // the same.
  spec.pre_jail = [](service::Context& ctx) {
    log::init("auth", ctx.config().str("syslog_name"));
    g_server = make_server(ctx.loop(), auth::Settings::from_config(ctx.config()));
    g_server->set_on_close([&ctx] { ctx.session_end(); });
  };
  spec.on_accept = [](service::Context&, UniqueFd fd) { g_server->accept(std::move(fd)); };
  int status = service::run(argc, argv, spec);
  _exit(status);
}
