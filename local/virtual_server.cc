// local/virtual_server.cc - virtual(8)'s parameters, per-process state and request loop.
#include "local/virtual_server.h"

#include <unistd.h>

#include "lib/base/strings.h"
#include "local/agent.h"
#include "local/server.h"

namespace postilion::local {

const std::vector<std::string_view>& virtual_params() {
  static const std::vector<std::string_view> p = {
      "queue_directory",  "recipient_delimiter", "virtual_mailbox_base", "virtual_mailbox_maps",
      "virtual_uid_maps", "virtual_gid_maps",    "virtual_minimum_uid",  "virtual_mailbox_limit"};
  return p;
}

Result<VirtualConfig> virtual_config_from(const Getter& get) {
  VirtualConfig c;
  c.queue_directory = get("queue_directory");
  c.mailbox_maps = get("virtual_mailbox_maps");
  c.uid_maps = get("virtual_uid_maps");
  c.gid_maps = get("virtual_gid_maps");
  auto& d = c.delivery;
  d.mailbox_base = std::string(str::trim(get("virtual_mailbox_base")));
  d.recipient_delimiter = get("recipient_delimiter");
  auto min = str::parse_uint(str::trim(get("virtual_minimum_uid")));
  if (!min) return Error("virtual_minimum_uid: bad number").set_permanent();
  d.minimum_uid = *min;
  auto limit = str::parse_uint(str::trim(get("virtual_mailbox_limit")));
  if (!limit) return Error("virtual_mailbox_limit: bad size").set_permanent();
  auto& s = c.system;
  s.root = ::geteuid() == 0;
  s.self_uid = ::getuid();
  s.mailbox_size_limit = *limit;
  s.size_limit_name = "virtual_mailbox_limit";
  return c;
}

VirtualServer::VirtualServer(VirtualConfig c)
    : c_(std::move(c)),
      mailbox_{"virtual_mailbox_maps", c_.mailbox_maps, nullptr},
      uid_{"virtual_uid_maps", c_.uid_maps, nullptr},
      gid_{"virtual_gid_maps", c_.gid_maps, nullptr} {
  tables_.mailbox = [this](const std::string& k) { return mailbox_.lookup(k); };
  tables_.uid = [this](const std::string& k) { return uid_.lookup(k); };
  tables_.gid = [this](const std::string& k) { return gid_.lookup(k); };
  // No aliases and no forwarding: virtual mailboxes only.
  env_ = std::make_unique<SystemEnv>(c_.system, nullptr, maildir_writer(), nullptr);
}

bool VirtualServer::serve_one(int fd) {
  AgentStyle style{"virtual", true};
  return serve_one_request(fd, style, [&](const ipc::Message& req, std::vector<DeliveryLog>* lines) {
    auto one = [&](const Delivery& d, std::vector<std::string>* warnings, std::vector<Expanded>*) {
      return deliver_virtual(c_.delivery, tables_, *env_, d, warnings);
    };
    return serve_deliveries(req, c_.queue_directory, style, one, lines);
  });
}

}  // namespace postilion::local
