// ctl/spool.cc - the spool for `init` and `check`, through lib/queue's Spool: here only
// who should own it (mail_owner and the setgid group, or the caller for a private
// instance run without root).
#include "ctl/spool.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include "lib/queue/spool.h"

namespace postilion::ctl {
namespace {

Result<queue::SpoolOwners> owners(const config::Config& cfg) {
  if (geteuid() != 0)  // a private instance: everything belongs to the user running it
    return queue::SpoolOwners{geteuid(), getegid(), getegid()};
  std::string user = cfg.str("mail_owner");
  const passwd* pw = getpwnam(user.c_str());
  if (!pw) return Error("mail_owner " + user + " is not a user").set_permanent();
  // The master runs as root: pid/ (its lock and control socket) is root's.
  queue::SpoolOwners o{pw->pw_uid, pw->pw_gid, pw->pw_gid, true};
  if (config::find_param("setgid_group")) {
    std::string group_name = cfg.str("setgid_group");
    const group* gr = getgrnam(group_name.c_str());
    if (!gr) return Error("setgid_group " + group_name + " is not a group").set_permanent();
    o.drop_gid = gr->gr_gid;
  }
  return o;
}

}  // namespace

Status create_spool(const config::Config& cfg) {
  auto own = owners(cfg);
  if (!own) return own.error();
  return queue::Spool(cfg.str("queue_directory")).create(*own);
}

std::vector<Problem> check_spool(const config::Config& cfg) {
  auto own = owners(cfg);
  if (!own)
    return {{own.error().str(), "create it (useradd/groupadd --system) or fix main.conf"}};
  std::vector<Problem> out;
  for (auto& p : queue::Spool(cfg.str("queue_directory")).check(*own))
    out.push_back({std::move(p.what), std::move(p.remedy)});
  return out;
}

}  // namespace postilion::ctl
