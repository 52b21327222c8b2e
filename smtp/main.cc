// smtp/main.cc - entry point of smtp(8), Postilion's relay client: a delivery agent on
// private/smtp (and private/relay) run by master(8) through lib/service. Each process
// serves one request at a time, as Postfix's smtp does: a request is read, delivered
// with deadline-bounded blocking I/O and answered, and the process reports itself busy
// meanwhile so that the master starts more processes for concurrency.
// `smtp --standalone [-c DIR] [-n SERVICE] [-s PATH] [-o name=value]...` runs it without
// a master (tests, debugging), listening on PATH or $queue_directory/private/SERVICE.
#include <memory>
#include <string>

#include "lib/config/config.h"
#include "lib/event/event.h"
#include "lib/ipc/message.h"
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

// The relay client of this process: its runtime (maps, TLS, the cached connection)
// and the timer that closes cached connections when they expire.
struct Client {
  std::unique_ptr<smtp_client::Runtime> runtime;
  event::Timer cache_timer;
  // A polite QUIT on the cached connection rather than a dropped one (max_use, idle).
  ~Client() {
    if (runtime) runtime->agent().close_cache();
  }
};

}  // namespace

int main(int argc, char** argv) {
  service::Spec spec{.name = "smtp", .kind = service::Kind::Stream};
  spec.params = &kParams;
  spec.max_clients = 1;  // busy while serving one client: the master starts another process
  spec.pre_jail = [](service::Context& ctx) {
    // Maps and CA files are opened here, before a chroot could hide them.
    auto& c = ctx.keep(std::make_unique<Client>());
    c.runtime = service::required(smtp_client::Runtime::create(ctx.config(), ctx.name()));
    c.cache_timer = event::Timer(ctx.loop(), [&c] { c.runtime->agent().expire_cache(); });
    c.cache_timer.repeat(1000);
  };
  // Blocking from a request to its reply, bounded by the request's deadlines: one
  // delivery at a time per process.
  spec.on_accept = [](service::Context& ctx, UniqueFd fd) {
    auto& agent = ctx.get<Client>().runtime->agent();
    ctx.serve_blocking(std::move(fd), [&agent](int client) { return serve_one(agent, client); });
  };
  return service::run(argc, argv, spec);
}
