// local/settings.cc - parameters of the local delivery agent.
#include "local/settings.h"

#include <unistd.h>

#include "lib/base/strings.h"

namespace postilion::local {

Result<AllSettings> settings_from(const Getter& get) {
  AllSettings a;
  a.queue_directory = get("queue_directory");
  a.alias_maps = get("alias_maps");
  auto& d = a.delivery;
  d.myhostname = str::lower(get("myhostname"));
  d.mydestination = str::split(str::lower(get("mydestination")), ", \t");
  d.recipient_delimiter = get("recipient_delimiter");
  d.home_mailbox = get("home_mailbox");
  d.mail_spool_directory = get("mail_spool_directory");
  if (d.home_mailbox.starts_with("/") || d.home_mailbox.find("..") != std::string::npos)
    return Error("home_mailbox: must be a path below the home directory").set_permanent();
  d.allow_commands = !str::trim(get("allow_mail_to_commands")).empty();
  d.allow_files = !str::trim(get("allow_mail_to_files")).empty();
  d.mailbox_command = std::string(str::trim(get("mailbox_command")));
  d.luser_relay = std::string(str::trim(get("luser_relay")));
  a.mailbox_command_maps = get("mailbox_command_maps");
  auto& s = a.system;
  s.root = ::geteuid() == 0;
  s.self_uid = ::getuid();
  s.local_home_root = get("local_home_root");
  s.recipient_delimiter = d.recipient_delimiter;
  s.default_privs = get("default_privs");
  std::string t = std::string(str::trim(get("command_time_limit")));
  if (!t.empty() && t.back() == 's') t.pop_back();
  auto n = str::parse_int(t);
  if (!n || *n <= 0) return Error("command_time_limit: bad time value").set_permanent();
  s.command_time_limit = static_cast<int>(*n);
  std::string limit = get("mailbox_size_limit");
  if (!limit.empty()) {
    auto b = str::parse_uint(str::trim(limit));
    if (!b) return Error("mailbox_size_limit: bad size").set_permanent();
    s.mailbox_size_limit = *b;
  }
  return a;
}

}  // namespace postilion::local
