// lib/queue/spool.cc - spool layout, creation, checks and moves between folders.
#include "lib/queue/spool.h"

#include <dirent.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>

#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/log/log.h"
#include "lib/queue/queue_id.h"

namespace postilion::queue {
namespace {

std::string octal(mode_t m) { return str::format("%04o", static_cast<unsigned>(m)); }

std::string user_name(uid_t uid) {
  const passwd* pw = getpwuid(uid);
  return pw ? pw->pw_name : std::to_string(uid);
}

std::string group_name(gid_t gid) {
  const group* gr = getgrgid(gid);
  return gr ? gr->gr_name : std::to_string(gid);
}

}  // namespace

const char* folder_name(Folder f) {
  switch (f) {
    case Folder::Maildrop: return "maildrop";
    case Folder::Incoming: return "incoming";
    case Folder::Active: return "active";
    case Folder::Deferred: return "deferred";
    case Folder::Hold: return "hold";
    case Folder::Corrupt: return "corrupt";
    case Folder::Bounce: return "bounce";
    case Folder::Defer: return "defer";
    case Folder::Spare: return "spare";
    case Folder::Private: return "private";
    case Folder::Public: return "public";
    case Folder::Pid: return "pid";
  }
  return "?";
}

bool parse_folder(std::string_view name, Folder* out) {
  for (Folder f : kAllFolders) {
    if (name == folder_name(f)) {
      *out = f;
      return true;
    }
  }
  return false;
}

mode_t folder_mode(Folder f) {
  switch (f) {
    case Folder::Maildrop: return 01730;  // sticky: postdrop users cannot remove others' files
    case Folder::Public: return 0710;     // drop group may connect, not list
    default: return 0700;
  }
}

bool folder_has_drop_group(Folder f) { return f == Folder::Maildrop || f == Folder::Public; }

uid_t folder_uid(Folder f, const SpoolOwners& owners) { return f == Folder::Pid && owners.root_pid ? 0 : owners.uid; }

gid_t folder_gid(Folder f, const SpoolOwners& owners) {
  if (f == Folder::Pid && owners.root_pid) return 0;
  return folder_has_drop_group(f) ? owners.drop_gid : owners.gid;
}

std::string Spool::dir(Folder f) const { return file::join(top_, folder_name(f)); }

std::string Spool::path(Folder f, std::string_view id) const {
  return file::join(dir(f), std::string(id));
}

Status Spool::create(const SpoolOwners& owners) const {
  if (auto st = file::make_dirs(top_, 0755); !st) return st;
  for (Folder f : kAllFolders) {
    std::string p = dir(f);
    if (::mkdir(p.c_str(), folder_mode(f)) != 0 && errno != EEXIST) return Error::from_errno("mkdir " + p);
    struct stat st;
    if (::lstat(p.c_str(), &st) != 0) return Error::from_errno(p);
    if (!S_ISDIR(st.st_mode)) return Error(p + ": exists and is not a directory", ENOTDIR).set_permanent();
    uid_t uid = folder_uid(f, owners);
    gid_t gid = folder_gid(f, owners);
    if ((st.st_uid != uid || st.st_gid != gid) && ::chown(p.c_str(), uid, gid) != 0)
      return Error::from_errno("chown " + p);
    // chmod after chown: chown clears the set-id bits; mkdir's mode is cut by umask.
    if (::chmod(p.c_str(), folder_mode(f)) != 0) return Error::from_errno("chmod " + p);
  }
  return file::fsync_dir(top_);
}

std::vector<SpoolProblem> Spool::check(const SpoolOwners& owners) const {
  std::vector<SpoolProblem> out;
  struct stat st;
  if (::stat(top_.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    out.push_back({"queue_directory " + top_ + " does not exist", "run `postilionctl init`"});
    return out;
  }
  for (Folder f : kAllFolders) {
    std::string p = dir(f);
    mode_t want = folder_mode(f);
    uid_t want_uid = folder_uid(f, owners);
    gid_t want_gid = folder_gid(f, owners);
    if (::lstat(p.c_str(), &st) != 0) {
      out.push_back({p + " is missing", "run `postilionctl init` (or: mkdir -m " + octal(want) + " " + p +
                                            " && chown " + user_name(want_uid) + ":" +
                                            group_name(want_gid) + " " + p + ")"});
      continue;
    }
    if (!S_ISDIR(st.st_mode)) {
      out.push_back({p + " is not a directory", "move it away and run `postilionctl init`"});
      continue;
    }
    if (st.st_uid != want_uid)
      out.push_back({str::format("%s: owner %s, expected %s", p.c_str(), user_name(st.st_uid).c_str(),
                                 user_name(want_uid).c_str()),
                     "chown " + user_name(want_uid) + " " + p});
    if (st.st_gid != want_gid)
      out.push_back({str::format("%s: group %s, expected %s", p.c_str(), group_name(st.st_gid).c_str(),
                                 group_name(want_gid).c_str()),
                     "chgrp " + group_name(want_gid) + " " + p});
    mode_t mode = st.st_mode & 07777;
    if (mode != want)
      out.push_back({str::format("%s: mode %s, expected %s", p.c_str(), octal(mode).c_str(), octal(want).c_str()),
                     "chmod " + octal(want) + " " + p});
  }
  return out;
}

Result<std::vector<std::string>> Spool::list(Folder f, std::vector<std::string>* strange) const {
  std::string d = dir(f);
  DIR* dp = ::opendir(d.c_str());
  if (!dp) return Error::from_errno("open " + d);
  std::vector<std::string> ids;
  errno = 0;
  while (dirent* e = ::readdir(dp)) {
    std::string_view name = e->d_name;
    if (name.empty() || name[0] == '.') continue;
    if (valid_id(name)) {
      ids.emplace_back(name);
    } else if (strange) {
      strange->emplace_back(name);
    }
  }
  int err = errno;
  ::closedir(dp);
  if (err != 0) {
    errno = err;
    return Error::from_errno("read " + d);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

Result<size_t> Spool::remove_stale_temp(Folder f, int64_t max_age_s, FileOps& ops) const {
  std::string d = dir(f);
  DIR* dp = ::opendir(d.c_str());
  if (!dp) return Error::from_errno("open " + d);
  std::vector<std::string> stale;
  time_t now = ::time(nullptr);
  while (dirent* e = ::readdir(dp)) {
    std::string_view name = e->d_name;
    if (name.substr(0, 5) != ".tmp.") continue;
    struct stat st;
    std::string p = file::join(d, std::string(name));
    if (::lstat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && now - st.st_mtime > max_age_s)
      stale.push_back(p);
  }
  ::closedir(dp);
  size_t removed = 0;
  for (const std::string& p : stale) {
    if (auto st = ops.unlink(p); !st) {
      if (st.error().code() != ENOENT) return st.error();
      continue;
    }
    ++removed;
  }
  return removed;
}

Status Spool::move(Folder from, Folder to, std::string_view id, FileOps& ops) const {
  if (!valid_id(id)) return Error("bad queue id " + str::printable(id)).set_permanent();
  if (auto st = ops.rename(path(from, id), path(to, id)); !st) return st;
  // Both directories: the new name must be durable, and the old one durably gone, or
  // a crash could leave the message in two queues (delivered twice).
  if (auto st = ops.fsync_dir(dir(to)); !st) return st;
  return ops.fsync_dir(dir(from));
}

Status Spool::quarantine(Folder from, std::string_view id, std::string_view reason, FileOps& ops) const {
  std::string sid(id);
  if (auto st = move(from, Folder::Corrupt, id, ops); !st) {
    log::error("%s: cannot move %s/%s to corrupt/: %s", str::printable(sid).c_str(), folder_name(from),
               str::printable(sid).c_str(), st.error().c_str());
    return st;
  }
  log::warn("%s: moved to corrupt/ from %s/: %s", sid.c_str(), folder_name(from),
            str::printable(reason).c_str());
  return {};
}

}  // namespace postilion::queue
