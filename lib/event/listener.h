// lib/event/listener.h - Listener: accepts connections on a listening socket from the
// event loop (libevent evconnlistener), plus helpers that make listening sockets.
// Accept is non-blocking, so several processes may share one listening socket: the
// ones that lose the race see EAGAIN, which is ignored.
#pragma once

#include <event2/listener.h>
#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "lib/base/result.h"
#include "lib/base/unique_fd.h"
#include "lib/event/event.h"

namespace postilion::event {

using ListenerPtr = std::unique_ptr<evconnlistener, CFree<evconnlistener, evconnlistener_free>>;

class Listener {
 public:
  // fd is the accepted socket (non-blocking, close-on-exec), owned by the callee.
  using AcceptCallback = std::function<void(UniqueFd fd, const sockaddr* peer, int peer_len)>;
  // err is the errno of a failed accept other than EAGAIN/EINTR (e.g. EMFILE).
  using ErrorCallback = std::function<void(int err)>;

  Listener() = default;
  // Accepts on fd, which is already listening; owns it (closed on destruction).
  Listener(EventBase& base, UniqueFd fd, AcceptCallback cb);
  void set_error_callback(ErrorCallback cb);
  void enable();
  void disable();
  int fd() const;
  explicit operator bool() const { return state_ != nullptr; }

 private:
  struct State {
    ListenerPtr lev;
    AcceptCallback on_accept;
    ErrorCallback on_error;
  };
  static void accept_cb(evconnlistener*, evutil_socket_t fd, sockaddr* sa, int len, void* arg) noexcept;
  static void error_cb(evconnlistener*, void* arg) noexcept;
  std::unique_ptr<State> state_;
};

// A TCP socket bound to host:port (host "" = all addresses, IPv4 literal, IPv6 literal
// with or without brackets, or a name resolved once), SO_REUSEADDR, listening,
// close-on-exec. Errors name the address: "bind 127.0.0.1:25: Address already in use".
Result<UniqueFd> listen_inet(const std::string& host, uint16_t port, int backlog = 128);

// listen_inet for "[host:]port" as written on command lines (-l 127.0.0.1:2525,
// -l [::1]:2525, -l 2525); *label gets inet_label's form.
Result<UniqueFd> listen_inet_spec(const std::string& spec, std::string* label = nullptr);

// "host:port" as written in messages: 127.0.0.1:25, [::1]:25, *:25.
std::string inet_label(const std::string& host, uint16_t port);

}  // namespace postilion::event
