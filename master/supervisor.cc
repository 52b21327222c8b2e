// master/supervisor.cc - listeners, spawning, reaping, backoff, reload and stop.
#include "master/supervisor.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/event/listener.h"
#include "lib/ipc/message.h"
#include "lib/log/log.h"
#include "lib/service/service.h"

namespace postilion::master {
namespace {

std::string where(const config::ServiceEntry& e) { return e.file.empty() ? "master.conf" : file::basename(e.file) + ":" + std::to_string(e.line); }

std::string key_of(const config::ServiceEntry& e) {
  if (e.type == config::ServiceEntry::Type::Inet) return "inet " + event::inet_label(e.host, e.port);
  // A pass socket shares the unix name space (both live in private/ or public/), so a
  // reload that changes one into the other keeps the socket.
  return std::string("unix ") + (e.private_ ? "private/" : "public/") + e.name;
}

Result<std::pair<UniqueFd, UniqueFd>> make_pipe() {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return Error::from_errno("pipe");
  return std::make_pair(UniqueFd(p[0]), UniqueFd(p[1]));
}

std::string describe(int status) {
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "exited with status " + std::to_string(WEXITSTATUS(status));
}

}  // namespace

Supervisor::Supervisor(event::EventBase& base, std::string config_dir, bool verbose)
    : base_(base), config_dir_(std::move(config_dir)), verbose_(verbose),
      chld_(base, SIGCHLD, [this] { reap(); }),
      kill_timer_(base, [this] {
        for (auto& s : services_)
          for (auto& [pid, c] : s->children) ::kill(pid, SIGKILL);
        for (auto& [pid, r] : retired_) ::kill(pid, SIGKILL);
        log::warn("children still running after master_stop_timeout: killed");
      }) {}

Supervisor::~Supervisor() = default;

std::string Supervisor::socket_path(const config::ServiceEntry& e) const {
  return file::join(cfg_->str("queue_directory"), (e.private_ ? "private/" : "public/") + e.name);
}

std::unique_ptr<Service> Supervisor::make_service(const config::ServiceEntry& e,
                                                  std::map<std::string, std::unique_ptr<Service>>* old,
                                                  bool at_start) {
  auto s = std::make_unique<Service>();
  s->entry = e;
  s->key = key_of(e);
  s->label = e.name;
  int64_t def = cfg_->integer("default_process_limit");
  s->maxproc = e.maxproc > 0 ? e.maxproc : static_cast<int>(std::max<int64_t>(1, def));
  s->boot = e.wakeup > 0 || (e.type == config::ServiceEntry::Type::Unix && s->maxproc == 1);
  if (auto it = old->find(s->key); it != old->end() && !it->second->listen_fds.empty()) {
    s->listen_fds = std::move(it->second->listen_fds);  // unchanged address: keep the socket
  } else if (e.type == config::ServiceEntry::Type::Inet) {
    auto fd = event::listen_inet(e.host, e.port);
    if (!fd) throw config::ConfigError(where(e) + ": " + fd.error().str());
    s->listen_fds.push_back(std::move(*fd));
  } else {
    std::string path = socket_path(e);
    bool root = ::geteuid() == 0;
    auto fd = ipc::listen_unix(path, e.private_ ? 0600 : 0660);
    if (!fd) throw config::ConfigError(where(e) + ": " + fd.error().str());
    if (root) {
      // Daemons run as mail_owner and connect to each other; public sockets are also
      // for the setgid group (postdrop, postilionctl).
      struct passwd* pw = ::getpwnam(cfg_->str("mail_owner").c_str());
      struct group* gr = e.private_ ? nullptr : ::getgrnam(cfg_->str("setgid_group").c_str());
      if (pw && ::chown(path.c_str(), pw->pw_uid, gr ? gr->gr_gid : pw->pw_gid) != 0)
        log::warn("chown %s: %s", path.c_str(), std::strerror(errno));
    }
    s->listen_fds.push_back(std::move(*fd));
  }
  (void)at_start;
  auto st = make_pipe();
  if (!st) throw config::ConfigError(st.error().str());
  s->status_r = std::move(st->first);
  s->status_w = std::move(st->second);
  ::fcntl(s->status_r.get(), F_SETFL, O_NONBLOCK);
  auto life = make_pipe();
  if (!life) throw config::ConfigError(life.error().str());
  s->life_r = std::move(life->first);
  s->life_w = std::move(life->second);
  Service* raw = s.get();
  s->status_ev = event::Event(base_, s->status_r.get(), EV_READ | EV_PERSIST, [this, raw](short) { read_status(*raw); });
  s->status_ev.add();
  for (auto& fd : s->listen_fds) {
    s->watch.emplace_back(base_, fd.get(), EV_READ | EV_PERSIST, [this, raw](short) {
      if (auto st2 = spawn(*raw); !st2) log::warn("service %s: %s", raw->label.c_str(), st2.error().c_str());
      arm(*raw);
    });
  }
  s->hold_timer = event::Timer(base_, [this, raw] {
    raw->throttled = false;
    arm(*raw);
  });
  return s;
}

void Supervisor::open(config::Config cfg, std::vector<config::ServiceEntry> entries) {
  cfg_ = std::make_unique<config::Config>(std::move(cfg));
  std::string q = cfg_->str("queue_directory");
  for (const char* d : {"private", "public"}) {
    std::string dir = file::join(q, d);
    if (!file::exists(dir)) {
      if (auto st = file::make_dirs(dir, std::string(d) == "private" ? 0700 : 0710); !st)
        throw config::ConfigError(st.error().str());
      if (::geteuid() == 0) {
        // public/ is reached through the set-gid postdrop (group setgid_group), as Postfix's.
        struct passwd* pw = ::getpwnam(cfg_->str("mail_owner").c_str());
        struct group* gr = std::string(d) == "public" ? ::getgrnam(cfg_->str("setgid_group").c_str()) : nullptr;
        gid_t gid = gr ? gr->gr_gid : pw ? pw->pw_gid : 0;
        if (pw && ::chown(dir.c_str(), pw->pw_uid, gid) != 0) log::warn("chown %s: %s", dir.c_str(), std::strerror(errno));
      }
    }
  }
  std::map<std::string, std::unique_ptr<Service>> none;
  for (auto& e : entries) services_.push_back(make_service(e, &none, true));
}

void Supervisor::start() {
  for (auto& s : services_) arm(*s);
  ready_ = true;
}

// Decides what a service needs now: a boot service one running process; an on-demand
// service a watch on its listeners while nobody is available and maxproc allows more.
void Supervisor::arm(Service& s) {
  bool watch = false;
  if (!stopping_) {
    int64_t now = file::monotonic_ms();
    if (now < s.hold_until_ms) {
      if (!s.hold_timer.pending()) s.hold_timer.start(s.hold_until_ms - now);
    } else if (s.boot) {
      // A boot service (qmgr) runs once: a retired process of it must be gone first.
      if (s.children.empty() && !retired_with_key(s.key)) {
        if (auto st = spawn(s); !st) log::warn("service %s: %s", s.label.c_str(), st.error().c_str());
      }
    } else {
      bool available = std::any_of(s.children.begin(), s.children.end(), [](auto& kv) { return kv.second.available; });
      watch = !available && static_cast<int>(s.children.size()) < s.maxproc;
    }
  }
  for (auto& w : s.watch) {
    if (watch && !w.pending()) w.add();
    if (!watch && w.pending()) w.del();
  }
}

Status Supervisor::spawn(Service& s) {
  const auto& e = s.entry;
  std::string path = e.command.find('/') != std::string::npos ? e.command
                                                              : file::join(cfg_->str("daemon_directory"), e.command);
  service::Options o;
  o.config_dir = config_dir_;
  o.name = e.name;
  o.type = e.type == config::ServiceEntry::Type::Inet ? "inet" : e.type == config::ServiceEntry::Type::Pass ? "pass" : "unix";
  o.listen_fds = static_cast<int>(s.listen_fds.size());
  o.wakeup = e.wakeup;
  o.unprivileged = e.unprivileged;
  o.chroot = e.chroot;
  o.long_running = s.boot;
  o.verbose = verbose_;
  o.args = e.args;
  std::vector<std::string> args = service::make_argv(o);
  args.insert(args.begin(), e.command);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // Everything the child needs is computed before fork: after it, only
  // async-signal-safe calls until exec.
  std::vector<int> src = {s.status_w.get(), s.life_r.get()};
  for (auto& fd : s.listen_fds) src.push_back(fd.get());
  const int top = service::kStatusFd + static_cast<int>(src.size());
  ++s.starts;
  pid_t pid = ::fork();
  if (pid < 0) return Error::from_errno("fork");
  if (pid == 0) {
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    // Move every fd above the target range first, so no dup2 clobbers a source.
    int tmp[300];
    for (size_t i = 0; i < src.size(); ++i) tmp[i] = ::fcntl(src[i], F_DUPFD_CLOEXEC, top + 8);
    for (size_t i = 0; i < src.size(); ++i) {
      if (tmp[i] < 0 || ::dup2(tmp[i], service::kStatusFd + static_cast<int>(i)) < 0) ::_exit(126);
    }
    ::close_range(static_cast<unsigned>(top), ~0U, 0);
    ::execv(path.c_str(), argv.data());
    ::_exit(127);
  }
  s.children[pid] = Child{pid, true, file::monotonic_ms()};
  if (verbose_) log::info("service %s: started process %d", s.label.c_str(), static_cast<int>(pid));
  return {};
}

void Supervisor::read_status(Service& s) {
  int32_t rec[2 * 64];
  for (;;) {
    ssize_t n = ::read(s.status_r.get(), rec, sizeof rec);
    if (n <= 0) break;
    for (ssize_t i = 0; i + 8 <= n; i += 8) {
      auto it = s.children.find(rec[i / 4]);
      if (it == s.children.end()) continue;  // exited meanwhile, or garbage
      it->second.available = rec[i / 4 + 1] == service::kStateAvailable;
    }
  }
  arm(s);
}

void Supervisor::reap() {
  for (int guard = 0; guard < 100000; ++guard) {
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) break;
    if (auto r = retired_.find(pid); r != retired_.end()) {
      if (verbose_) log::info("service %s: old process %d %s", r->second.label.c_str(), int(pid), describe(status).c_str());
      std::string key = r->second.key;
      retired_.erase(r);
      for (auto& s : services_)
        if (s->key == key) arm(*s);
      continue;
    }
    for (auto& s : services_) {
      if (s->children.count(pid)) {
        child_exited(*s, pid, status);
        break;
      }
    }
  }
  maybe_finish_stop();
}

void Supervisor::child_exited(Service& s, pid_t pid, int status) {
  Child c = s.children[pid];
  s.children.erase(pid);
  int64_t now = file::monotonic_ms();
  bool crash = !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  if (stopping_) crash = false;
  if (crash) {
    ++s.crashes;
    log::warn("service %s: process %d %s", s.label.c_str(), static_cast<int>(pid), describe(status).c_str());
    int64_t window = cfg_->seconds("master_crash_window") * 1000;
    if (now - s.window_start_ms > window) {
      s.window_start_ms = now;
      s.crashes_in_window = 0;
    }
    ++s.crashes_in_window;
    // A process that ran a while before dying starts a new backoff sequence.
    if (now - c.started_ms > window) s.consecutive = 0;
    ++s.consecutive;
    int64_t delay = cfg_->seconds("process_restart_delay") * 1000;
    for (int i = 1; i < s.consecutive && delay < 3600 * 1000; ++i) delay *= 2;
    delay = std::min<int64_t>(delay, cfg_->seconds("process_restart_max_delay") * 1000);
    if (s.crashes_in_window >= cfg_->integer("master_crash_limit")) {
      int64_t t = cfg_->seconds("master_throttle_time");
      log::warn("service %s: %d crashes in %lld s: throttling restarts for %lld s", s.label.c_str(),
                s.crashes_in_window, static_cast<long long>(window / 1000), static_cast<long long>(t));
      delay = std::max<int64_t>(delay, t * 1000);
      s.throttled = true;
      s.crashes_in_window = 0;
      s.window_start_ms = now;
    } else if (s.consecutive >= 2) {
      log::warn("service %s: %d crashes in a row: throttling restarts for %lld s", s.label.c_str(), s.consecutive,
                static_cast<long long>((delay + 999) / 1000));
    }
    s.hold_until_ms = now + delay;
    s.hold_timer.stop();
  } else {
    s.consecutive = 0;
  }
  arm(s);
}

void Supervisor::retire(Service& s) {
  // Closing the lifeline asks every process of this generation to finish its clients and
  // exit. Boot services have no natural end: they are told with SIGTERM.
  s.life_w.reset();
  for (auto& [pid, c] : s.children) {
    if (s.boot) ::kill(pid, SIGTERM);
    retired_[pid] = Retired{s.label, s.key};
  }
  s.children.clear();
  s.watch.clear();
  s.status_ev = event::Event();
  s.hold_timer.stop();
}

bool Supervisor::retired_with_key(const std::string& key) const {
  for (auto& [pid, r] : retired_)
    if (r.key == key) return true;
  return false;
}

Status Supervisor::reload() {
  std::unique_ptr<config::Config> cfg;
  std::vector<config::ServiceEntry> entries;
  try {
    cfg = std::make_unique<config::Config>(config::Config::load(config_dir_));
    entries = config::load_master_conf(*cfg);
  } catch (const config::ConfigError& e) {
    return Error(e.what(), EINVAL);
  }
  std::map<std::string, std::unique_ptr<Service>> old;
  for (auto& s : services_) {
    std::string k = s->key;
    old[k] = std::move(s);
  }
  services_.clear();
  auto previous = std::move(cfg_);
  cfg_ = std::move(cfg);
  std::vector<std::unique_ptr<Service>> next;
  std::string failed;
  for (auto& e : entries) {
    try {
      next.push_back(make_service(e, &old, false));
    } catch (const config::ConfigError& err) {
      log::error("reload: %s: service not started", err.what());
      failed += (failed.empty() ? "" : "; ") + std::string(err.what());
    }
  }
  for (auto& [k, s] : old) {
    retire(*s);
    // A unix socket of a service that is gone (or whose listener was not taken over).
    if (!s->listen_fds.empty() && s->entry.type != config::ServiceEntry::Type::Inet) {
      bool reused = std::any_of(next.begin(), next.end(), [&](auto& n) { return n->key == k; });
      if (!reused) ::unlink(socket_path(s->entry).c_str());
    }
  }
  old.clear();  // closes the listeners nobody took over
  services_ = std::move(next);
  for (auto& s : services_) arm(*s);
  log::info("reload -- version %s, configuration %s", cfg_->str("mail_version").c_str(), config_dir_.c_str());
  if (!failed.empty()) return Error(failed, EINVAL);
  return {};
}

void Supervisor::stop() {
  if (stopping_) return;
  stopping_ = true;
  log::info("terminating on request");
  for (auto& s : services_) {
    s->watch.clear();
    s->hold_timer.stop();
    s->life_w.reset();
    for (auto& [pid, c] : s->children) ::kill(pid, SIGTERM);
  }
  for (auto& [pid, r] : retired_) ::kill(pid, SIGTERM);
  kill_timer_.start(cfg_->seconds("master_stop_timeout") * 1000);
  maybe_finish_stop();
}

void Supervisor::maybe_finish_stop() {
  if (!stopping_ || !retired_.empty()) return;
  for (auto& s : services_)
    if (!s->children.empty()) return;
  for (auto& s : services_)
    if (s->entry.type != config::ServiceEntry::Type::Inet) ::unlink(socket_path(s->entry).c_str());
  services_.clear();
  kill_timer_.stop();
  base_.loopbreak();
}

std::vector<std::string> Supervisor::status_lines() const {
  std::vector<std::string> out;
  int64_t now = file::monotonic_ms();
  for (auto& s : services_) {
    std::string pids;
    int avail = 0;
    for (auto& [pid, c] : s->children) {
      pids += (pids.empty() ? "" : ",") + std::to_string(pid);
      avail += c.available;
    }
    std::string line = str::format("%s %s procs=%zu/%d avail=%d starts=%d crashes=%d pids=%s", s->label.c_str(),
                                   s->key.c_str(), s->children.size(), s->maxproc, avail, s->starts, s->crashes,
                                   pids.empty() ? "-" : pids.c_str());
    if (s->throttled && now < s->hold_until_ms)
      line += str::format(" throttled=%llds", static_cast<long long>((s->hold_until_ms - now + 999) / 1000));
    out.push_back(line);
  }
  return out;
}

}  // namespace postilion::master
