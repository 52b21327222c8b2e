// local/virtual.cc - virtual(8)'s lookups, path checks and delivery decisions.
#include "local/virtual.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/mail/address.h"
#include "local/expand.h"

namespace postilion::local {
namespace {

constexpr const char* kConfigError = "mail system configuration error";

// Looks keys up in order; the first hit wins, an error stops the search.
Result<std::optional<std::string>> first_hit(const VirtualTables::Lookup& lookup,
                                             const std::vector<std::string>& keys) {
  if (!lookup) return std::optional<std::string>();
  for (const auto& k : keys) {
    auto v = lookup(k);
    if (!v || *v) return v;
  }
  return std::optional<std::string>();
}

// A uid or gid for address from one of the id tables; the reason in *why when none.
std::optional<uint32_t> owner_id(const VirtualTables::Lookup& lookup, const char* table,
                                 const std::vector<std::string>& keys, const std::string& address,
                                 Outcome* why) {
  auto v = first_hit(lookup, keys);
  if (!v) {
    *why = Outcome::defer("4.3.0", std::string(table) + " lookup failed: " + v.error().str());
    return std::nullopt;
  }
  if (!*v) {
    *why = Outcome::defer("4.3.5", std::string(kConfigError) + ": no " + table + " entry for " + address);
    return std::nullopt;
  }
  auto id = parse_virtual_id(**v);
  if (!id) {
    *why = Outcome::defer("4.3.5", std::string(kConfigError) + ": " + table + " value for " + address + ": " +
                                       id.error().str());
    return std::nullopt;
  }
  return *id;
}

}  // namespace

Result<VirtualMailbox> virtual_mailbox(std::string_view base, std::string_view value) {
  if (base.empty()) return Error("virtual_mailbox_base is not set").set_permanent();
  if (base[0] != '/') return Error("virtual_mailbox_base is not an absolute path").set_permanent();
  if (value.empty()) return Error("empty mailbox path").set_permanent();
  if (value.size() > kMaxMailboxValue) return Error("mailbox path too long").set_permanent();
  for (unsigned char c : value)
    if (c < 0x20 || c == 0x7f) return Error("control character in mailbox path").set_permanent();
  if (value[0] == '/') return Error("absolute mailbox path").set_permanent();
  VirtualMailbox m;
  m.maildir = value.back() == '/';
  // Empty components ("a//b") are dropped; "." and ".." are refused outright: the
  // path must stay below the base whatever the filesystem holds.
  std::vector<std::string> parts;
  for (const auto& part : str::split_exact(value, '/')) {
    if (part.empty()) continue;
    if (part == "." || part == "..") return Error("\"" + part + "\" in mailbox path").set_permanent();
    parts.push_back(part);
  }
  if (parts.empty()) return Error("empty mailbox path").set_permanent();
  std::string top(base);
  while (top.size() > 1 && top.back() == '/') top.pop_back();
  m.path = top == "/" ? "" : top;
  for (const auto& part : parts) m.path += "/" + part;
  if (m.maildir) m.path += "/";
  m.parents.assign(parts.begin(), parts.end() - 1);
  return m;
}

Result<uint32_t> parse_virtual_id(std::string_view value) {
  std::string_view v = str::trim(value);
  if (v.empty()) return Error("empty id").set_permanent();
  if (v.size() > 10 || v.find_first_not_of("0123456789") != std::string_view::npos)
    return Error("not a number: \"" + str::printable(v, 40) + "\"").set_permanent();
  auto n = str::parse_uint(v);
  if (!n || *n >= 0xffffffffULL) return Error("out of range: " + std::string(v)).set_permanent();
  return static_cast<uint32_t>(*n);
}

Status make_virtual_parents(const std::string& base, const std::vector<std::string>& parents, uid_t uid) {
  struct stat st;
  if (::stat(base.c_str(), &st) != 0) return Error::from_errno("virtual_mailbox_base " + base);
  if (!S_ISDIR(st.st_mode)) return Error("virtual_mailbox_base " + base + " is not a directory", ENOTDIR);
  std::string path = base;
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  for (const auto& part : parents) {
    std::string parent = path;
    path += "/" + part;
    bool made = ::mkdir(path.c_str(), 0700) == 0;
    if (!made && errno != EEXIST) return Error::from_errno("mkdir " + path);
    // lstat: a symbolic link here could lead the write anywhere this uid may write.
    if (::lstat(path.c_str(), &st) != 0) return Error::from_errno(path);
    if (!S_ISDIR(st.st_mode)) return Error(path + " is not a directory", ENOTDIR);
    if (st.st_uid != uid && st.st_uid != 0)
      return Error(str::format("%s is owned by uid %u", path.c_str(), unsigned(st.st_uid)), EPERM);
    // A new folder's name is durable before a message is written below it.
    if (made)
      if (Status s = file::fsync_dir(parent); !s) return s;
  }
  return {};
}

Outcome deliver_virtual(const VirtualSettings& s, VirtualTables& tables, SystemEnv& env, const Delivery& d,
                        std::vector<std::string>* warnings) {
  EndDelivery end{env};  // the writes leave the owner's ids in effect
  auto a = mail::parse_address(d.recipient);
  if (!a || a->local.empty() || a->domain.empty()) return Outcome::bounce("5.1.3", "bad address syntax");
  const std::string address = a->str();  // domain lowercased
  if (has_delivered_to(d.content, address)) return Outcome::bounce("5.4.6", "mail forwarding loop for " + address);
  const auto keys = mail::virtual_lookup_keys(address, s.recipient_delimiter);
  auto config_error = [&](Outcome o) {
    if (warnings) warnings->push_back(o.text);
    return o;
  };

  auto value = first_hit(tables.mailbox, keys);
  if (!value) return config_error(Outcome::defer("4.3.0", "virtual_mailbox_maps lookup failed: " + value.error().str()));
  if (!*value) return Outcome::bounce("5.1.1", "user unknown in virtual mailbox table");
  auto box = virtual_mailbox(s.mailbox_base, **value);
  if (!box)
    return config_error(Outcome::defer("4.3.5", std::string(kConfigError) + ": virtual_mailbox_maps value \"" +
                                                    str::printable(**value, 200) + "\" for " + address + ": " +
                                                    box.error().str()));

  Outcome why;
  auto uid = owner_id(tables.uid, "virtual_uid_maps", keys, address, &why);
  if (!uid) return config_error(why);
  auto gid = owner_id(tables.gid, "virtual_gid_maps", keys, address, &why);
  if (!gid) return config_error(why);
  if (*uid == 0 || *uid < s.minimum_uid)
    return config_error(Outcome::defer(
        "4.3.5", str::format("%s: uid %u of %s is below virtual_minimum_uid %llu", kConfigError, unsigned(*uid),
                             address.c_str(), static_cast<unsigned long long>(s.minimum_uid))));
  if (*gid == 0)
    return config_error(Outcome::defer("4.3.5", std::string(kConfigError) + ": gid 0 for " + address));
  // Not root: no way to write as anyone else, and a file owned by this process would
  // be refused later by its owner check anyway.
  if (!env.settings().root && *uid != env.settings().self_uid)
    return config_error(Outcome::defer(
        "4.3.5", str::format("%s: cannot deliver as uid %u without root privileges", kConfigError, unsigned(*uid))));

  User owner{"", static_cast<uid_t>(*uid), static_cast<gid_t>(*gid), s.mailbox_base};
  Outcome made = env.with_euid(owner, env.settings().write_time_limit, [&]() -> Outcome {
    if (Status st = make_virtual_parents(s.mailbox_base, box->parents, owner.uid); !st)
      return write_error("mailbox folder for " + address, st.error());
    return Outcome::sent("");
  });
  if (made.kind != Outcome::Kind::Sent) return made;
  std::string text = mailbox_text(d.sender, address, d.content);
  if (box->maildir) return env.maildir(owner, box->path, text);
  return env.mbox(owner, box->path, text);
}

}  // namespace postilion::local
