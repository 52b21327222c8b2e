// ctl/common.cc - what every postilionctl command shares: loading the configuration,
// messages, and where the master keeps its pid and control socket.
#include <signal.h>

#include <cstdio>
#include <fstream>

#include "ctl/ctl.h"
#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/ipc/protocols.h"

namespace postilion::ctl {

void complain(const std::string& text) { std::fprintf(stderr, "postilionctl: %s\n", text.c_str()); }

std::optional<config::Config> load_config(const Context& ctx) {
  if (!file::exists(file::join(ctx.config_dir, "main.conf"))) {
    complain(file::join(ctx.config_dir, "main.conf") +
             ": no such file (run `postilionctl -c " + ctx.config_dir + " init`)");
    return std::nullopt;
  }
  try {
    return config::Config::load(ctx.config_dir);
  } catch (const config::ConfigError& e) {
    complain(e.what());
    return std::nullopt;
  }
}

std::optional<config::Config> load_for_control(const Context& ctx) {
  const std::string main_conf = file::join(ctx.config_dir, "main.conf");
  if (!file::exists(main_conf)) return load_config(ctx);  // says what is missing
  try {
    return config::Config::load(ctx.config_dir);
  } catch (const config::ConfigError& e) {
    // The last queue_directory line, as the master read it when main.conf was good.
    std::string line;
    if (auto text = file::read_file(main_conf, 1 << 22)) {
      for (const auto& l : str::split(*text, "\n")) {
        std::string_view v = l;
        auto eq = v.find('=');
        if (eq != std::string_view::npos && str::trim(v.substr(0, eq)) == "queue_directory")
          line = "queue_directory = " + std::string(str::trim(v.substr(eq + 1)));
      }
    }
    config::Config cfg = config::Config::parse("", main_conf, ctx.config_dir);
    try {
      if (!line.empty()) cfg = config::Config::parse(line, main_conf, ctx.config_dir);
    } catch (const config::ConfigError&) {
      // A bad queue_directory line too: the default is the last place to look.
    }
    complain(std::string(e.what()) + " (the master is found through queue_directory = " +
             cfg.str("queue_directory") + ")");
    return cfg;
  }
}

std::string pid_file(const config::Config& cfg) {
  return file::join(cfg.str("queue_directory"), "pid/master.pid");
}

std::string control_socket(const config::Config& cfg) {
  return file::join(cfg.str("queue_directory"), ipc::proto::kMasterSocket);
}

// kill(pid, 0) also succeeds for a zombie nobody has reaped yet; that is not running.
bool process_alive(int pid) {
  if (kill(pid, 0) != 0 && errno != EPERM) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;  // no /proc: trust kill()
  auto paren = line.rfind(')');
  return paren == std::string::npos || line.size() < paren + 3 || line[paren + 2] != 'Z';
}

std::optional<int> running_master(const config::Config& cfg) {
  auto text = file::read_file(pid_file(cfg), 64);
  if (!text) return std::nullopt;
  auto pid = str::parse_int(str::trim(*text));
  if (!pid || *pid <= 1 || !process_alive(static_cast<int>(*pid))) return std::nullopt;
  return static_cast<int>(*pid);
}

}  // namespace postilion::ctl
