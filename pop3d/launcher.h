// pop3d/launcher.h - the pop3d listener's one job: for each accepted connection, run
// this program again in session mode (`pop3d --session`, the client on fd 0), so every
// client gets a fresh process image, and reap it when it ends.
#pragma once

#include <sys/types.h>

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "lib/base/unique_fd.h"
#include "lib/event/event.h"

namespace postilion::pop3d {

class Launcher {
 public:
  // overrides are passed on as -o name=value. on_exit runs (on the loop) for every
  // session process that ended.
  Launcher(event::EventBase& base, std::string config_dir, std::vector<std::string> overrides,
           int64_t client_limit, std::function<void()> on_exit = nullptr);

  // Starts a session for fd (the peer address is read from the socket). Over the client
  // limit, or when fork fails, the client gets -ERR [SYS/TEMP] and is closed; then
  // false is returned (no session to wait for).
  bool launch(UniqueFd fd);
  size_t running() const { return children_.size(); }

 private:
  void reap();
  std::string self_, config_dir_;
  std::vector<std::string> overrides_;
  int64_t client_limit_;
  std::function<void()> on_exit_;
  std::set<pid_t> children_;
  event::Signal chld_;
};

// The peer's IP address as text ("unknown" when it cannot be read).
std::string peer_ip(int fd);

}  // namespace postilion::pop3d
