// ctl/ctl.h - postilionctl(8): the command groups and what they share.
// Each command returns an exit code (ExitCode); none throws: configuration errors are
// caught where they are read and reported as "file:line: ..." with exit code BadConfig.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "lib/config/config.h"

namespace postilion::ctl {

enum ExitCode : int {
  kOk = 0,          // done; for status: running and ready
  kNotRunning = 1,  // the master is not running
  kBadConfig = 2,   // main.conf / master.conf wrong, or `check` found problems
  kError = 3,       // anything else (cannot start, timeout, I/O error)
};

struct Context {
  std::string config_dir;
  std::vector<std::string> args;  // after the command word
};

// Loads main.conf; on failure prints "postilionctl: <file:line: why>" and returns nullopt.
std::optional<config::Config> load_config(const Context& ctx);
// For stop and status, which must work however main.conf was broken after the start:
// main.conf as load_config reads it; when that fails, a warning and a configuration
// that holds only main.conf's queue_directory line (the default when that line is bad
// too), which is all that finding the master's pid file and control socket needs.
// nullopt only when there is no main.conf.
std::optional<config::Config> load_for_control(const Context& ctx);
// Prints an error line "postilionctl: ..." on stderr.
void complain(const std::string& text);

int cmd_init(const Context& ctx);      // init.cc
int cmd_install(const Context& ctx);   // install.cc
int cmd_start(const Context& ctx);     // daemon.cc
int cmd_stop(const Context& ctx);
int cmd_reload(const Context& ctx);
int cmd_status(const Context& ctx);
int cmd_check(const Context& ctx);     // check.cc
int cmd_config(const Context& ctx);    // config_cmd.cc
int cmd_map(const Context& ctx);       // map.cc
int cmd_queue(const Context& ctx);     // queue.cc
int cmd_user(const Context& ctx);      // queue.cc

// Master state shared by daemon.cc and check.cc.
std::string pid_file(const config::Config& cfg);
std::string control_socket(const config::Config& cfg);
// True while pid names a process that is not a zombie.
bool process_alive(int pid);
// The master's pid when its pid file names a live process.
std::optional<int> running_master(const config::Config& cfg);

// main.conf editing (config_cmd.cc), pure so it can be tested: replaces the logical
// line (with its continuation lines) that sets name, keeping everything else, or appends.
std::string set_main_conf_value(const std::string& text, const std::string& name,
                                const std::string& value);

}  // namespace postilion::ctl
