// lib/event/listener.cc - evconnlistener owner and listening-socket helpers.
#include "lib/event/listener.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>

#include "lib/base/strings.h"
#include "lib/log/log.h"

namespace postilion::event {

Listener::Listener(EventBase& base, UniqueFd fd, AcceptCallback cb) : state_(std::make_unique<State>()) {
  state_->on_accept = std::move(cb);
  evutil_make_socket_nonblocking(fd.get());
  // backlog 0: the socket is already listening.
  evconnlistener* lev = evconnlistener_new(base.get(), &Listener::accept_cb, state_.get(),
                                           LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd.get());
  if (!lev) PANIC("evconnlistener_new failed for fd %d", fd.get());
  fd.release();
  state_->lev.reset(lev);
  evconnlistener_set_error_cb(lev, &Listener::error_cb);
}

void Listener::accept_cb(evconnlistener*, evutil_socket_t fd, sockaddr* sa, int len, void* arg) noexcept {
  auto* st = static_cast<State*>(arg);
  UniqueFd owned(fd);
  guard("listener", [&] { st->on_accept(std::move(owned), sa, len); });
}

void Listener::error_cb(evconnlistener*, void* arg) noexcept {
  int err = EVUTIL_SOCKET_ERROR();
  auto* st = static_cast<State*>(arg);
  if (st->on_error) {
    guard("listener error", [&] { st->on_error(err); });
  } else {
    log::warn("accept: %s", std::strerror(err));
  }
}

void Listener::set_error_callback(ErrorCallback cb) { state_->on_error = std::move(cb); }
void Listener::enable() { evconnlistener_enable(state_->lev.get()); }
void Listener::disable() { evconnlistener_disable(state_->lev.get()); }
int Listener::fd() const { return state_ ? evconnlistener_get_fd(state_->lev.get()) : -1; }

std::string inet_label(const std::string& host, uint16_t port) {
  if (host.empty()) return "*:" + std::to_string(port);
  if (host.find(':') != std::string::npos && host.front() != '[')
    return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

Result<UniqueFd> listen_inet_spec(const std::string& spec, std::string* label) {
  auto colon = spec.rfind(':');
  if (colon != std::string::npos && spec.front() == '[' && spec[colon - 1] != ']') colon = std::string::npos;
  std::string host = colon == std::string::npos ? "" : spec.substr(0, colon);
  auto port = str::parse_uint(colon == std::string::npos ? spec : spec.substr(colon + 1));
  if (!port || *port == 0 || *port > 65535) return Error("listen " + spec + ": bad port", EINVAL);
  if (label) *label = inet_label(host, static_cast<uint16_t>(*port));
  return listen_inet(host, static_cast<uint16_t>(*port));
}

Result<UniqueFd> listen_inet(const std::string& host_in, uint16_t port, int backlog) {
  std::string host = host_in;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  std::string label = inet_label(host, port);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  hints.ai_family = host.empty() ? AF_INET6 : AF_UNSPEC;
  addrinfo* res = nullptr;
  std::string service = std::to_string(port);
  int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &res);
  if (rc != 0 && host.empty()) {  // no IPv6 here: all IPv4 addresses
    hints.ai_family = AF_INET;
    rc = getaddrinfo(nullptr, service.c_str(), &hints, &res);
  }
  if (rc != 0) return Error("listen " + label + ": " + gai_strerror(rc), EINVAL);
  std::unique_ptr<addrinfo, CFree<addrinfo, freeaddrinfo>> owner(res);
  UniqueFd fd(::socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, 0));
  if (!fd) return Error::from_errno("socket for " + label);
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (res->ai_family == AF_INET6 && host.empty()) {
    int zero = 0;  // "all addresses" means IPv4 too
    ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  } else if (res->ai_family == AF_INET6) {
    ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  }
  if (::bind(fd.get(), res->ai_addr, res->ai_addrlen) != 0) return Error::from_errno("bind " + label);
  if (::listen(fd.get(), backlog) != 0) return Error::from_errno("listen " + label);
  return fd;
}

}  // namespace postilion::event
