// lib/service/service.h - the daemon skeleton: what every Postilion daemon does between
// main() and its first client. A daemon fills in a Spec and calls run(), which does, in
// order: options -> config (with -o overrides) -> logging -> pre_jail (open what needs
// root) -> chroot, drop gid/uid to mail_owner, verify -> post_jail -> event loop ->
// exit on max_idle, max_use, or the master's word.
//
// How master(8) starts a service (the whole protocol between them):
//   argv: COMMAND -c CONFIG_DIR -n SERVICE -t inet|unix -s N [-w SECS] [-u] [-j] [-l]
//         [-v] [-o name=value]... [master.conf args]
//     -u  unprivileged: drop to mail_owner (when started as root)
//     -j  chroot into queue_directory (when started as root)
//     -l  long-running (boot service): ignore max_idle and max_use
//     -f  foreground, by hand: log to stderr too; fds 3 and 4 need not exist
//   fd 3  status pipe (write end, shared by the service's processes): 8-byte records
//         {int32 pid, int32 state}, host byte order, state 1 = available, 0 = busy
//   fd 4  lifeline (read end): EOF means the master wants this process to finish its
//         clients and exit (reload), or the master is gone
//   fd 5 .. 5+N-1  listening sockets (inet: TCP; unix: stream socket)
//   SIGTERM: exit now.  Exit status 0 = normal end; anything else counts as a crash.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lib/base/unique_fd.h"
#include "lib/config/config.h"
#include "lib/event/event.h"

namespace postilion::service {

inline constexpr int kStatusFd = 3;
inline constexpr int kLifelineFd = 4;
inline constexpr int kListenFdBase = 5;
inline constexpr int32_t kStateBusy = 0;
inline constexpr int32_t kStateAvailable = 1;

enum class Kind {
  Stream,  // accepts connections on the listening sockets master passes
};

// The command line master passes (see above).
struct Options {
  std::string config_dir;
  std::string name;
  std::string type;  // "inet" or "unix"
  int listen_fds = 0;
  int wakeup = 0;
  bool unprivileged = false;
  bool chroot = false;
  bool long_running = false;
  bool verbose = false;
  bool foreground = false;
  std::vector<std::pair<std::string, std::string>> overrides;  // -o name=value
  std::vector<std::string> args;                               // the rest
};

// Parses argv. Bad options are an error value: *why says what is wrong.
std::optional<Options> parse_options(int argc, char** argv, std::string* why);
// The argv master builds for an entry (without the program path).
std::vector<std::string> make_argv(const Options& o);

class Context;

struct Spec {
  const char* name = "";
  Kind kind = Kind::Stream;
  // Names of the main.conf parameters this daemon reads; each is checked to exist at
  // start, so a misspelt name fails at once instead of at the first client.
  const std::vector<std::string_view>* params = nullptr;
  // Concurrent clients after which this process stops accepting and reports itself
  // busy, so that master starts another (0 = no limit).
  int max_clients = 0;
  std::function<void(Context&)> pre_jail;   // as root, before chroot and setuid
  std::function<void(Context&)> post_jail;  // unprivileged, before the loop
  // A new client. The daemon owns fd and calls ctx.session_end() when it is done.
  std::function<void(Context&, UniqueFd)> on_accept;
  // Every -w seconds (wakeup column of master.conf).
  std::function<void(Context&)> on_wakeup;
};

class Context {
 public:
  Context(const Spec& spec, Options opts, config::Config cfg);
  ~Context();

  const config::Config& config() const { return cfg_; }
  event::EventBase& loop() { return base_; }
  const std::string& name() const { return opts_.name; }
  const Options& options() const { return opts_; }

  // A client given to on_accept is finished.
  void session_end();
  // Serves a client one request at a time, blocking (delivery agents: local, smtp): each
  // time fd is readable, serve_one(fd) reads one request and answers it. A false return,
  // or the process being told to stop, ends the client (session_end()). Between
  // requests the loop hears the master.
  void serve_blocking(UniqueFd fd, std::function<bool(int fd)> serve_one);
  int sessions() const { return sessions_; }
  int served() const { return served_; }
  // Tells the master whether this process can take more clients (for spawn on demand).
  void set_busy(bool busy);
  // Stop accepting; exit once the current clients are done.
  void stop();

  // Used by run(): adopt the listening fds and arm the timers; then loop.
  void start(std::vector<UniqueFd> listen_fds, int status_fd, int lifeline_fd);
  bool stopping() const { return stopping_; }

 private:
  void accepted(UniqueFd fd);
  void maybe_exit();
  void report(int32_t state);

  const Spec& spec_;
  Options opts_;
  config::Config cfg_;
  event::EventBase base_;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int sessions_ = 0;
  int served_ = 0;
  bool stopping_ = false;
  bool busy_ = false;
  int status_fd_ = -1;
};

// The whole daemon. Returns the process exit status.
int run(int argc, char** argv, const Spec& spec);

// Stand-alone mode, for tests that run one daemon without master(8):
//   PROGRAM --standalone [-c CONFIG_DIR] [-n SERVICE] [-s SOCKET] [-l [ADDR:]PORT]...
//                        [-o name=value]... [-v]
// (argv as the daemon gets it after --standalone). Loads main.conf (none: the defaults)
// with the overrides, logs to maillog_file (else stderr) as `program`, ignores SIGPIPE.
// On bad usage or bad config it prints why and returns nullopt with *exit_code set
// (2 usage, 1 config).
struct Standalone {
  std::optional<config::Config> config;
  std::string socket_path;           // -s; "" = the daemon's usual socket
  std::string service;               // -n; "" = the program's name
  std::vector<std::string> listens;  // -l, for daemons that listen on TCP
  std::string config_dir;            // -c, as given (or the default)
  std::vector<std::string> overrides;  // -o, as given (name=value)
};
Standalone standalone_setup(const char* program, int argc, char** argv, int* exit_code);

}  // namespace postilion::service
