// lib/service/launcher.cc - fork + exec of one session process per connection, after
// the connection limits.
#include "lib/service/launcher.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "lib/base/file.h"
#include "lib/event/buffer_event.h"
#include "lib/ipc/metrics.h"
#include "lib/log/log.h"

namespace postilion::service {

std::string peer_ip(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  char buf[INET6_ADDRSTRLEN] = "unknown";
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return buf;
  if (ss.ss_family == AF_INET)
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr, buf, sizeof buf);
  else if (ss.ss_family == AF_INET6) {
    // A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d: shown and counted as
    // a.b.c.d, so that IPv4 networks in the limit exceptions match them.
    const auto* a6 = &reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a6)) inet_ntop(AF_INET, a6->s6_addr + 12, buf, sizeof buf);
    else inet_ntop(AF_INET6, a6, buf, sizeof buf);
  }
  return buf;
}

Result<std::string> self_program() {
  std::string self(4096, '\0');
  ssize_t n = ::readlink("/proc/self/exe", self.data(), self.size() - 1);
  if (n <= 0) return Error::from_errno("cannot find my own program: readlink /proc/self/exe");
  self.resize(static_cast<size_t>(n));
  return self;
}

Launcher::Launcher(event::EventBase& base, std::vector<std::string> command, SessionLimits limits,
                   const std::string& anvil_socket, const std::string& service, std::function<void()> on_exit)
    : command_(std::move(command)), service_(service), limits_(std::move(limits)), on_exit_(std::move(on_exit)), base_(base),
      chld_(base, SIGCHLD, [this] { reap(); }) {
  if (command_.empty()) PANIC("launcher: no session command");
  if (limits_.per_client.any())
    anvil_ = std::make_unique<ipc::AnvilClient>(base, anvil_socket, service, limits_.per_client,
                                                static_cast<int>(limits_.anvil_timeout_ms));
}

Launcher::~Launcher() = default;

bool Launcher::launch(UniqueFd fd) {
  std::string ip = peer_ip(fd.get());
  if (limits_.client_limit > 0 && static_cast<int64_t>(running()) >= limits_.client_limit) {
    log::warn("%s reached; refusing [%s]", limits_.client_limit_name.c_str(), ip.c_str());
    refuse(std::move(fd), limits_.too_many_connections);
    return true;  // on_exit has run, or runs when the TLS refusal is over
  }
  if (!anvil_ || cidr_list_contains(limits_.exceptions, ip)) return spawn(std::move(fd), ip, 0);
  uint64_t id = next_waiting_++;
  waiting_[id] = Waiting{std::move(fd), ip};
  // The answer may come at once (anvil unreachable): decided() then runs in begin().
  anvil_->begin(ip, [this, id](uint64_t t, const ipc::AnvilClient::Decision& d) { decided(id, t, d); });
  return true;
}

void Launcher::decided(uint64_t id, uint64_t ticket, const ipc::AnvilClient::Decision& d) {
  auto it = waiting_.find(id);
  if (it == waiting_.end()) PANIC("anvil answered for connection %llu twice", static_cast<unsigned long long>(id));
  Waiting w = std::move(it->second);
  waiting_.erase(it);
  if (d.verdict == ipc::AnvilVerdict::Admit) {
    if (!spawn(std::move(w.fd), w.ip, ticket) && on_exit_) on_exit_();
    return;
  }
  log::warn("%s", ipc::anvil_warning(d.verdict, d.count, d.rate, "unknown[" + w.ip + "]", anvil_->service()).c_str());
  anvil_->end(ticket);
  refuse(std::move(w.fd), limits_.too_many_from_host);
}

// Refused before anything the client sent is read: one line, then the connection closes.
void Launcher::refuse(UniqueFd fd, const std::string& line) {
  if (!limits_.wrappermode) {
    ssize_t n = ::send(fd.get(), line.data(), line.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)n;  // a client too slow to take one line on a fresh connection loses it
    ::shutdown(fd.get(), SHUT_WR);
    fd.reset();
    if (on_exit_) on_exit_();
    return;
  }
  // Port 995, 993: the line means something only inside TLS. The handshake costs this
  // process some CPU, so only so many at a time; the rest are closed unanswered.
  if (!limits_.tls.valid() || refusing_.size() >= kMaxTlsRefusals) {
    fd.reset();
    if (on_exit_) on_exit_();
    return;
  }
  int raw = fd.release();
  auto bev = tls::socket_bufferevent(base_.get(), raw, limits_.tls);
  if (!bev) {
    UniqueFd again(raw);  // not taken by a bufferevent that was never made
    if (on_exit_) on_exit_();
    return;
  }
  uint64_t id = next_waiting_++;
  event::BufferEvent& c = refusing_[id] = event::BufferEvent::adopt(bev->release());
  // The line waits in the output buffer until the handshake is done.
  auto find = [this, id]() -> event::BufferEvent* {
    auto it = refusing_.find(id);
    return it == refusing_.end() ? nullptr : &it->second;
  };
  c.set_callbacks(
      [find] {  // whatever the client sends is dropped unread
        if (auto* b = find()) evbuffer_drain(b->input(), b->input_length());
      },
      [this, id, find] {
        if (auto* b = find(); b && b->output_length() == 0) refused(id);
      },
      [this, id](short what) {
        if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) refused(id);
      });
  c.set_timeouts(kTlsRefusalTimeoutMs, kTlsRefusalTimeoutMs);
  c.write(line);
  c.enable(EV_READ | EV_WRITE);
}

// A TLS refusal is over (written, failed or timed out). Called from the connection's
// own callback, so it is freed after the callback returns.
void Launcher::refused(uint64_t id) {
  auto it = refusing_.find(id);
  if (it == refusing_.end()) return;
  it->second.disable(EV_READ | EV_WRITE);
  base_.defer_delete(std::make_unique<event::BufferEvent>(std::move(it->second)));
  refusing_.erase(it);
  if (on_exit_) on_exit_();
}

bool Launcher::spawn(UniqueFd fd, const std::string& ip, uint64_t ticket) {
  pid_t pid = ::fork();
  if (pid < 0) {
    log::warn("fork failed: %s; refusing [%s]", std::strerror(errno), ip.c_str());
    // In wrapper mode a line outside TLS would be noise to the client: just closed.
    if (!limits_.wrappermode) (void)file::write_all(fd.get(), limits_.too_many_connections);
    if (anvil_ && ticket) anvil_->end(ticket);
    return false;
  }
  if (pid == 0) {
    // Every other descriptor this process holds is close-on-exec (listeners, the
    // master's status pipe and lifeline); the client becomes fd 0 of the new image.
    if (::dup2(fd.get(), 0) < 0) _exit(1);
    std::vector<std::string> args = command_;
    args.insert(args.end(), {"-a", ip});
    std::vector<char*> av;
    for (auto& a : args) av.push_back(a.data());
    av.push_back(nullptr);
    ::execv(command_[0].c_str(), av.data());
    _exit(127);
  }
  children_[pid] = ticket;
  ipc::metric("postilion_connections_total", {{"service", service_}});
  ipc::metric("postilion_connections", {{"service", service_}}, 1);
  return true;
}

void Launcher::reap() {
  int st;
  pid_t p;
  while ((p = ::waitpid(-1, &st, WNOHANG)) > 0) {
    auto child = children_.find(p);
    if (child == children_.end()) continue;
    if (anvil_ && child->second) anvil_->end(child->second);
    children_.erase(child);
    ipc::metric("postilion_connections", {{"service", service_}}, -1);
    if (WIFSIGNALED(st)) log::warn("session process %d killed by signal %d", static_cast<int>(p), WTERMSIG(st));
    else if (WEXITSTATUS(st) == 127) log::error("session process %d: cannot run %s", static_cast<int>(p), command_[0].c_str());
    if (on_exit_) on_exit_();
  }
}

}  // namespace postilion::service
