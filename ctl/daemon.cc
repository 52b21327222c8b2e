// ctl/daemon.cc - `postilionctl start | stop | reload | status`: runs the master and
// talks to it over its control socket (lib/ipc: cmd=status|reload|stop).
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <thread>
#include <utility>
#include <vector>

#include "ctl/ctl.h"
#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/ipc/message.h"

namespace postilion::ctl {
namespace {

constexpr int kDefaultCallTimeoutMs = 10000;
constexpr int64_t kStartTimeoutMs = 30000;
constexpr int64_t kStopTimeoutMs = 30000;

// Loads main.conf and master.conf the way the master will, so that a bad config is
// reported here with file:line and nothing is started.
std::optional<config::Config> load_all(const Context& ctx) {
  auto cfg = load_config(ctx);
  if (!cfg) return std::nullopt;
  try {
    (void)config::load_master_conf(*cfg);
  } catch (const config::ConfigError& e) {
    complain(e.what());
    return std::nullopt;
  }
  return cfg;
}

Result<ipc::Message> ask(const config::Config& cfg, const char* cmd) {
  ipc::Message req;
  req.set("cmd", cmd);
  int timeout_ms = kDefaultCallTimeoutMs;
  if (config::find_param("master_control_timeout"))
    timeout_ms = static_cast<int>(std::clamp<int64_t>(cfg.seconds("master_control_timeout"), 1, 3600) * 1000);
  return ipc::call(control_socket(cfg), req, timeout_ms);
}

bool answers_ready(const config::Config& cfg) {
  auto r = ask(cfg, "status");
  return r && r->get_or("status", "") == "ok" && r->get_or("ready", "0") == "1";
}

// (pid, command name) of every live child of parent, from /proc.
std::vector<std::pair<int, std::string>> children_of(int parent) {
  std::vector<std::pair<int, std::string>> out;
  DIR* d = opendir("/proc");
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    auto pid = str::parse_int(e->d_name);
    if (!pid) continue;
    auto stat = file::read_file(std::string("/proc/") + e->d_name + "/stat", 4096);
    if (!stat) continue;
    auto open = stat->find('('), close = stat->rfind(')');
    if (open == std::string::npos || close == std::string::npos || close + 4 > stat->size()) continue;
    auto fields = str::split(std::string_view(*stat).substr(close + 2), " ");
    if (fields.size() < 2 || fields[0] == "Z" || str::parse_int(fields[1]) != parent) continue;
    out.emplace_back(static_cast<int>(*pid), stat->substr(open + 1, close - open - 1));
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

// The running master's pid; when there is none, says so (stop, reload, status).
std::optional<int> running_or_say(const config::Config& cfg) {
  auto pid = running_master(cfg);
  if (!pid) std::printf("postilionctl: not running\n");
  return pid;
}

}  // namespace

int cmd_start(const Context& ctx) {
  auto cfg = load_all(ctx);
  if (!cfg) return kBadConfig;
  if (auto pid = running_master(*cfg)) {
    complain("the master is already running (pid " + std::to_string(*pid) + ")");
    return kError;
  }
  std::string master = file::join(cfg->str("daemon_directory"), "master");
  if (access(master.c_str(), X_OK) != 0) {
    complain(master + ": not installed or not executable");
    return kError;
  }
  // Early master output (before its log is set up) goes to the maillog file if there is one.
  std::string out = config::find_param("maillog_file") ? cfg->str("maillog_file") : "";
  pid_t child = fork();
  if (child < 0) {
    complain(Error::from_errno("fork").str());
    return kError;
  }
  if (child == 0) {
    setsid();
    int null = open("/dev/null", O_RDWR);
    int err = out.empty() ? null : open(out.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (err < 0) err = null;
    dup2(null, 0);
    dup2(null, 1);
    dup2(err, 2);
    execl(master.c_str(), "master", "-c", ctx.config_dir.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Bounded wait: until the control socket says ready, the master exits, or time is up.
  const int64_t deadline = file::monotonic_ms() + kStartTimeoutMs;
  bool child_done = false;
  while (file::monotonic_ms() < deadline) {
    if (!child_done) {
      int status = 0;
      if (waitpid(child, &status, WNOHANG) == child) {
        child_done = true;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
          complain("the master exited during start-up (" +
                   std::string(WIFEXITED(status) ? "status " + std::to_string(WEXITSTATUS(status))
                                                 : "signal " + std::to_string(WTERMSIG(status))) +
                   ")" + (out.empty() ? "; see the mail log" : "; see " + out));
          return kError;
        }
        // Exit 0: the master put itself into the background; keep polling.
      }
    }
    if (answers_ready(*cfg)) {
      auto pid = running_master(*cfg);
      std::printf("postilionctl: started (pid %d)\n", pid ? *pid : static_cast<int>(child));
      return kOk;
    }
    sleep_ms(50);
  }
  complain("the master did not become ready within " + std::to_string(kStartTimeoutMs / 1000) +
           "s (pid " + std::to_string(child) + " left running; `postilionctl stop` ends it)");
  return kError;
}

int cmd_stop(const Context& ctx) {
  auto cfg = load_for_control(ctx);
  if (!cfg) return kBadConfig;
  auto pid = running_or_say(*cfg);
  if (!pid) return kNotRunning;
  auto r = ask(*cfg, "stop");
  if (!r || r->get_or("status", "") != "ok") {
    // The control socket is gone or confused: SIGTERM is the master's other stop signal.
    complain("control socket: " + (r ? std::string(r->get_or("text", "refused")) : r.error().str()) +
             "; sending SIGTERM to " + std::to_string(*pid));
    if (kill(*pid, SIGTERM) != 0) {
      complain(Error::from_errno("kill " + std::to_string(*pid)).str());
      return kError;
    }
  }
  const int64_t deadline = file::monotonic_ms() + kStopTimeoutMs;
  while (file::monotonic_ms() < deadline) {
    // The process itself, not the pid file: the master may remove that before it exits.
    if (!process_alive(*pid)) {
      std::printf("postilionctl: stopped\n");
      return kOk;
    }
    sleep_ms(50);
  }
  complain("the master (pid " + std::to_string(*pid) + ") did not stop within " +
           std::to_string(kStopTimeoutMs / 1000) + "s");
  return kError;
}

int cmd_reload(const Context& ctx) {
  auto cfg = load_all(ctx);
  if (!cfg) return kBadConfig;
  if (!running_or_say(*cfg)) return kNotRunning;
  auto r = ask(*cfg, "reload");
  if (!r) {
    complain("control socket: " + r.error().str());
    return kError;
  }
  if (r->get_or("status", "") != "ok") {
    complain("reload refused: " + r->get_or("text", "no reason given"));
    return kError;
  }
  std::printf("postilionctl: reloaded%s%s\n", r->has("text") ? ": " : "",
              r->get_or("text", "").c_str());
  return kOk;
}

int cmd_status(const Context& ctx) {
  auto cfg = load_for_control(ctx);
  if (!cfg) return kBadConfig;
  auto pid = running_or_say(*cfg);
  if (!pid) return kNotRunning;
  auto r = ask(*cfg, "status");
  if (!r) {
    std::printf("master: pid %d, control socket not answering (%s)\n", *pid, r.error().c_str());
    return kError;
  }
  bool ready = r->get_or("ready", "0") == "1";
  std::printf("master: pid %d, %s\n", *pid, ready ? "ready" : "starting");
  auto services = r->get_all("service");
  for (auto s : services) std::printf("  %.*s\n", static_cast<int>(s.size()), s.data());
  if (services.empty())  // the master listed nothing: show its children as the kernel sees them
    for (const auto& [child, name] : children_of(*pid)) std::printf("  %s pid %d\n", name.c_str(), child);
  if (r->has("text")) std::printf("%s\n", r->get_or("text", "").c_str());
  return ready ? kOk : kError;
}

}  // namespace postilion::ctl
