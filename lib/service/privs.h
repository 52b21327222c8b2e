// lib/service/privs.h - giving up root, the one way every Postilion process does it:
// for good (a daemon to mail_owner, a session to the mailbox owner, a command to its
// user), or for a while, only the effective ids (local(8) writing as a user).
// Every switch is verified; a process that cannot give up root must not go on.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "lib/base/result.h"

namespace postilion::service {

// A user's ids, as the password database gives them.
struct UserIds {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
};

// Looks name up in the password database (getpwnam_r). Unknown: an Error.
Result<UserIds> lookup_user(const std::string& name);

// Drops to uid/gid for good: setgroups(groups, or {gid} when empty), setgid, setuid,
// then checks that root cannot be regained (setuid(0) fails, real and effective ids
// are the new ones). The process is made non-dumpable first, so that processes of
// the same uid cannot trace or core-dump each other and read what passes through
// them (passwords). uid 0 is refused. When the process is not root (a test
// instance), the ids stay as they are and the result is ok.
Status drop_to(uid_t uid, gid_t gid, const std::vector<gid_t>& groups = {});
// The same, for a user name.
Status drop_to_user(const std::string& name);
// For a process that reads a client before login (pop3d's, imapd's login process):
// drop_to_user(mail_owner), except that a root mail_owner (a test instance started by
// root) leaves no one to drop to, so the process becomes nobody, which must exist.
Status drop_to_login_user(const std::string& mail_owner);

// Switching only the effective ids, for a root process that must come back (real and
// saved uid stay 0, so the user can neither signal nor trace it, and only this
// process can return). save_ids() is taken once, while the process is root.
struct SavedIds {
  gid_t egid = 0;
  std::vector<gid_t> groups;
};
SavedIds save_ids();
// groups, egid, then euid (the uid last: only euid 0 may set the others); verified.
// On failure the ids may be half switched: call restore_ids().
Status switch_effective(uid_t uid, gid_t gid, const std::vector<gid_t>& groups);
// Back to euid 0 and the saved egid and groups (the uid first). A failure leaves the
// process with someone else's rights: it panics.
void restore_ids(const SavedIds& saved);

}  // namespace postilion::service
