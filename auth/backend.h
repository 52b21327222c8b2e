// auth/backend.h - where accounts come from: system users (passwd + shadow, crypt(3)
// hashes) and virtual users (lib/maps tables: user -> hash:uid:gid:maildir).
// This is the only code in Postilion that reads password data.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "auth/settings.h"
#include "lib/base/result.h"
#include "lib/maps/maps.h"

namespace postilion::auth {

struct Account {
  std::string user;     // the name as looked up
  std::string hash;     // crypt(3) hash; never leaves this process
  uid_t uid = 0;
  gid_t gid = 0;
  std::string home;
  std::string maildir;  // absolute, with trailing '/'
  std::string backend;  // "system" or "virtual"
};

// A virtual-user value "hash:uid:gid:maildir" (the maildir may contain ':'). nullopt
// when malformed: a missing field, uid/gid not numbers, a relative maildir or one
// containing "/../".
std::optional<Account> parse_virtual_entry(std::string_view user, std::string_view value);

// A user name auth will look up: 1..255 octets, printable ASCII or UTF-8, no spaces,
// no control characters, not starting with '-' (getpwnam and maps must see nothing odd).
bool valid_user_name(std::string_view user);

class Backends {
 public:
  // Opens the virtual user maps named in settings. Errors: a map that cannot be opened.
  static Result<std::unique_ptr<Backends>> open(const Settings& s);
  // Looks the user up in each backend in order; the first that knows it answers.
  // nullopt: no backend knows the user. Error: a backend could not answer (tempfail).
  Result<std::optional<Account>> lookup(std::string_view user);

 private:
  explicit Backends(const Settings& s) : settings_(s) {}
  Result<std::optional<Account>> lookup_system(std::string_view user);
  Result<std::optional<Account>> lookup_virtual(std::string_view user);
  Settings settings_;
  maps::MapList virtual_;
};

}  // namespace postilion::auth
