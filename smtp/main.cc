// smtp/main.cc - entry point of smtp(8), Postilion's relay client: a delivery agent on
// private/smtp (and private/relay) run by master(8) through lib/service. Each process
// serves one request at a time, as Postfix's smtp does: a request is read, delivered
// with deadline-bounded blocking I/O and answered, and the process reports itself busy
// meanwhile so that the master starts more processes for concurrency.
// `smtp --standalone [-c DIR] [-n SERVICE] [-s PATH] [-o name=value]...` runs it without
// a master (tests, debugging), listening on PATH or $queue_directory/private/SERVICE.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>

#include "lib/config/config.h"
#include "lib/event/event.h"
#include "lib/ipc/message.h"
#include "lib/ipc/protocols.h"
#include "lib/log/log.h"
#include "lib/service/service.h"
#include "smtp/setup.h"

using namespace postilion;

namespace {

constexpr int kRequestReadMs = 10000;  // a request frame, once it has started to arrive
constexpr int kReplyWriteMs = 60000;

const std::vector<std::string_view> kParams = {
    "queue_directory", "smtp_helo_name", "smtp_bind_address", "smtp_connect_timeout", "smtp_helo_timeout",
    "smtp_command_timeout", "smtp_data_done_timeout", "smtp_skip_5xx_greeting", "smtp_destination_port",
    "smtp_mx_address_limit", "smtp_mx_session_limit", "smtp_tls_security_level", "smtp_connection_reuse",
    "smtp_connection_cache_time_limit", "smtp_tls_CAfile", "smtp_sasl_auth_enable", "smtp_sasl_password_maps",
    "smtp_tls_policy_maps", "resolver_query_timeout"};

// Serves one request from fd; false when the client is gone or sent garbage.
bool serve_one(smtp_client::Agent& agent, int fd) {
  auto req = ipc::read_message(fd, kRequestReadMs);
  if (!req) return false;
  auto reply = agent.serve(*req);
  if (!ipc::write_message(fd, reply, kReplyWriteMs)) return false;
  if (reply.get_or("status", "") == "error") {
    log::warn("bad request: %s", reply.get_or("text", "").c_str());
    return false;
  }
  return true;
}

volatile sig_atomic_t g_stop = 0;
void on_term(int) { g_stop = 1; }

int standalone(int argc, char** argv) {
  int rc = 0;
  service::Standalone sa = service::standalone_setup("smtp", argc, argv, &rc);
  if (!sa.config) return rc;
  const config::Config& cfg = *sa.config;
  std::string service = sa.service.empty() ? "smtp" : sa.service;
  log::init(service);  // logs under its service name (relay, smtp)
  struct sigaction sa_term {};
  sa_term.sa_handler = on_term;
  sigaction(SIGTERM, &sa_term, nullptr);
  sigaction(SIGINT, &sa_term, nullptr);
  auto rt = smtp_client::Runtime::create(cfg, service);
  if (!rt) log::fatal("%s", rt.error().c_str());
  std::string socket_path = sa.socket_path;
  if (socket_path.empty()) socket_path = cfg.str("queue_directory") + "/" + ipc::proto::kPrivateDir + service;
  auto lfd = ipc::listen_unix(socket_path, 0600);
  if (!lfd) log::fatal("%s", lfd.error().c_str());
  log::info("listening on %s", socket_path.c_str());
  while (!g_stop) {
    pollfd p{lfd->get(), POLLIN, 0};
    int r = poll(&p, 1, 1000);
    (*rt)->agent().expire_cache();
    if (r <= 0) continue;
    UniqueFd conn(accept4(lfd->get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn) continue;
    while (!g_stop) {
      pollfd q{conn.get(), POLLIN, 0};
      int rr = poll(&q, 1, 1000);
      (*rt)->agent().expire_cache();
      if (rr < 0 && errno != EINTR) break;
      if (rr <= 0) continue;
      if (!serve_one((*rt)->agent(), conn.get())) break;
    }
  }
  return 0;
}

std::unique_ptr<smtp_client::Runtime> g_runtime;
std::unique_ptr<event::Timer> g_cache_timer;

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--standalone") == 0) return standalone(argc - 1, argv + 1);
  service::Spec spec{.name = "smtp", .kind = service::Kind::Stream};
  spec.params = &kParams;
  spec.max_clients = 1;  // busy while serving one client: the master starts another process
  spec.pre_jail = [](service::Context& ctx) {
    // Maps and CA files are opened here, before a chroot could hide them.
    auto rt = smtp_client::Runtime::create(ctx.config(), ctx.name());
    if (!rt) throw config::ConfigError(rt.error().str());
    g_runtime = std::move(*rt);
    g_cache_timer = std::make_unique<event::Timer>(ctx.loop(), [] { g_runtime->agent().expire_cache(); });
    g_cache_timer->repeat(1000);
  };
  // Blocking from a request to its reply, bounded by the request's deadlines: one
  // delivery at a time per process.
  spec.on_accept = [](service::Context& ctx, UniqueFd fd) {
    ctx.serve_blocking(std::move(fd), [](int client) { return serve_one(g_runtime->agent(), client); });
  };
  int rc = service::run(argc, argv, spec);
  // A polite QUIT on the cached connection rather than a dropped one (max_use, idle).
  if (g_runtime) g_runtime->agent().close_cache();
  (void)g_runtime.release();
  (void)g_cache_timer.release();
  return rc;
}
