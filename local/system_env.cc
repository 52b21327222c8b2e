// local/system_env.cc - users, privilege switching and the writes of local(8).
#include "local/system_env.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <ctime>

#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/log/log.h"
#include "lib/mail/address.h"
#include "lib/service/privs.h"
#include "local/command.h"
#include "local/expand.h"
#include "local/mbox.h"

namespace postilion::local {
namespace {

std::string encode(const Outcome& o) {
  char k = o.kind == Outcome::Kind::Sent ? 'S' : o.kind == Outcome::Kind::Defer ? 'D' : 'B';
  return std::string(1, k) + o.dsn + "\n" + o.text;
}

Outcome decode(const std::string& s) {
  size_t nl = s.find('\n');
  if (s.empty() || nl == std::string::npos) return Outcome::defer("4.3.0", "delivery process failed");
  Outcome o;
  o.kind = s[0] == 'S' ? Outcome::Kind::Sent : s[0] == 'B' ? Outcome::Kind::Bounce : Outcome::Kind::Defer;
  o.dsn = s.substr(1, nl - 1);
  o.text = s.substr(nl + 1);
  return o;
}

// Reads from fd until EOF or the deadline (monotonic ms); at most max bytes kept.
std::string read_until(int fd, int64_t deadline, size_t max, bool* timed_out) {
  std::string out;
  char buf[4096];
  for (;;) {
    int64_t left = deadline - file::monotonic_ms();
    if (left <= 0) {
      *timed_out = true;
      return out;
    }
    struct pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 1000)));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return out;
    if (out.size() < max) out.append(buf, std::min<size_t>(n, max - out.size()));
  }
}

}  // namespace

std::string who(const User& u) {
  return u.name.empty() ? "uid " + std::to_string(u.uid) : "user " + u.name;
}

Outcome write_error(const std::string& what, const Error& e) {
  std::string dsn = "4.2.0";
  // As Postfix's mbox_dsn(): a full file system is the system's problem (4.3.0), a
  // quota the user's (4.2.2). Both are deferred: room may come back.
  if (e.code() == EDQUOT) dsn = "4.2.2";
  else if (e.code() == ENOSPC) dsn = "4.3.0";
  else if (e.code() == EACCES || e.code() == EPERM) dsn = "4.2.0";
  else if (e.code() == ELOOP) dsn = "4.2.0";
  return Outcome::defer(dsn, "cannot write " + what + ": " + e.str());
}

Result<std::optional<std::string>> SystemEnv::alias(const std::string& name) {
  if (!aliases_) return std::optional<std::string>();
  to_root();
  return aliases_(name);
}

std::optional<User> SystemEnv::user(const std::string& name) {
  if (name.empty() || name.size() > 64 || name.find('/') != std::string::npos || name[0] == '.')
    return std::nullopt;
  to_root();
  struct passwd pw, *res = nullptr;
  char buf[4096];
  if (getpwnam_r(name.c_str(), &pw, buf, sizeof buf, &res) != 0 || !res) return std::nullopt;
  User u{res->pw_name, res->pw_uid, res->pw_gid, res->pw_dir, res->pw_shell ? res->pw_shell : ""};
  if (!s_.root && u.uid != s_.self_uid) return std::nullopt;  // a private instance: only its user
  if (!s_.local_home_root.empty()) {
    u.home = file::join(s_.local_home_root, u.name);
    if (!s_.root) (void)file::make_dirs(u.home, 0700);
  }
  return u;
}

User SystemEnv::privileged_default() {
  to_root();
  if (!s_.root) {
    struct passwd* pw = getpwuid(s_.self_uid);
    return User{pw ? pw->pw_name : "self", s_.self_uid, pw ? pw->pw_gid : getgid(), pw ? pw->pw_dir : "/"};
  }
  struct passwd* pw = getpwnam(s_.default_privs.c_str());
  if (!pw) return User{"nobody", 65534, 65534, "/"};
  return User{pw->pw_name, pw->pw_uid, pw->pw_gid, "/"};
}

const std::vector<gid_t>& SystemEnv::groups_of(const User& u) {
  int64_t now = file::monotonic_ms();
  const std::string key = u.name.empty() ? "#" + std::to_string(u.uid) : u.name;
  auto it = groups_.find(key);
  if (it != groups_.end() && it->second.gid == u.gid && it->second.until_ms > now) return it->second.groups;
  if (groups_.size() > 1000) groups_.clear();  // bounded: a cache, not a table
  CachedGroups c;
  c.gid = u.gid;
  c.until_ms = now + 60000;
  // A mailbox owner without an account (virtual(8)) has its gid alone.
  int n = u.name.empty() ? 0 : 64;
  c.groups.resize(static_cast<size_t>(n));
  if (n && ::getgrouplist(u.name.c_str(), u.gid, c.groups.data(), &n) < 0) {
    c.groups.resize(static_cast<size_t>(n));
    if (::getgrouplist(u.name.c_str(), u.gid, c.groups.data(), &n) < 0) n = 0;
  }
  c.groups.resize(static_cast<size_t>(std::max(n, 0)));
  if (c.groups.empty()) c.groups.push_back(u.gid);
  auto& slot = groups_[key];
  slot = std::move(c);
  return slot.groups;
}

Outcome SystemEnv::with_euid(const User& as, int timeout_s, const std::function<Outcome()>& fn) {
  // A write that hangs (a dead NFS server, a stuck lock) cannot be interrupted in
  // place: SIGALRM (default action) ends the process and qmgr defers the request.
  struct Alarm {
    explicit Alarm(int s) { ::alarm(static_cast<unsigned>(std::max(s, 1))); }
    ~Alarm() { ::alarm(0); }
  } alarm(timeout_s);
  if (!s_.root) return fn();
  const std::vector<gid_t>& groups = groups_of(as);
  if (!current_ || current_->uid != as.uid || current_->gid != as.gid || current_->groups != groups) {
    to_root();
    if (!root_ids_) root_ids_ = service::save_ids();
    if (auto st = service::switch_effective(as.uid, as.gid, groups); !st) {
      service::restore_ids(*root_ids_);
      return Outcome::defer("4.3.0", "cannot switch to " + who(as) + ": " + st.error().str());
    }
    current_ = Identity{as.uid, as.gid, groups};
  }
  // The ids stay the user's after fn: the next write of this delivery as the same user
  // needs no switch. Whatever needs root returns first (to_root), and so does the end
  // of every delivery (end_delivery).
  return fn();
}

void SystemEnv::to_root() {
  if (!current_) return;
  service::restore_ids(*root_ids_);
  current_.reset();
}

void SystemEnv::end_delivery() { to_root(); }

Result<std::optional<std::string>> SystemEnv::read_owned(const std::string& path, const User& as) {
  Result<std::optional<std::string>> out = std::optional<std::string>();
  // Read with the user's rights: a root-only file cannot be named from a .forward.
  Outcome o = with_euid(as, s_.write_time_limit, [&]() -> Outcome {
    out = read_owned_file(path, as.uid);
    return Outcome::sent("");
  });
  if (o.kind != Outcome::Kind::Sent) return Error(o.text);
  return out;
}

Result<std::optional<std::string>> read_owned_file(const std::string& path, uid_t owner) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return std::optional<std::string>();
    if (errno == ELOOP) return Error(path + ": is a symbolic link").set_permanent();
    if (errno == EACCES) return Error::from_errno(path).set_permanent();
    return Error::from_errno(path);
  }
  UniqueFd owned(fd);
  struct stat st;
  if (::fstat(fd, &st) != 0) return Error::from_errno("fstat " + path);
  if (auto why = check_owned_file(st, owner)) return Error(path + ": " + *why).set_permanent();
  auto text = file::read_all(fd, 1 << 20);
  if (!text) return text.error();
  return std::optional<std::string>(std::move(*text));
}

Outcome SystemEnv::run_as(const User& as, int timeout_s, const std::function<Outcome()>& fn) {
  to_root();  // the child must start as root to become `as` for good
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return Outcome::defer("4.3.0", std::string("pipe: ") + std::strerror(errno));
  UniqueFd rd(p[0]), wr(p[1]);
  pid_t pid = ::fork();
  if (pid < 0) return Outcome::defer("4.3.0", std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    rd.reset();
    ::signal(SIGCHLD, SIG_DFL);
    Outcome o;
    if (s_.root && !service::drop_to(as.uid, as.gid, groups_of(as))) o = Outcome::defer("4.3.0", "cannot switch to user " + as.name);
    else o = fn();
    (void)file::write_all(wr.get(), encode(o));
    ::_exit(0);
  }
  wr.reset();
  bool timed_out = false;
  std::string reply = read_until(rd.get(), file::monotonic_ms() + int64_t(timeout_s) * 1000, 8192, &timed_out);
  if (timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) return Outcome::defer("4.3.0", "delivery time limit exceeded");
  return decode(reply);
}

Outcome SystemEnv::maildir(const User& as, const std::string& dir, const std::string& text) {
  if (!maildir_) return Outcome::defer("4.3.0", "no Maildir writer available");
  return with_euid(as, s_.write_time_limit, [&]() -> Outcome {
    // The home directory must be the user's own: a Maildir under someone else's
    // directory could be swapped for a link by that someone.
    struct stat st;
    // Without its trailing '/': the writer's lstat of "Maildir/" would follow a link.
    std::string path = dir;
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    std::string home = file::dirname(path);
    if (::lstat(home.c_str(), &st) != 0) return write_error("maildir " + dir, Error::from_errno(home));
    if (!S_ISDIR(st.st_mode) || (st.st_uid != as.uid && st.st_uid != 0))
      return Outcome::defer("4.2.0", "home " + home + " is not a directory owned by " + who(as));
    if (Status w = maildir_(path, text); !w) return write_error("maildir " + dir, w.error());
    return Outcome::sent("delivered to maildir");
  });
}

Outcome SystemEnv::mbox(const User& as, const std::string& path, const std::string& text) {
  return with_euid(as, s_.write_time_limit, [&]() -> Outcome {
    // text starts with "Return-Path: <sender>": the envelope line comes from it, and
    // the header stays in the entry as Postfix writes it (MAIL_COPY_MBOX).
    std::string sender;
    if (text.starts_with("Return-Path: <")) sender = text.substr(14, text.find('>') - 14);
    std::string entry = mbox_entry(sender, ::time(nullptr), text);
    struct stat st;
    if (s_.mailbox_size_limit && ::lstat(path.c_str(), &st) == 0 &&
        static_cast<uint64_t>(st.st_size) + entry.size() > s_.mailbox_size_limit)
      // Postfix bounces this (EFBIG under its file size limit: 5.2.2), not defers: the
      // message would never fit, and a retry would only fill the queue.
      return Outcome::bounce("5.2.2", "cannot update mailbox " + path + ": mailbox is full (" + s_.size_limit_name + ")");
    if (Status w = append_mbox(path, entry, as.uid, 60000); !w) return write_error("mailbox " + path, w.error());
    return Outcome::sent("delivered to mailbox");
  });
}

Outcome SystemEnv::command(const User& as, const std::string& cmd, const std::string& text, const Delivery& d) {
  int limit = s_.command_time_limit;
  return run_as(as, limit + 5, [&]() -> Outcome {
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0)
      return Outcome::defer("4.3.0", "pipe failed");
    UniqueFd in_r(in[0]), in_w(in[1]), out_r(out[0]), out_w(out[1]);
    auto parsed = mail::parse_address(d.recipient);
    std::string local = parsed ? parsed->local : d.recipient;
    std::string ext = mail::split_extension(local, s_.recipient_delimiter).extension;
    pid_t pid = ::fork();
    if (pid < 0) return Outcome::defer("4.3.0", "fork failed");
    if (pid == 0) {
      ::dup2(in_r.get(), 0);
      ::dup2(out_w.get(), 1);
      ::dup2(out_w.get(), 2);
      if (::chdir(as.home.c_str()) != 0 && ::chdir("/") != 0) ::_exit(75);
      // Values from the message are shell-safe (command_expansion_filter), as Postfix's.
      std::vector<std::pair<const char*, std::string>> vars = {
          {"HOME", as.home}, {"USER", as.name}, {"LOGNAME", as.name},
          {"SHELL", as.shell.empty() ? "/bin/sh" : as.shell}, {"SENDER", d.sender},
          {"RECIPIENT", d.recipient}, {"LOCAL", local}, {"EXTENSION", ext},
          {"DOMAIN", parsed ? parsed->domain : std::string()},
          {"ORIGINAL_RECIPIENT", d.original()}};
      // What smtpd recorded about the client, as Postfix's local passes it on; set only
      // when the queue file has it (not for mail from sendmail).
      for (const auto& [fact, value] : client_facts(d)) vars.emplace_back(fact->env, value);
      std::vector<std::string> env = {"PATH=" + s_.command_path};
      for (const auto& [name, value] : vars) env.push_back(std::string(name) + "=" + filter_value(value));
      std::vector<char*> envp;
      for (auto& e : env) envp.push_back(e.data());
      envp.push_back(nullptr);
      const char* argv[] = {"/bin/sh", "-c", cmd.c_str(), nullptr};
      ::execve("/bin/sh", const_cast<char**>(argv), envp.data());
      ::_exit(75);
    }
    in_r.reset();
    out_w.reset();
    ::signal(SIGPIPE, SIG_IGN);
    // Feed the message while collecting output, so neither side blocks the other.
    int64_t deadline = file::monotonic_ms() + int64_t(limit) * 1000;
    std::string output;
    size_t sent = 0;
    bool timed_out = false;
    ::fcntl(in_w.get(), F_SETFL, O_NONBLOCK);
    while (true) {
      int64_t left = deadline - file::monotonic_ms();
      if (left <= 0) {
        timed_out = true;
        break;
      }
      struct pollfd p[2] = {{out_r.get(), POLLIN, 0}, {in_w.valid() ? in_w.get() : -1, POLLOUT, 0}};
      if (::poll(p, 2, static_cast<int>(std::min<int64_t>(left, 1000))) < 0 && errno != EINTR) break;
      if (p[1].revents & (POLLOUT | POLLERR | POLLHUP)) {
        ssize_t n = ::write(in_w.get(), text.data() + sent, text.size() - sent);
        if (n > 0) sent += n;
        if (n < 0 && errno != EAGAIN && errno != EINTR) in_w.reset();  // command stopped reading
        if (sent == text.size()) in_w.reset();
      }
      if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        char buf[1024];
        ssize_t n = ::read(out_r.get(), buf, sizeof buf);
        if (n == 0) break;
        if (n > 0 && output.size() < 1000) output.append(buf, std::min<size_t>(n, 1000 - output.size()));
      }
    }
    if (timed_out) ::kill(pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (timed_out) return Outcome::defer("4.3.0", "command time limit exceeded: " + str::printable(cmd, 100));
    return command_outcome(status, cmd, output);
  });
}

Result<std::optional<std::string>> SystemEnv::mailbox_command_map(const std::string& user) {
  if (!command_maps_) return std::optional<std::string>();
  to_root();
  return command_maps_(user);
}

Outcome SystemEnv::forward(const std::string& sender, const std::string& address, const std::string& text) {
  if (!forward_) return Outcome::defer("4.3.0", "cannot forward: no queue writer");
  to_root();
  return forward_(sender, address, text);
}

}  // namespace postilion::local
