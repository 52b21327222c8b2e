// ctl/spool.cc - spool layout for `init` and `check` (see DESIGN.md, "Spool").
#include "ctl/spool.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "lib/base/file.h"
#include "lib/base/strings.h"

namespace postilion::ctl {
namespace {

struct Folder {
  const char* name;
  mode_t mode;
  bool drop_group;  // group is setgid_group (postdrop), so postdrop can write
  bool root_owned;  // pid/ belongs to the master (root when it runs as root)
};

const Folder kFolders[] = {
    {"maildrop", 01730, true, false}, {"incoming", 0700, false, false},
    {"active", 0700, false, false},   {"deferred", 0700, false, false},
    {"hold", 0700, false, false},     {"corrupt", 0700, false, false},
    {"bounce", 0700, false, false},   {"defer", 0700, false, false},
    {"private", 0700, false, false},  {"public", 0710, true, false},
    {"pid", 0755, false, true},
};

struct Owners {
  uid_t owner_uid;
  gid_t owner_gid;
  gid_t drop_gid;
};

Result<Owners> owners(const config::Config& cfg) {
  std::string user = cfg.str("mail_owner");
  const passwd* pw = getpwnam(user.c_str());
  if (!pw) return Error("mail_owner " + user + " is not a user").set_permanent();
  Owners o{pw->pw_uid, pw->pw_gid, pw->pw_gid};
  if (config::find_param("setgid_group")) {
    if (const group* gr = getgrnam(cfg.str("setgid_group").c_str())) o.drop_gid = gr->gr_gid;
  }
  if (geteuid() != 0) {  // a private instance: everything belongs to its user
    o.owner_uid = geteuid();
    o.owner_gid = getegid();
    o.drop_gid = getegid();
  }
  return o;
}

std::string octal(mode_t m) { return str::format("%04o", static_cast<unsigned>(m)); }

}  // namespace

Status create_spool(const config::Config& cfg) {
  auto own = owners(cfg);
  if (!own) return own.error();
  std::string top = cfg.str("queue_directory");
  if (auto st = file::make_dirs(top, 0755); !st) return st;
  for (const Folder& f : kFolders) {
    std::string path = file::join(top, f.name);
    if (mkdir(path.c_str(), f.mode) != 0 && errno != EEXIST) return Error::from_errno(path);
    uid_t uid = f.root_owned ? geteuid() : own->owner_uid;
    gid_t gid = f.drop_group ? own->drop_gid : (f.root_owned ? getegid() : own->owner_gid);
    if (chown(path.c_str(), uid, gid) != 0) return Error::from_errno("chown " + path);
    // chmod after chown: chown clears the set-id bits.
    if (chmod(path.c_str(), f.mode) != 0) return Error::from_errno("chmod " + path);
  }
  return {};
}

std::vector<Problem> check_spool(const config::Config& cfg) {
  std::vector<Problem> out;
  std::string top = cfg.str("queue_directory");
  struct stat st;
  if (stat(top.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    out.push_back({"queue_directory " + top + " does not exist",
                   "run `postilionctl init` or create it with the folders of postilion.conf(5)"});
    return out;
  }
  auto own = owners(cfg);
  if (!own) {
    out.push_back({own.error().str(), "create the user or set mail_owner in main.conf"});
    return out;
  }
  for (const Folder& f : kFolders) {
    std::string path = file::join(top, f.name);
    if (lstat(path.c_str(), &st) != 0) {
      out.push_back({path + " is missing", str::format("mkdir -m %s %s", octal(f.mode).c_str(), path.c_str())});
      continue;
    }
    if (!S_ISDIR(st.st_mode)) {
      out.push_back({path + " is not a directory", "move it away and run `postilionctl init --force`"});
      continue;
    }
    mode_t mode = st.st_mode & 07777;
    if (mode != f.mode)
      out.push_back({str::format("%s: mode %s, expected %s", path.c_str(), octal(mode).c_str(),
                                 octal(f.mode).c_str()),
                     "chmod " + octal(f.mode) + " " + path});
    uid_t uid = f.root_owned ? geteuid() : own->owner_uid;
    if (st.st_uid != uid) {
      const passwd* pw = getpwuid(uid);
      std::string name = pw ? pw->pw_name : std::to_string(uid);
      out.push_back({str::format("%s: owner uid %u, expected %s", path.c_str(),
                                 static_cast<unsigned>(st.st_uid), name.c_str()),
                     "chown " + name + " " + path});
    }
    if (f.drop_group && st.st_gid != own->drop_gid) {
      const group* gr = getgrgid(own->drop_gid);
      std::string name = gr ? gr->gr_name : std::to_string(own->drop_gid);
      out.push_back({str::format("%s: group gid %u, expected %s", path.c_str(),
                                 static_cast<unsigned>(st.st_gid), name.c_str()),
                     "chgrp " + name + " " + path});
    }
  }
  return out;
}

}  // namespace postilion::ctl
