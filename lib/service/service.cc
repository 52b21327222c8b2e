// lib/service/service.cc - the daemon skeleton: options, config, logging, jail, loop.
#include "lib/service/service.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <map>

#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/event/listener.h"
#include "lib/ipc/message.h"
#include "lib/ipc/metrics.h"
#include "lib/ipc/protocols.h"
#include "lib/log/log.h"
#include "lib/service/launcher.h"
#include "lib/service/privs.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif

namespace postilion::service {
namespace {

const char* const kUsage =
    "usage: SERVICE -c config_dir -n name -t inet|unix|pass -s listen_fds [-w wakeup_secs] "
    "[-u] [-j] [-l] [-f] [-v] [-a client_ip] [-o name=value]... [args]";

bool fd_open(int fd) { return ::fcntl(fd, F_GETFD) >= 0; }

}  // namespace

namespace {

// parse_options(), with why set on a refusal.
std::optional<Options> read_options(int argc, char** argv, std::string* why) {
  Options o;
  auto value = [&](int& i, const char* flag) -> std::optional<std::string> {
    if (i + 1 >= argc) {
      *why = std::string("option ") + flag + " needs a value";
      return std::nullopt;
    }
    return std::string(argv[++i]);
  };
  auto number = [&](const std::string& v, const char* flag, int* out) {
    auto n = str::parse_int(v);
    if (!n || *n < 0 || *n > 1000000) {
      *why = std::string("option ") + flag + ": not a number: \"" + str::printable(v, 40) + "\"";
      return false;
    }
    *out = static_cast<int>(*n);
    return true;
  };
  int i = 1;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a.size() != 2 || a[0] != '-') break;
    switch (a[1]) {
      case 'c': { auto v = value(i, "-c"); if (!v) return std::nullopt; o.config_dir = *v; break; }
      case 'n': { auto v = value(i, "-n"); if (!v) return std::nullopt; o.name = *v; break; }
      case 'a': { auto v = value(i, "-a"); if (!v) return std::nullopt; o.client_ip = *v; break; }
      case 't': {
        auto v = value(i, "-t");
        if (!v) return std::nullopt;
        if (*v != "inet" && *v != "unix" && *v != "pass") {
          *why = "option -t: expected inet, unix or pass, got \"" + str::printable(*v, 40) + "\"";
          return std::nullopt;
        }
        o.type = *v;
        break;
      }
      case 's': { auto v = value(i, "-s"); if (!v || !number(*v, "-s", &o.listen_fds)) return std::nullopt; break; }
      case 'w': { auto v = value(i, "-w"); if (!v || !number(*v, "-w", &o.wakeup)) return std::nullopt; break; }
      case 'o': {
        auto v = value(i, "-o");
        if (!v) return std::nullopt;
        auto eq = v->find('=');
        if (eq == std::string::npos || eq == 0) {
          *why = "option -o: expected name=value, got \"" + str::printable(*v, 80) + "\"";
          return std::nullopt;
        }
        o.overrides.emplace_back(v->substr(0, eq), v->substr(eq + 1));
        break;
      }
      case 'u': o.unprivileged = true; break;
      case 'j': o.chroot = true; break;
      case 'l': o.long_running = true; break;
      case 'v': o.verbose = true; break;
      case 'f': o.foreground = true; break;
      default:
        *why = "unknown option " + str::printable(a, 10) + "; " + kUsage;
        return std::nullopt;
    }
  }
  for (; i < argc; ++i) o.args.emplace_back(argv[i]);
  if (o.listen_fds > 256) {
    *why = "option -s: too many listening sockets";
    return std::nullopt;
  }
  return o;
}

}  // namespace

Parsed<Options> parse_options(int argc, char** argv) {
  std::string why;
  auto o = read_options(argc, argv, &why);
  if (!o) return Parsed<Options>::bad(why);
  return std::move(*o);
}

std::vector<std::string> make_argv(const Options& o) {
  std::vector<std::string> v;
  if (!o.config_dir.empty()) v.insert(v.end(), {"-c", o.config_dir});
  if (!o.name.empty()) v.insert(v.end(), {"-n", o.name});
  if (!o.type.empty()) v.insert(v.end(), {"-t", o.type});
  if (!o.client_ip.empty()) v.insert(v.end(), {"-a", o.client_ip});
  v.insert(v.end(), {"-s", std::to_string(o.listen_fds)});
  if (o.wakeup > 0) v.insert(v.end(), {"-w", std::to_string(o.wakeup)});
  if (o.unprivileged) v.push_back("-u");
  if (o.chroot) v.push_back("-j");
  if (o.long_running) v.push_back("-l");
  if (o.verbose) v.push_back("-v");
  if (o.foreground) v.push_back("-f");
  for (auto& [n, val] : o.overrides) v.insert(v.end(), {"-o", n + "=" + val});
  v.insert(v.end(), o.args.begin(), o.args.end());
  return v;
}

// ---- Context -------------------------------------------------------------------

struct Context::Impl {
  std::vector<event::Listener> listeners;
  event::Event lifeline;
  event::Timer idle;
  event::Timer wakeup;
  std::unique_ptr<event::Signal> term;
  struct BlockingClient {
    UniqueFd fd;
    event::Event ev;
  };
  std::map<int, std::unique_ptr<BlockingClient>> blocking;  // serve_blocking(), by fd
  // A pass service (-t pass): connections from the daemon that hands over a client,
  // waiting for the descriptor, by fd.
  struct Handover {
    UniqueFd fd;
    event::Event ev;
  };
  std::map<int, std::unique_ptr<Handover>> handovers;
  std::unique_ptr<Launcher> launcher;                        // Kind::Session
};

Context::Context(const Spec& spec, Options opts, config::Config cfg)
    : spec_(spec), opts_(std::move(opts)), cfg_(std::move(cfg)), impl_(std::make_unique<Impl>()) {}

Context::~Context() {
  // The daemon's objects first, newest first: they may use what was kept before them,
  // and their events live on the loop, which goes last.
  while (!kept_.empty()) kept_.pop_back();
}

void Context::no_such_object(const char* type) { PANIC("%s: no object of type %s kept", spec_.name, type); }

void Context::start_sessions(SessionLimits limits, std::vector<std::string> command) {
  impl_->launcher = std::make_unique<Launcher>(base_, std::move(command), std::move(limits),
                                               file::join(cfg_.str("queue_directory"), ipc::proto::kAnvilSocket),
                                               opts_.name, [this] { session_end(); });
}

void Context::serve_blocking(UniqueFd fd, std::function<bool(int)> serve_one) {
  int key = fd.get();
  auto c = std::make_unique<Impl::BlockingClient>();
  c->fd = std::move(fd);
  c->ev = event::Event(base_, key, EV_READ | EV_PERSIST, [this, key, serve_one = std::move(serve_one)](short) {
    auto it = impl_->blocking.find(key);
    if (it == impl_->blocking.end()) return;
    if (!serve_one(it->second->fd.get()) || stopping()) {
      it->second->ev.del();
      base_.defer_delete(std::move(it->second));
      impl_->blocking.erase(it);
      session_end();
    }
  });
  c->ev.add();
  impl_->blocking[key] = std::move(c);
}

void Context::report(int32_t state) {
  if (status_fd_ < 0) return;
  int32_t rec[2] = {static_cast<int32_t>(::getpid()), state};
  // One write under PIPE_BUF is atomic; a full pipe only loses a hint (EAGAIN).
  if (::write(status_fd_, rec, sizeof rec) < 0 && errno == EPIPE) status_fd_ = -1;
}

void Context::set_busy(bool busy) {
  if (busy == busy_) return;
  busy_ = busy;
  report(busy ? kStateBusy : kStateAvailable);
}

void Context::accepted(UniqueFd fd) {
  ++sessions_;
  ++served_;
  impl_->idle.stop();
  int64_t max_use = cfg_.integer("max_use");
  if (!opts_.long_running && !spec_.ignore_max_use && max_use > 0 && served_ >= max_use) {
    // This process is used up: no more clients; exit after the current ones.
    stop();
  } else if (spec_.max_clients > 0 && sessions_ >= spec_.max_clients) {
    // Full: leave further clients in the backlog for another process.
    for (auto& l : impl_->listeners) l.disable();
    set_busy(true);
  }
  if (impl_->launcher) {
    if (!impl_->launcher->launch(std::move(fd))) session_end();
  } else if (spec_.on_accept) {
    spec_.on_accept(*this, std::move(fd));
  } else {
    session_end();
  }
}

void Context::session_end() {
  if (sessions_ > 0) --sessions_;
  if (!stopping_ && spec_.max_clients > 0 && sessions_ < spec_.max_clients) {
    for (auto& l : impl_->listeners) l.enable();
    set_busy(false);
  }
  maybe_exit();
}

void Context::maybe_exit() {
  if (sessions_ > 0) return;
  if (stopping_) {
    base_.loopbreak();
    return;
  }
  int64_t idle = cfg_.seconds("max_idle");
  if (!opts_.long_running && idle > 0 && opts_.listen_fds > 0) impl_->idle.start(idle * 1000);
}

void Context::stop() {
  if (stopping_) return;
  stopping_ = true;
  set_busy(true);  // the master must not count on this process any more
  impl_->listeners.clear();
  impl_->lifeline.del();
  impl_->wakeup.stop();
  impl_->idle.stop();
  maybe_exit();
}

// A pass service: the connection carries one client descriptor (SCM_RIGHTS, one data
// byte), sent by postscreen(8) right after connecting. The client is then served as if
// this process had accepted it; the handover connection is closed, which tells the
// sender the client arrived.
void Context::take_handover(UniqueFd conn) {
  constexpr int kHandoverTimeoutMs = 10000;
  int key = conn.get();
  auto h = std::make_unique<Impl::Handover>();
  h->fd = std::move(conn);
  h->ev = event::Event(base_, key, EV_READ, [this, key](short what) {
    auto it = impl_->handovers.find(key);
    if (it == impl_->handovers.end()) return;
    auto h = std::move(it->second);
    impl_->handovers.erase(it);
    if (!(what & EV_READ)) {
      log::warn("%s: no client descriptor within %d s: connection dropped", opts_.name.c_str(), kHandoverTimeoutMs / 1000);
    } else if (auto client = ipc::recv_fd(h->fd.get(), 1); !client) {
      log::warn("%s: %s", opts_.name.c_str(), client.error().c_str());
    } else if (!stopping_) {
      accepted(std::move(*client));
    }
    base_.defer_delete(std::move(h));
  });
  h->ev.add(kHandoverTimeoutMs);
  impl_->handovers[key] = std::move(h);
}

void Context::start(std::vector<UniqueFd> listen_fds, int status_fd, int lifeline_fd) {
  status_fd_ = status_fd;
  if (status_fd_ >= 0) ::fcntl(status_fd_, F_SETFL, ::fcntl(status_fd_, F_GETFL) | O_NONBLOCK);
  bool pass = opts_.type == "pass";
  for (auto& fd : listen_fds) {
    impl_->listeners.emplace_back(base_, std::move(fd), [this, pass](UniqueFd c, const sockaddr*, int) {
      if (stopping_) return;
      if (pass) {
        take_handover(std::move(c));
      } else {
        accepted(std::move(c));
      }
    });
    impl_->listeners.back().set_error_callback(
        [this](int err) { log::warn("%s: accept: %s", opts_.name.c_str(), std::strerror(err)); });
  }
  if (lifeline_fd >= 0) {
    impl_->lifeline = event::Event(base_, lifeline_fd, EV_READ | EV_PERSIST, [this, lifeline_fd](short) {
      char buf[64];
      ssize_t n = ::read(lifeline_fd, buf, sizeof buf);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) stop();
    });
    impl_->lifeline.add();
  }
  impl_->term = std::make_unique<event::Signal>(base_, SIGTERM, [this] {
    stopping_ = true;
    base_.loopbreak();
  });
  impl_->idle = event::Timer(base_, [this] {
    if (sessions_ == 0) {
      if (opts_.verbose) log::info("idle for %lld s: exiting", static_cast<long long>(cfg_.seconds("max_idle")));
      stop();
    }
  });
  if (opts_.wakeup > 0 && spec_.on_wakeup) {
    impl_->wakeup = event::Timer(base_, [this] { spec_.on_wakeup(*this); });
    impl_->wakeup.repeat(static_cast<int64_t>(opts_.wakeup) * 1000);
  }
  maybe_exit();  // arms the idle timer
}

// ---- run -----------------------------------------------------------------------

namespace {

// Lines carry the program's name (postilion/smtpd), as Postfix's do, whatever the
// service is called in master.conf (127.0.0.1:25, submission).
void set_up_logging(const char* program, const Options& o, const config::Config& cfg) {
  log::init(program, cfg.str("syslog_name"));
  std::string file = cfg.str("maillog_file");
  if (!file.empty()) {
    if (auto st = log::use_file(file); !st) throw config::ConfigError("maillog_file: " + st.error().str());
    log::also_stderr(o.foreground);
  } else if (o.foreground) {
    log::use_stderr();
  } else {
    std::string name = cfg.str("syslog_facility");
    auto facility = log::facility_named(name);
    if (!facility) throw config::ConfigError("syslog_facility: unknown facility \"" + name + "\"");
    log::use_syslog(*facility);
    log::init(program, cfg.str("syslog_name"));  // reopens syslog with the ident
  }
}

// chroot and setuid, in that order (the user is looked up before chroot hides
// /etc/passwd); drop_to() checks that root cannot be regained.
void enter_jail(const Options& o, const config::Config& cfg) {
  if (::geteuid() != 0) return;  // a non-root instance: everything runs as its user
  std::string owner = cfg.str("mail_owner");
  UserIds user;
  if (o.unprivileged) {
    auto u = lookup_user(owner);
    if (!u) throw config::ConfigError("mail_owner: unknown user \"" + owner + "\"");
    if (u->uid == 0) throw config::ConfigError("mail_owner: \"" + owner + "\" is root");
    user = *u;
  }
  if (o.chroot) {
    std::string q = cfg.str("queue_directory");
    if (::chroot(q.c_str()) != 0 || ::chdir("/") != 0)
      throw config::ConfigError("chroot " + q + ": " + std::strerror(errno));
  }
  if (o.unprivileged) {
    if (auto st = drop_to(user.uid, user.gid); !st)
      throw config::ConfigError("dropping privileges to " + owner + ": " + st.error().str());
  }
}

// main.conf from dir with the overrides. optional: no main.conf means the defaults
// (stand-alone and session processes; master(8) always passes a directory that has one).
config::Config load_config(const std::string& dir, const Options& o, bool optional) {
  config::Config cfg = optional && ::access((dir + "/main.conf").c_str(), F_OK) != 0
                           ? config::Config::parse("", "main.conf", dir)
                           : config::Config::load(dir);
  cfg.set_all(o.overrides);
  return cfg;
}

void check_params(const Spec& spec) {
  if (!spec.params) return;
  for (auto p : *spec.params)
    if (!config::find_param(p)) PANIC("%s: reads unknown parameter %.*s", spec.name, int(p.size()), p.data());
}

// The argv of a session process, without its client (the launcher appends -a IP).
std::vector<std::string> session_command(const Options& o) {
  auto self = self_program();
  if (!self) throw config::ConfigError(self.error().str());
  std::vector<std::string> cmd = {*self, "--session", "-c", o.config_dir, "-n", o.name};
  for (const auto& [n, v] : o.overrides) cmd.insert(cmd.end(), {"-o", n + "=" + v});
  return cmd;
}

// The hooks that set a daemon up in ctx, in the order of Spec's comments; the jail
// (master mode only) between pre_jail and post_jail.
void set_up(Context& ctx, const Spec& spec, const std::function<void()>& jail) {
  if (spec.pre_jail) spec.pre_jail(ctx);
  if (spec.kind == Kind::Session) {
    if (!spec.session_limits || !spec.on_session) PANIC("%s: Kind::Session without its hooks", spec.name);
    ctx.start_sessions(spec.session_limits(ctx), session_command(ctx.options()));
  }
  jail();
  if (spec.post_jail) spec.post_jail(ctx);
  // Counters for metrics(8), when it is in use (lib/ipc/metrics.h).
  if (!ctx.config().str("metrics_listen").empty() && std::string_view(spec.name) != "metrics")
    ipc::metrics_open(ctx.loop(), file::join(ctx.config().str("queue_directory"), ipc::proto::kMetricsSocket));
}

// PROGRAM --session ...: one client on fd 0 (Spec::on_session).
int run_session(int argc, char** argv, const Spec& spec) {
  auto opts = parse_options(argc, argv);
  if (!opts || opts->client_ip.empty()) {
    log::use_stderr();
    log::error("%s", opts ? "--session needs -a client_ip" : opts.error().c_str());
    return 2;
  }
  if (opts->name.empty()) opts->name = spec.name;
  if (opts->config_dir.empty()) opts->config_dir = SYSCONFDIR "/postilion";
  opts->foreground = false;
  ::signal(SIGPIPE, SIG_IGN);
  try {
    auto cfg = load_config(opts->config_dir, *opts, true);
    set_up_logging(spec.name, *opts, cfg);
    check_params(spec);
    Context ctx(spec, *opts, std::move(cfg));
    log::info("connect from [%s]", opts->client_ip.c_str());
    // The client moves off fd 0 into an owner the session can close: after a fork
    // only the process that reads the network keeps it.
    UniqueFd client(::fcntl(0, F_DUPFD_CLOEXEC, 3));
    if (!client) log::fatal("session: no client on fd 0: %s", std::strerror(errno));
    if (auto null = file::open("/dev/null", O_RDWR); !null || ::dup2(null->get(), 0) < 0)
      log::fatal("session: cannot put /dev/null on fd 0");
    return spec.on_session(ctx, std::move(client), opts->client_ip);
  } catch (const std::exception& e) {
    log::fatal("%s", e.what());
  }
}

// The exit status of a stand-alone worker whose daemon could not be set up.
constexpr int kSetUpFailed = 78;  // EX_CONFIG

// Stand-alone: the options after --standalone (see service.h).
struct StandaloneArgs {
  Options opts;
  std::string socket;
  std::vector<std::string> listens;
};

std::optional<StandaloneArgs> parse_standalone(const char* program, int argc, char** argv) {
  StandaloneArgs a;
  a.opts.config_dir = SYSCONFDIR "/postilion";
  a.opts.foreground = true;
  a.opts.long_running = true;  // no master to start another: never idle-exit
  int c;
  while ((c = ::getopt(argc, argv, "c:l:n:o:s:v")) != -1) {
    std::string arg = optarg ? optarg : "";
    if (c == 'c') {
      a.opts.config_dir = arg;
    } else if (c == 'l') {
      a.listens.push_back(arg);
    } else if (c == 'n') {
      a.opts.name = arg;
    } else if (c == 'o') {
      auto eq = arg.find('=');
      if (eq == std::string::npos || eq == 0) {
        std::fprintf(stderr, "%s: bad -o %s\n", program, arg.c_str());
        return std::nullopt;
      }
      a.opts.overrides.emplace_back(arg.substr(0, eq), arg.substr(eq + 1));
    } else if (c == 's') {
      a.socket = arg;
    } else if (c == 'v') {
      a.opts.verbose = true;
    } else {
      std::fprintf(stderr,
                   "usage: %s --standalone [-c config_dir] [-n service] [-s socket] [-l [addr:]port]... "
                   "[-o name=value]... [-v]\n",
                   program);
      return std::nullopt;
    }
  }
  if (a.opts.name.empty()) a.opts.name = program;
  return a;
}

// The listening sockets of a stand-alone daemon.
std::vector<UniqueFd> standalone_listeners(const Spec& spec, const StandaloneArgs& a, const config::Config& cfg) {
  std::vector<UniqueFd> fds;
  if (spec.inet) {
    for (const auto& l : a.listens) {
      std::string label;
      auto fd = event::listen_inet_spec(l, &label);
      if (!fd) log::fatal("%s", fd.error().c_str());
      log::info("listening on %s", label.c_str());
      fds.push_back(std::move(*fd));
    }
    if (fds.empty()) log::fatal("nothing to listen on (give -l [addr:]port)");
    return fds;
  }
  std::string path = a.socket;
  if (path.empty())
    path = file::join(cfg.str("queue_directory"),
                      spec.socket ? std::string(spec.socket) : std::string(ipc::proto::kPrivateDir) + a.opts.name);
  auto fd = ipc::listen_unix(path, static_cast<mode_t>(spec.socket_mode));
  if (!fd) log::fatal("%s", fd.error().c_str());
  log::info("listening on %s", path.c_str());
  fds.push_back(std::move(*fd));
  return fds;
}

// One stand-alone process: the daemon set up from its Spec, serving until SIGTERM or
// SIGINT (or, for a worker, until its parent is gone: EOF on lifeline).
int serve_standalone(const Spec& spec, const Options& opts, const config::Config& cfg,
                     std::vector<UniqueFd> fds, int lifeline) {
  std::unique_ptr<Context> ctx;
  try {
    ctx = std::make_unique<Context>(spec, opts, cfg);
    set_up(*ctx, spec, [] {});
  } catch (const std::exception& e) {
    if (lifeline < 0) log::fatal("%s", e.what());
    log::error("fatal: %s", e.what());  // a worker: its parent stops too
    std::exit(kSetUpFailed);
  }
  ctx->start(std::move(fds), -1, lifeline);
  event::Signal intr(ctx->loop(), SIGINT, [&ctx] { ctx->stop(); ctx->loop().loopbreak(); });
  if (ctx->loop().loop() < 0) log::fatal("event loop failed");
  return 0;
}

// Spec::standalone_processes workers on the one socket, replaced when one dies; SIGTERM
// or SIGINT ends them all.
int supervise_standalone(const Spec& spec, const Options& opts, const config::Config& cfg,
                         std::vector<UniqueFd> fds) {
  int life[2];
  if (::pipe2(life, O_CLOEXEC) != 0) log::fatal("pipe: %s", std::strerror(errno));
  UniqueFd life_r(life[0]), life_w(life[1]);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGCHLD);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  pid_t parent = ::getpid();
  std::vector<pid_t> workers;
  auto spawn = [&] {
    pid_t pid = ::fork();
    if (pid < 0) {
      log::warn("fork: %s", std::strerror(errno));
      return;
    }
    if (pid > 0) {
      workers.push_back(pid);
      return;
    }
    // A kill -9 of the parent ends idle workers at once; a busy one hears the
    // lifeline (the kernel clears the death signal when the effective ids change).
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    log::reset_pid();
    life_w.reset();
    std::vector<UniqueFd> mine;
    for (auto& fd : fds) mine.emplace_back(::fcntl(fd.get(), F_DUPFD_CLOEXEC, 3));
    ::_exit(serve_standalone(spec, opts, cfg, std::move(mine), life_r.get()));
  };
  for (int i = 0; i < spec.standalone_processes; ++i) spawn();
  int rc = 0;
  while (rc == 0) {
    int sig = 0;
    sigwait(&set, &sig);
    if (sig != SIGCHLD) break;
    pid_t p;
    int st = 0;
    while ((p = ::waitpid(-1, &st, WNOHANG)) > 0) {
      std::erase(workers, p);
      // A worker that could not set up (bad config) would fail again: stop, not loop.
      if (WIFEXITED(st) && WEXITSTATUS(st) == kSetUpFailed) rc = 1;
      if (rc == 0) spawn();
    }
  }
  for (pid_t p : workers) ::kill(p, SIGKILL);
  return rc;
}

// PROGRAM --standalone ...
int run_standalone(int argc, char** argv, const Spec& spec) {
  auto a = parse_standalone(spec.name, argc, argv);
  if (!a) return 2;
  ::signal(SIGPIPE, SIG_IGN);
  std::optional<config::Config> cfg;
  try {
    cfg = load_config(a->opts.config_dir, a->opts, true);
  } catch (const config::ConfigError& e) {
    std::fprintf(stderr, "%s: fatal: %s\n", spec.name, e.what());
    return 1;
  }
  log::init(spec.name, cfg->str("syslog_name"));
  std::string maillog = cfg->str("maillog_file");
  if (maillog.empty() || !log::use_file(maillog)) log::use_stderr();
  check_params(spec);
  auto fds = standalone_listeners(spec, *a, *cfg);
  if (spec.standalone_processes > 1) return supervise_standalone(spec, a->opts, *cfg, std::move(fds));
  return serve_standalone(spec, a->opts, *cfg, std::move(fds), -1);
}

}  // namespace

int run(int argc, char** argv, const Spec& spec) {
  if (argc > 1 && std::strcmp(argv[1], "--standalone") == 0) return run_standalone(argc - 1, argv + 1, spec);
  if (argc > 1 && std::strcmp(argv[1], "--session") == 0) return run_session(argc - 1, argv + 1, spec);
  log::init(spec.name);
  auto opts = parse_options(argc, argv);
  if (!opts) {
    log::use_stderr();
    log::error("%s", opts.error().c_str());
    return 2;
  }
  if (opts->name.empty()) opts->name = spec.name;
  if (opts->config_dir.empty()) opts->config_dir = SYSCONFDIR "/postilion";
  ::signal(SIGPIPE, SIG_IGN);
  std::unique_ptr<Context> ctx;
  std::vector<UniqueFd> listen_fds;
  try {
    auto cfg = load_config(opts->config_dir, *opts, false);
    set_up_logging(spec.name, *opts, cfg);
    check_params(spec);
    for (int i = 0; i < opts->listen_fds; ++i) {
      int fd = kListenFdBase + i;
      if (!fd_open(fd)) throw config::ConfigError("-s " + std::to_string(opts->listen_fds) + ": fd " +
                                                  std::to_string(fd) + " is not open");
      ::fcntl(fd, F_SETFD, FD_CLOEXEC);
      listen_fds.emplace_back(fd);
    }
    ctx = std::make_unique<Context>(spec, *opts, std::move(cfg));
    set_up(*ctx, spec, [&] { enter_jail(*opts, ctx->config()); });
  } catch (const std::exception& e) {
    log::fatal("%s", e.what());
  }
  int status_fd = fd_open(kStatusFd) && !opts->foreground ? kStatusFd : -1;
  int lifeline_fd = fd_open(kLifelineFd) && !opts->foreground ? kLifelineFd : -1;
  if (status_fd >= 0) ::fcntl(status_fd, F_SETFD, FD_CLOEXEC);
  if (lifeline_fd >= 0) ::fcntl(lifeline_fd, F_SETFD, FD_CLOEXEC);
  if (opts->verbose) log::info("started: %d listening sockets", opts->listen_fds);
  ctx->start(std::move(listen_fds), status_fd, lifeline_fd);
  if (ctx->loop().loop() < 0) log::fatal("event loop failed");
  if (opts->verbose) log::info("exiting after %d clients", ctx->served());
  return 0;
}

}  // namespace postilion::service
