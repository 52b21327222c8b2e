// local/server.h - what one local(8) process keeps between requests: the settings, the
// alias table (opened once; a rebuilt .db is noticed by lib/maps) and the system
// environment; serves the delivery requests of one connection, one after another.
#pragma once

#include <memory>
#include <string>

#include "lib/maps/maps.h"
#include "local/settings.h"
#include "local/system_env.h"

namespace postilion::local {

class Server {
 public:
  explicit Server(AllSettings all);
  // Reads one request from fd (blocking, bounded), delivers, logs, replies. False when
  // the connection is done: closed by the peer, garbage, a refused request or a failed
  // reply (the caller closes it).
  bool serve_one(int fd);
  SystemEnv& env() { return *env_; }

 private:
  Result<std::optional<std::string>> alias(const std::string& key);

  AllSettings all_;
  std::unique_ptr<maps::MapList> aliases_;
  std::unique_ptr<SystemEnv> env_;
};

// Queues a forwarded copy (alias or .forward to a remote address) into incoming/ of
// queue_dir, owned by the spool's owner so qmgr can read it, and wakes qmgr.
Outcome queue_forward(const std::string& queue_dir, const std::string& sender, const std::string& address,
                      const std::string& text);

}  // namespace postilion::local
