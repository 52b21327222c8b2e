// smtp/main.cc - entry point of smtp(8), Postilion's relay client: a delivery agent on
// private/smtp (and private/relay) serving qmgr's delivery requests one at a time.
// Until lib/service's skeleton is in place this runs on its own: it reads main.conf
// from -c CONFIG_DIR, takes -o name=value overrides, and listens on
// $queue_directory/private/<service> (-n service, default smtp) or -s PATH.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "lib/config/config.h"
#include "lib/ipc/message.h"
#include "lib/ipc/protocols.h"
#include "lib/log/log.h"
#include "smtp/setup.h"

using namespace postilion;

namespace {
volatile sig_atomic_t g_stop = 0;
void on_term(int) { g_stop = 1; }
}  // namespace

int main(int argc, char** argv) {
  std::string config_dir = SYSCONFDIR "/postilion", socket_path, service = "smtp";
  std::vector<std::string> overrides;
  int c;
  while ((c = getopt(argc, argv, "c:n:o:s:v")) != -1) {
    if (c == 'c') config_dir = optarg;
    else if (c == 'n') service = optarg;
    else if (c == 'o') overrides.push_back(optarg);
    else if (c == 's') socket_path = optarg;
    else if (c != 'v') {
      std::fprintf(stderr, "usage: smtp [-c config_dir] [-n service] [-s socket] [-o name=value]...\n");
      return 2;
    }
  }
  log::init(service);
  log::use_stderr();
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa {};
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  config::Config cfg;
  try {
    cfg = access((config_dir + "/main.conf").c_str(), F_OK) == 0 ? config::Config::load(config_dir)
                                                                 : config::Config::parse("", "main.conf", config_dir);
    for (const auto& o : overrides) {
      auto eq = o.find('=');
      if (eq == std::string::npos) throw config::ConfigError("-o " + o + ": expected name=value");
      cfg.set(o.substr(0, eq), o.substr(eq + 1));
    }
  } catch (const config::ConfigError& e) {
    log::fatal("%s", e.what());
  }
  auto agent = smtp_client::Runtime::create(cfg, service);
  if (!agent) log::fatal("%s", agent.error().c_str());
  if (socket_path.empty()) socket_path = cfg.str("queue_directory") + "/" + ipc::proto::kPrivateDir + service;
  auto lfd = ipc::listen_unix(socket_path, 0600);
  if (!lfd) log::fatal("%s", lfd.error().c_str());
  log::info("listening on %s", socket_path.c_str());
  while (!g_stop) {
    // Wake up now and then to close a cached connection that has idled too long.
    pollfd p{lfd->get(), POLLIN, 0};
    int r = poll(&p, 1, 1000);
    (*agent)->agent().expire_cache();
    if (r <= 0) continue;
    UniqueFd conn(accept4(lfd->get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn) continue;
    // One client (qmgr) at a time, several requests per connection.
    while (!g_stop) {
      auto req = ipc::read_message(conn.get(), 300000);
      if (!req) break;
      auto reply = (*agent)->agent().serve(*req);
      if (!ipc::write_message(conn.get(), reply, 60000)) break;
      if (reply.get_or("status", "") == "error") {
        log::warn("bad request from qmgr: %s", reply.get_or("text", "").c_str());
        break;
      }
    }
  }
  return 0;
}
