// pop3d/launcher.cc - fork + exec of one session process per connection.
#include "pop3d/launcher.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "lib/base/file.h"
#include "lib/log/log.h"

namespace postilion::pop3d {

std::string peer_ip(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  char buf[INET6_ADDRSTRLEN] = "unknown";
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return buf;
  if (ss.ss_family == AF_INET)
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr, buf, sizeof buf);
  else if (ss.ss_family == AF_INET6)
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr, buf, sizeof buf);
  return buf;
}

Launcher::Launcher(event::EventBase& base, std::string config_dir, std::vector<std::string> overrides,
                   int64_t client_limit, std::function<void()> on_exit)
    : config_dir_(std::move(config_dir)), overrides_(std::move(overrides)), client_limit_(client_limit),
      on_exit_(std::move(on_exit)), chld_(base, SIGCHLD, [this] { reap(); }) {
  std::string self(4096, '\0');
  ssize_t n = ::readlink("/proc/self/exe", self.data(), self.size() - 1);
  if (n <= 0) log::fatal("cannot find my own program: readlink /proc/self/exe: %s", std::strerror(errno));
  self.resize(static_cast<size_t>(n));
  self_ = self;
}

bool Launcher::launch(UniqueFd fd) {
  std::string ip = peer_ip(fd.get());
  auto refuse = [&](const char* why) {
    log::warn("%s; refusing [%s]", why, ip.c_str());
    (void)file::write_all(fd.get(), "-ERR [SYS/TEMP] too many connections, try again later\r\n");
    return false;
  };
  if (client_limit_ > 0 && static_cast<int64_t>(children_.size()) >= client_limit_)
    return refuse("pop3d_client_limit reached");
  pid_t pid = ::fork();
  if (pid < 0) return refuse("fork failed");
  if (pid == 0) {
    // Every other descriptor this process holds is close-on-exec (listeners, the
    // master's status pipe and lifeline); the client becomes fd 0 of the new image.
    if (::dup2(fd.get(), 0) < 0) _exit(1);
    std::vector<std::string> args = {self_, "--session", "-c", config_dir_, "-a", ip};
    for (const auto& o : overrides_) {
      args.push_back("-o");
      args.push_back(o);
    }
    std::vector<char*> av;
    for (auto& a : args) av.push_back(a.data());
    av.push_back(nullptr);
    ::execv(self_.c_str(), av.data());
    _exit(127);
  }
  children_.insert(pid);
  return true;
}

void Launcher::reap() {
  int st;
  pid_t p;
  while ((p = ::waitpid(-1, &st, WNOHANG)) > 0) {
    if (children_.erase(p) == 0) continue;
    if (WIFSIGNALED(st)) log::warn("session process %d killed by signal %d", static_cast<int>(p), WTERMSIG(st));
    else if (WEXITSTATUS(st) == 127) log::error("session process %d: cannot run %s", static_cast<int>(p), self_.c_str());
    if (on_exit_) on_exit_();
  }
}

}  // namespace postilion::pop3d
