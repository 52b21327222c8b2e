// lib/service/service.h - the daemon skeleton: what every Postilion daemon does between
// main() and its first client. A daemon fills in a Spec and calls run(), which does, in
// order: options -> config (with -o overrides) -> logging -> pre_jail (open what needs
// root) -> chroot, drop gid/uid to mail_owner, verify -> post_jail -> event loop ->
// exit on max_idle, max_use, or the master's word.
//
// How master(8) starts a service (the whole protocol between them):
//   argv: COMMAND -c CONFIG_DIR -n SERVICE -t inet|unix|pass -s N [-w SECS] [-u] [-j] [-l]
//         [-v] [-o name=value]... [master.conf args]
//     -u  unprivileged: drop to mail_owner (when started as root)
//     -j  chroot into queue_directory (when started as root)
//     -l  long-running (boot service): ignore max_idle and max_use
//     -f  foreground, by hand: log to stderr too; fds 3 and 4 need not exist
//   fd 3  status pipe (write end, shared by the service's processes): 8-byte records
//         {int32 pid, int32 state}, host byte order, state 1 = available, 0 = busy
//   fd 4  lifeline (read end): EOF means the master wants this process to finish its
//         clients and exit (reload), or the master is gone
//   fd 5 .. 5+N-1  listening sockets (inet: TCP; unix: stream socket; pass: a unix
//         stream socket on which each connection brings one client by SCM_RIGHTS and
//         one data byte, as postscreen(8) sends it; on_accept gets that client)
//   SIGTERM: exit now.  Exit status 0 = normal end; anything else counts as a crash.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <typeinfo>
#include <utility>
#include <vector>

#include "lib/base/parsed.h"
#include "lib/base/result.h"
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
  Stream,   // on_accept serves each client in this process
  Session,  // each client is served by a fresh process of this program (see below)
};

// The command line master passes (see above).
struct Options {
  std::string config_dir;
  std::string name;
  std::string type;  // "inet", "unix" or "pass"
  int listen_fds = 0;
  int wakeup = 0;
  bool unprivileged = false;
  bool chroot = false;
  bool long_running = false;
  bool verbose = false;
  bool foreground = false;
  std::string client_ip;  // -a: a session process's client (Kind::Session)
  std::vector<std::pair<std::string, std::string>> overrides;  // -o name=value
  std::vector<std::string> args;                               // the rest
};

// Parses argv. Bad options are refused with what is wrong.
Parsed<Options> parse_options(int argc, char** argv);
// The argv master builds for an entry (without the program path).
std::vector<std::string> make_argv(const Options& o);

class Context;
struct SessionLimits;  // lib/service/launcher.h

struct Spec {
  const char* name = "";
  Kind kind = Kind::Stream;
  // Names of the main.conf parameters this daemon reads; each is checked to exist at
  // start, so a misspelt name fails at once instead of at the first client.
  const std::vector<std::string_view>* params = nullptr;
  // Concurrent clients after which this process stops accepting and reports itself
  // busy, so that master starts another (0 = no limit).
  int max_clients = 0;
  // A daemon that serves every client of its service in one process (postscreen: a
  // master.conf maxproc of 1) ignores max_use: a used-up process would stop taking
  // clients while its current ones take their time, and no other may start meanwhile.
  bool ignore_max_use = false;
  std::function<void(Context&)> pre_jail;   // as root, before chroot and setuid
  std::function<void(Context&)> post_jail;  // unprivileged, before the loop
  // Kind::Stream: a new client. The daemon owns fd and calls ctx.session_end() when it
  // is done.
  std::function<void(Context&, UniqueFd)> on_accept;
  // Every -w seconds (wakeup column of master.conf).
  std::function<void(Context&)> on_wakeup;

  // Kind::Session. The listener only accepts: for each connection the connection
  // limits are checked (lib/service/launcher.h), and a session process runs this
  // program again as `PROGRAM --session -c DIR -n SERVICE [-o name=value]... -a IP`,
  // the client on fd 0. That process loads the same config and overrides, logs as
  // the listener does, and calls on_session with the client (moved off fd 0, which
  // becomes /dev/null) and its address; on_session's return is the exit status. It
  // starts with the listener's ids (root in production: master.conf's unpriv column
  // says n) and gives them up itself (lib/service/privs.h): typically a login
  // process as mail_owner (drop_to_login_user) reads the client, and after auth(8)
  // says yes the session becomes the mailbox owner (drop_to). Bad config: throw
  // config::ConfigError (a fatal start of that one session).
  //   spec.kind = service::Kind::Session;
  //   spec.session_limits = [](service::Context& ctx) { ...; return limits; };
  //   spec.on_session = [](service::Context& ctx, UniqueFd client, const std::string& ip) {
  //     return imapd::run_session(settings_from(ctx.config()), std::move(client), ip);
  //   };
  // session_limits runs in the listener as root, before the jail (a TLS key for the
  // refusals of wrapper mode may be readable by root only).
  std::function<SessionLimits(Context&)> session_limits;
  std::function<int(Context&, UniqueFd client, const std::string& client_ip)> on_session;

  // --standalone (below): a unix-socket daemon listens on socket (under
  // queue_directory; nullptr: private/SERVICE) with socket_mode; an inet daemon
  // (inet = true) on the -l addresses instead. standalone_processes > 1: that many
  // processes accept on the one socket (replaced when one dies), for agents that
  // serve one client at a time.
  const char* socket = nullptr;
  unsigned socket_mode = 0600;
  bool inet = false;
  int standalone_processes = 1;
};

class Context {
 public:
  Context(const Spec& spec, Options opts, config::Config cfg);
  ~Context();

  const config::Config& config() const { return cfg_; }
  event::EventBase& loop() { return base_; }
  const std::string& name() const { return opts_.name; }
  const Options& options() const { return opts_; }

  // Keeps the daemon's object for the life of the loop: objects kept are destroyed in
  // reverse order when the context ends, before the loop their events live on.
  // get<T>() returns the one kept T (a bug, and a panic, when there is none).
  template <class T>
  T& keep(std::unique_ptr<T> obj) {
    T& ref = *obj;
    kept_.push_back(Kept{&typeid(T), std::unique_ptr<void, void (*)(void*)>(
                                         obj.release(), [](void* p) { delete static_cast<T*>(p); })});
    return ref;
  }
  template <class T>
  T& get() {
    for (auto& k : kept_)
      if (*k.type == typeid(T)) return *static_cast<T*>(k.obj.get());
    no_such_object(typeid(T).name());
  }

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

  // Used by run(): Kind::Session's launcher (as root, before the jail); adopt the
  // listening fds and arm the timers; then loop.
  void start_sessions(SessionLimits limits, std::vector<std::string> command);
  void start(std::vector<UniqueFd> listen_fds, int status_fd, int lifeline_fd);
  bool stopping() const { return stopping_; }

 private:
  void accepted(UniqueFd fd);
  void take_handover(UniqueFd conn);
  void maybe_exit();
  void report(int32_t state);
  [[noreturn]] void no_such_object(const char* type);

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
  struct Kept {
    const std::type_info* type;
    std::unique_ptr<void, void (*)(void*)> obj;
  };
  std::vector<Kept> kept_;  // emptied in reverse order by ~Context, before the loop goes
};

// The whole daemon, in one of three forms; returns the process exit status.
//   PROGRAM [master's options]      under master(8) (above)
//   PROGRAM --session ...           Kind::Session: one client (see Spec::on_session)
//   PROGRAM --standalone [-c CONFIG_DIR] [-n SERVICE] [-s SOCKET] [-l [ADDR:]PORT]...
//                        [-o name=value]... [-v]
// Stand-alone runs one daemon without master(8) (tests, debugging), from the same
// Spec: main.conf is loaded when CONFIG_DIR has one (else the defaults), with the
// overrides; it logs to maillog_file (else stderr); pre_jail and post_jail run, with
// no jail (the process keeps its ids); it listens on SOCKET (or Spec::socket) or, for
// an inet daemon, on each -l, and runs until SIGTERM or SIGINT (never idle-exits).
// Usage errors exit 2, config errors 1.
int run(int argc, char** argv, const Spec& spec);

// For the hooks above: a daemon's settings (every from_config and settings_from returns
// Result) or what it needs to start. An Error ends the start the way a bad main.conf
// does: run() logs it and exits 1 (a session process: that session).
// `what`, when given, goes before the reason ("TLS: ...").
template <class T>
T required(Result<T> r, std::string_view what = {}) {
  if (!r) throw config::ConfigError((what.empty() ? "" : std::string(what) + ": ") + r.error().str());
  return std::move(*r);
}
inline void required(Status st, std::string_view what = {}) {
  if (!st) throw config::ConfigError((what.empty() ? "" : std::string(what) + ": ") + st.error().str());
}

}  // namespace postilion::service
