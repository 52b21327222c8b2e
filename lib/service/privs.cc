// lib/service/privs.cc - verified privilege drops and effective-id switches.
#include "lib/service/privs.h"

#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstring>

#include "lib/log/log.h"

namespace postilion::service {

Result<UserIds> lookup_user(const std::string& name) {
  passwd pw;
  passwd* found = nullptr;
  std::vector<char> buf(16384);
  int rc = ::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found);
  if (rc != 0) return Error("user " + name + ": " + std::strerror(rc), rc);
  if (!found) return Error("user " + name + ": no such user", ENOENT);
  return UserIds{pw.pw_name, pw.pw_uid, pw.pw_gid};
}

Status drop_to(uid_t uid, gid_t gid, const std::vector<gid_t>& groups) {
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  if (::geteuid() != 0) return {};
  if (uid == 0) return Error("refusing to drop privileges to root", EPERM);
  int rc = groups.empty() ? ::setgroups(1, &gid) : ::setgroups(groups.size(), groups.data());
  if (rc != 0) return Error::from_errno("setgroups");
  if (::setgid(gid) != 0) return Error::from_errno("setgid");
  if (::setuid(uid) != 0) return Error::from_errno("setuid");
  // Belt and braces: if any of the above left a way back, stop here.
  if (::setuid(0) == 0 || ::getuid() != uid || ::geteuid() != uid || ::getgid() != gid || ::getegid() != gid)
    return Error("privileges could not be dropped: root could be regained", EPERM);
  return {};
}

Status drop_to_user(const std::string& name) {
  if (::geteuid() != 0) return drop_to(::getuid(), ::getgid());
  auto u = lookup_user(name);
  if (!u) return u.error();
  return drop_to(u->uid, u->gid);
}

Status drop_to_login_user(const std::string& mail_owner) {
  if (::geteuid() != 0) return drop_to(::getuid(), ::getgid());
  auto u = lookup_user(mail_owner);
  if (!u) return Error("mail_owner " + mail_owner + ": " + u.error().str(), u.error().code());
  if (u->uid == 0) {
    u = lookup_user("nobody");
    if (!u) return Error("mail_owner is root and there is no user nobody", EPERM);
  }
  return drop_to(u->uid, u->gid);
}

SavedIds save_ids() {
  SavedIds s;
  s.egid = ::getegid();
  int n = ::getgroups(0, nullptr);
  if (n > 0) {
    s.groups.resize(static_cast<size_t>(n));
    n = ::getgroups(n, s.groups.data());
    s.groups.resize(n > 0 ? static_cast<size_t>(n) : 0);
  }
  return s;
}

Status switch_effective(uid_t uid, gid_t gid, const std::vector<gid_t>& groups) {
  if (::setgroups(groups.size(), groups.data()) != 0) return Error::from_errno("setgroups");
  if (::setegid(gid) != 0) return Error::from_errno("setegid");
  if (::seteuid(uid) != 0) return Error::from_errno("seteuid");
  if (::geteuid() != uid || ::getegid() != gid) return Error("effective ids did not change", EPERM);
  return {};
}

void restore_ids(const SavedIds& saved) {
  if (::seteuid(0) != 0 || ::geteuid() != 0) PANIC("cannot return to euid 0: %s", std::strerror(errno));
  if (::setegid(saved.egid) != 0 || ::getegid() != saved.egid)
    PANIC("cannot return to egid %u: %s", unsigned(saved.egid), std::strerror(errno));
  if (::setgroups(saved.groups.size(), saved.groups.data()) != 0)
    PANIC("cannot restore the groups: %s", std::strerror(errno));
}

}  // namespace postilion::service
