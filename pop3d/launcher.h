// pop3d/launcher.h - the pop3d listener's one job: for each accepted connection, run
// this program again in session mode (`pop3d --session`, the client on fd 0), so every
// client gets a fresh process image, and reap it when it ends. Before that it holds
// the per-client connection limits (anvil(8), lib/ipc/anvil_client.h): a client over
// them costs no session process.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lib/base/cidr.h"
#include "lib/base/unique_fd.h"
#include "lib/event/event.h"
#include "lib/ipc/anvil_client.h"
#include "lib/tls/tls.h"

namespace postilion::pop3d {

// The replies to a client over its connection limits (RFC 3206 response code): a
// per-client limit, and pop3d_client_limit (or a failed fork).
inline constexpr const char* kTooManyFromHost = "-ERR [SYS/TEMP] Too many connections from your host\r\n";
inline constexpr const char* kTooManyConnections = "-ERR [SYS/TEMP] too many connections, try again later\r\n";

class Launcher {
 public:
  // overrides are passed on as -o name=value. on_exit runs (on the loop) for every
  // connection launch() took on (returned true for) once it is over.
  Launcher(event::EventBase& base, std::string config_dir, std::vector<std::string> overrides,
           int64_t client_limit, std::function<void()> on_exit = nullptr);
  ~Launcher();

  // Per-client limits: clients outside `exceptions` are counted by anvil (no limits:
  // anvil is not asked). wrappermode: the listener speaks TLS from the first byte, with
  // `tls` (which must outlive the launcher; nullptr: refused clients are just closed).
  void set_limits(std::unique_ptr<ipc::AnvilClient> anvil, std::vector<Cidr> exceptions, bool wrappermode,
                  const tls::Context* tls);

  // Starts a session for fd (the peer address is read from the socket), once the
  // connection limits allow it. Over pop3d_client_limit the client gets
  // kTooManyConnections, over a per-client limit kTooManyFromHost - in TLS wrapper mode
  // after the handshake, done here, at most kMaxTlsRefusals at a time (beyond that the
  // connection is just closed) - a warning is logged, and on_exit runs once the refusal
  // is over. When fork fails the client gets kTooManyConnections (wrapper mode: the
  // connection is closed) and false is returned: no session to wait for.
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
  void refuse(UniqueFd fd, const char* line);
  void refused(uint64_t id);
  // fork + exec; ticket: the anvil count the session holds until it is reaped.
  bool spawn(UniqueFd fd, const std::string& ip, uint64_t ticket);
  void reap();

  std::string self_, config_dir_;
  std::vector<std::string> overrides_;
  int64_t client_limit_;
  std::function<void()> on_exit_;
  std::map<pid_t, uint64_t> children_;  // session process -> anvil ticket (0: none)
  std::unique_ptr<ipc::AnvilClient> anvil_;
  std::vector<Cidr> exceptions_;
  bool wrappermode_ = false;
  const tls::Context* tls_ = nullptr;
  event::EventBase& base_;
  std::map<uint64_t, event::BufferEvent> refusing_;  // TLS refusals in progress
  uint64_t next_waiting_ = 1;
  std::map<uint64_t, Waiting> waiting_;  // connections waiting for anvil
  event::Signal chld_;
};

// The peer's IP address as text, IPv4-mapped IPv6 as IPv4 ("unknown" when it cannot
// be read).
std::string peer_ip(int fd);

}  // namespace postilion::pop3d
