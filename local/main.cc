// local/main.cc - entry point of local(8), the local delivery agent, run by master(8)
// through lib/service. A process serves one connection at a time and on it one request
// after another, in process (deliveries block, bounded by deadlines and an alarm); it
// reports itself busy meanwhile, so the master starts more processes up to maxproc.
// `local --standalone [-c DIR] [-s PATH] [-o name=value]...` runs it without a master
// (tests, debugging): kStandaloneWorkers processes accept on the one socket.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "lib/config/config.h"
#include "lib/event/event.h"
#include "lib/ipc/message.h"
#include "lib/ipc/protocols.h"
#include "lib/log/log.h"
#include "lib/service/service.h"
#include "local/server.h"
#include "local/settings.h"

using namespace postilion;

namespace {

constexpr int kStandaloneWorkers = 4;

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

// Stand-alone: workers share the listening socket, each serving one connection at a
// time. They die with the parent (a kill -9 of it is a kill -9 of every delivery).
int standalone(int argc, char** argv) {
  int rc = 0;
  service::Standalone sa = service::standalone_setup("local", argc, argv, &rc);
  if (!sa.config) return rc;
  auto all = read_settings(*sa.config);
  if (!all) log::fatal("%s", all.error().c_str());
  std::string socket_path = sa.socket_path;
  if (socket_path.empty()) socket_path = all->queue_directory + "/" + ipc::proto::kPrivateDir + "local";
  auto fd = ipc::listen_unix(socket_path, 0600);
  if (!fd) log::fatal("%s", fd.error().c_str());
  local::agent_signals();
  pid_t parent = ::getpid();
  auto spawn = [&]() {
    pid_t pid = ::fork();
    if (pid != 0) {
      if (pid < 0) log::warn("fork: %s", std::strerror(errno));
      return;
    }
    // The kernel clears the parent-death signal whenever the effective ids change, as
    // they do for every mailbox write: it is armed again after each request.
    auto die_with_parent = [parent] {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(0);
    };
    die_with_parent();
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    log::reset_pid();
    local::Server server(*all);
    for (;;) {
      UniqueFd conn(::accept4(fd->get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!conn) continue;
      bool more = true;
      while (more) {
        more = server.serve_one(conn.get());
        die_with_parent();
      }
    }
  };
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGCHLD);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  for (int i = 0; i < kStandaloneWorkers; ++i) spawn();
  // A worker that died (the write alarm, a panic) is replaced; TERM or INT ends all.
  for (;;) {
    int sig = 0;
    sigwait(&set, &sig);
    if (sig != SIGCHLD) break;
    while (::waitpid(-1, nullptr, WNOHANG) > 0) spawn();
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--standalone") == 0) return standalone(argc - 1, argv + 1);
  static std::unique_ptr<local::Server> server;
  return local::run_agent(argc, argv, "local", &kParams, [](const config::Config& conf) -> local::ServeOne {
    auto all = read_settings(conf);
    if (!all) throw config::ConfigError(all.error().str());
    server = std::make_unique<local::Server>(std::move(*all));
    return [](int client) { return server->serve_one(client); };
  });
}
