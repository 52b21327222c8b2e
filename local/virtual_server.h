// local/virtual_server.h - what one virtual(8) process keeps between requests: its
// parameters, the three tables (opened at the first lookup and kept; a rebuilt .db is
// noticed by lib/maps) and the writing environment; serves the delivery requests of
// one connection, one after another.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lib/base/result.h"
#include "lib/maps/maps.h"
#include "local/server.h"
#include "local/settings.h"
#include "local/system_env.h"
#include "local/virtual.h"

namespace postilion::local {

// The main.conf parameters virtual(8) reads.
const std::vector<std::string_view>& virtual_params();

struct VirtualConfig {
  VirtualSettings delivery;
  SystemSettings system;  // root, self_uid, the mbox size limit (virtual_mailbox_limit)
  std::string queue_directory;
  std::string mailbox_maps, uid_maps, gid_maps;
};

// Reads virtual_params() through get (sizes in plain bytes). Errors are permanent and
// name the parameter.
Result<VirtualConfig> virtual_config_from(const Getter& get);

class VirtualServer {
 public:
  explicit VirtualServer(VirtualConfig c);
  // As Server::serve_one: one request read, delivered, logged (every recipient: the
  // reply says logged=yes) and answered. False when the connection is done.
  bool serve_one(int fd);

 private:
  VirtualConfig c_;
  // Every virtual mailbox needs all three tables: without one, nothing is delivered and
  // nothing bounced (the admin's fix lets the deferred mail through).
  ConfigTable mailbox_, uid_, gid_;
  VirtualTables tables_;
  std::unique_ptr<SystemEnv> env_;
};

}  // namespace postilion::local
