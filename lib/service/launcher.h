// lib/service/launcher.h - the listener's side of Kind::Session (service.h): for each
// accepted connection, run a fresh process image (`PROGRAM --session ... -a IP`, the
// client on fd 0) and reap it when it ends. Before that it holds the connection
// limits - this listener's client_limit and the per-client limits counted by anvil(8)
// (lib/ipc/anvil_client.h) - so a client over them costs no session process.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lib/base/cidr.h"
#include "lib/base/unique_fd.h"
#include "lib/base/result.h"
#include "lib/event/buffer_event.h"
#include "lib/event/event.h"
#include "lib/ipc/anvil_client.h"
#include "lib/tls/tls.h"

namespace postilion::service {

// What a Kind::Session listener admits, and what it answers the clients it does not.
struct SessionLimits {
  int64_t client_limit = 0;        // sessions of this listener at once (0: no limit)
  std::string client_limit_name;   // the parameter, for the warning ("pop3d_client_limit")
  ipc::AnvilLimits per_client;     // per client IP and master.conf service (none: anvil is not asked)
  int64_t anvil_timeout_ms = 1000;
  std::vector<Cidr> exceptions;    // clients the per-client limits do not apply to
  // The listener speaks TLS from the first byte (port 995, 993): refusals are sent
  // inside TLS, with this context (invalid: refused clients are just closed).
  bool wrappermode = false;
  tls::Context tls;
  // One line each, CRLF included: over a per-client limit, and over client_limit (or
  // when fork fails).
  std::string too_many_from_host;
  std::string too_many_connections;
};

class Launcher {
 public:
  // command: the session's argv without the client address (`PROGRAM --session -c DIR
  // -n SERVICE [-o name=value]...`); launch() appends "-a", IP. anvil_socket: the path
  // of private/anvil; service: the master.conf service the per-client limits count
  // under. on_exit runs (on the loop) for every connection launch() took on (returned
  // true for) once it is over.
  Launcher(event::EventBase& base, std::vector<std::string> command, SessionLimits limits,
           const std::string& anvil_socket, const std::string& service, std::function<void()> on_exit = nullptr);
  ~Launcher();

  // Starts a session for fd (the peer address is read from the socket), once the
  // connection limits allow it. Over client_limit the client gets too_many_connections,
  // over a per-client limit too_many_from_host - in TLS wrapper mode after the
  // handshake, done here, at most kMaxTlsRefusals at a time (beyond that the connection
  // is just closed) - a warning is logged, and on_exit runs once the refusal is over.
  // When fork fails the client gets too_many_connections (wrapper mode: the connection
  // is closed) and false is returned: no session to wait for.
  bool launch(UniqueFd fd);
  // Session processes plus connections waiting for anvil's answer or being refused.
  size_t running() const { return children_.size() + waiting_.size() + refusing_.size(); }

  static constexpr size_t kMaxTlsRefusals = 32;
  static constexpr int kTlsRefusalTimeoutMs = 10000;

 private:
  struct Waiting {
    UniqueFd fd;
    std::string ip;
  };
  void decided(uint64_t id, uint64_t ticket, const ipc::AnvilClient::Decision& d);
  // Sends line (inside TLS in wrapper mode) and closes; on_exit runs when the
  // connection is gone.
  void refuse(UniqueFd fd, const std::string& line);
  void refused(uint64_t id);
  // fork + exec; ticket: the anvil count the session holds until it is reaped.
  bool spawn(UniqueFd fd, const std::string& ip, uint64_t ticket);
  void reap();

  std::vector<std::string> command_;
  std::string service_;  // master.conf's name, for metrics(8)
  SessionLimits limits_;
  std::function<void()> on_exit_;
  std::map<pid_t, uint64_t> children_;  // session process -> anvil ticket (0: none)
  std::unique_ptr<ipc::AnvilClient> anvil_;
  event::EventBase& base_;
  std::map<uint64_t, event::BufferEvent> refusing_;  // TLS refusals in progress
  uint64_t next_waiting_ = 1;
  std::map<uint64_t, Waiting> waiting_;  // connections waiting for anvil
  event::Signal chld_;
};

// The peer's IP address as text, IPv4-mapped IPv6 as IPv4 ("unknown" when it cannot
// be read).
std::string peer_ip(int fd);

// This program's own path (/proc/self/exe), for running it again.
Result<std::string> self_program();

}  // namespace postilion::service
