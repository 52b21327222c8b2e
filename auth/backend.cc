// auth/backend.cc - system and virtual user lookups.
#include "auth/backend.h"

#include <pwd.h>
#include <shadow.h>
#include <unistd.h>

#include <vector>

#include "lib/base/strings.h"

namespace postilion::auth {

bool valid_user_name(std::string_view user) {
  if (user.empty() || user.size() > 255 || user[0] == '-') return false;
  for (unsigned char c : user)
    if (c <= 0x20 || c == 0x7f || c == ':' || c == '/') return false;
  return true;
}

std::optional<Account> parse_virtual_entry(std::string_view user, std::string_view value) {
  auto c1 = value.find(':');
  if (c1 == std::string_view::npos) return std::nullopt;
  auto c2 = value.find(':', c1 + 1);
  if (c2 == std::string_view::npos) return std::nullopt;
  auto c3 = value.find(':', c2 + 1);
  if (c3 == std::string_view::npos) return std::nullopt;
  Account a;
  a.user = std::string(user);
  a.hash = std::string(value.substr(0, c1));
  auto uid = str::parse_uint(value.substr(c1 + 1, c2 - c1 - 1));
  auto gid = str::parse_uint(value.substr(c2 + 1, c3 - c2 - 1));
  std::string md(str::trim(value.substr(c3 + 1)));
  if (!uid || !gid || *uid > 0x7fffffff || *gid > 0x7fffffff || md.empty() || md[0] != '/' ||
      (md + "/").find("/../") != std::string::npos)
    return std::nullopt;
  if (md.back() != '/') md += '/';
  a.uid = static_cast<uid_t>(*uid);
  a.gid = static_cast<gid_t>(*gid);
  a.home = md;
  a.maildir = md;
  a.backend = "virtual";
  return a;
}

Result<std::unique_ptr<Backends>> Backends::open(const Settings& s) {
  std::unique_ptr<Backends> b(new Backends(s));
  if (!s.virtual_users.empty()) {
    auto maps = maps::MapList::open(s.virtual_users);
    if (!maps) return maps.error();
    b->virtual_ = std::move(*maps);
  }
  return b;
}

Result<std::optional<Account>> Backends::lookup(std::string_view user) {
  if (!valid_user_name(user)) return std::optional<Account>();
  for (const auto& name : settings_.backends) {
    auto r = name == "system" ? lookup_system(user) : lookup_virtual(user);
    if (!r || r->has_value()) return r;
  }
  return std::optional<Account>();
}

Result<std::optional<Account>> Backends::lookup_virtual(std::string_view user) {
  if (virtual_.empty()) return std::optional<Account>();
  auto v = virtual_.lookup(user);
  if (!v) return v.error();
  if (!v->has_value()) return std::optional<Account>();
  auto a = parse_virtual_entry(user, **v);
  // A broken entry is the admin's mistake: a temporary failure (logged by the caller),
  // so the user is not told "wrong password" while the table is being fixed.
  if (!a) return Error("virtual user " + str::printable(user, 80) + ": malformed entry (want hash:uid:gid:/maildir)", EINVAL);
  return a;
}

Result<std::optional<Account>> Backends::lookup_system(std::string_view user) {
  std::string name(user);
  passwd pw;
  passwd* found = nullptr;
  std::vector<char> buf(16384);
  errno = 0;
  int rc = ::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found);
  if (rc != 0 && rc != ENOENT && rc != ESRCH) return Error("getpwnam " + str::printable(name, 80) + ": " + std::strerror(rc), rc);
  if (!found) return std::optional<Account>();
  // root and system accounts never log in to mail.
  if (static_cast<int64_t>(pw.pw_uid) < settings_.system_min_uid) return std::optional<Account>();
  Account a;
  a.user = name;
  a.uid = pw.pw_uid;
  a.gid = pw.pw_gid;
  a.home = pw.pw_dir ? pw.pw_dir : "";
  a.backend = "system";
  a.hash = pw.pw_passwd ? pw.pw_passwd : "";
  if (a.hash == "x" || a.hash.empty()) {
    spwd sp;
    spwd* sfound = nullptr;
    std::vector<char> sbuf(16384);
    rc = ::getspnam_r(name.c_str(), &sp, sbuf.data(), sbuf.size(), &sfound);
    if (rc != 0 && rc != ENOENT) return Error("getspnam " + str::printable(name, 80) + ": " + std::strerror(rc), rc);
    // No shadow entry (or no permission to read it) leaves an unusable hash: no login.
    a.hash = sfound && sp.sp_pwdp ? sp.sp_pwdp : "*";
    explicit_bzero(sbuf.data(), sbuf.size());
  }
  explicit_bzero(buf.data(), buf.size());
  if (a.home.empty() || a.home[0] != '/') return std::optional<Account>();
  std::string mb = settings_.home_mailbox;
  a.maildir = a.home + (a.home.back() == '/' ? "" : "/") + mb;
  if (a.maildir.back() != '/') a.maildir += '/';
  return std::optional<Account>(std::move(a));
}

}  // namespace postilion::auth
