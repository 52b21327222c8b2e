// pop3d/privs.cc - verified privilege drops.
#include "pop3d/privs.h"

#include <grp.h>
#include <sys/prctl.h>
#include <pwd.h>
#include <unistd.h>

#include <vector>

namespace postilion::pop3d {

Status drop_to(uid_t uid, gid_t gid) {
  // Login processes of different clients share mail_owner's uid: none may ptrace or
  // core-dump another and read the passwords passing through it.
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  if (::geteuid() != 0) return {};
  if (uid == 0) return Error("refusing to run a session as root", EPERM);
  if (::setgroups(1, &gid) != 0) return Error::from_errno("setgroups");
  if (::setgid(gid) != 0) return Error::from_errno("setgid");
  if (::setuid(uid) != 0) return Error::from_errno("setuid");
  // Belt and braces: if any of the above left a way back, stop here.
  if (::setuid(0) == 0 || ::geteuid() != uid || ::getegid() != gid)
    return Error("privileges could not be dropped", EPERM);
  return {};
}

Status drop_to_user(const std::string& name) {
  if (::geteuid() != 0) return drop_to(::getuid(), ::getgid());
  passwd pw;
  passwd* found = nullptr;
  std::vector<char> buf(16384);
  int rc = ::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found);
  if (rc != 0 || !found) return Error("mail_owner " + name + ": no such user", rc ? rc : ENOENT);
  if (pw.pw_uid == 0) {
    // A root mail_owner (a test instance started by root) leaves no one to drop to; the
    // login process then runs as nobody, which must exist.
    rc = ::getpwnam_r("nobody", &pw, buf.data(), buf.size(), &found);
    if (rc != 0 || !found) return Error("mail_owner is root and there is no user nobody", EPERM);
  }
  return drop_to(pw.pw_uid, pw.pw_gid);
}

}  // namespace postilion::pop3d
