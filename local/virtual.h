// local/virtual.h - the rules of virtual(8), the delivery agent for mailboxes without a
// system account: the address is looked up in virtual_mailbox_maps (a path below
// virtual_mailbox_base: Maildir when it ends in '/', else mbox), the owner in
// virtual_uid_maps / virtual_gid_maps, and the message written as that owner through
// local(8)'s SystemEnv. No aliases, .forward, commands or files, as in Postfix.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/base/result.h"
#include "local/deliver.h"
#include "local/system_env.h"

namespace postilion::local {

struct VirtualSettings {
  std::string mailbox_base;             // virtual_mailbox_base
  uint64_t minimum_uid = 100;           // virtual_minimum_uid
  std::string recipient_delimiter = "+";
};

// virtual_mailbox_maps, virtual_uid_maps, virtual_gid_maps. nullopt: no such key; an
// Error: the table could not be read (the recipient is deferred).
struct VirtualTables {
  using Lookup = std::function<Result<std::optional<std::string>>(const std::string& key)>;
  Lookup mailbox, uid, gid;
};

// A mailbox named by a virtual_mailbox_maps value.
struct VirtualMailbox {
  std::string path;                 // base + "/" + the value's components
  std::vector<std::string> parents;  // the value's folders above the mailbox, in order
  bool maildir = false;             // the value ended in '/'
};

// Checks a virtual_mailbox_maps value against base and builds the mailbox path. Refused
// (Error text says why): an empty or relative base, an empty value, an absolute value,
// a "." or ".." component, control characters, a value over kMaxMailboxValue bytes.
constexpr size_t kMaxMailboxValue = 1024;
Result<VirtualMailbox> virtual_mailbox(std::string_view base, std::string_view value);

// A uid or gid as written in virtual_uid_maps / virtual_gid_maps: decimal digits
// (surrounding white space allowed), below 2^32 - 1. Error text says why not.
Result<uint32_t> parse_virtual_id(std::string_view value);

// Creates the folders `parents` below base one by one (mode 0700) where missing, as the
// current effective ids; each must then be a real directory (never a symbolic link)
// owned by uid or root. base itself must exist. Errors say which folder.
Status make_virtual_parents(const std::string& base, const std::vector<std::string>& parents, uid_t uid);

// Delivers d.recipient to its virtual mailbox. Unknown address: bounce 5.1.1; a table
// that cannot be read, a missing or bad uid/gid, a uid below minimum_uid (or 0), a
// refused mailbox path: defer, the reason also appended to *warnings (for the log).
// Writes go through env (as the owner when root; a non-root agent delivers only to its
// own uid).
Outcome deliver_virtual(const VirtualSettings& s, VirtualTables& tables, SystemEnv& env, const Delivery& d,
                        std::vector<std::string>* warnings = nullptr);

}  // namespace postilion::local
