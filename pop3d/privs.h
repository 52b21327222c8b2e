// pop3d/privs.h - giving up root: to the unprivileged mail_owner before any client
// byte is parsed, and to the mailbox owner after login. Each switch is verified; a
// process that cannot give up root exits rather than serve a client as root.
#pragma once

#include <sys/types.h>

#include <string>

#include "lib/base/result.h"

namespace postilion::pop3d {

// When running as root: setgroups({gid}), setgid, setuid, then checks that root cannot
// be regained. When not root (a test instance): the ids stay, and ok. Either way the
// process is made non-dumpable (no core files, no ptrace by processes of the same uid).
Status drop_to(uid_t uid, gid_t gid);
// The same, for a user name (mail_owner).
Status drop_to_user(const std::string& name);

}  // namespace postilion::pop3d
