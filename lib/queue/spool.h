// lib/queue/spool.h - the spool (queue_directory) layout: folder names, paths, creating
// the folders with their owners and modes, and checking them (postilionctl check).
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "lib/base/result.h"
#include "lib/queue/file_ops.h"

namespace postilion::queue {

// spare/ holds finished queue files kept for reuse (lib/queue/spare.h): never mail.
enum class Folder { Maildrop, Incoming, Active, Deferred, Hold, Corrupt, Bounce, Defer, Spare, Private, Public, Pid };

inline constexpr Folder kAllFolders[] = {
    Folder::Maildrop, Folder::Incoming, Folder::Active, Folder::Deferred,
    Folder::Hold,     Folder::Corrupt,  Folder::Bounce, Folder::Defer,
    Folder::Spare,    Folder::Private,  Folder::Public, Folder::Pid};

const char* folder_name(Folder f);
// The folder named `name` ("deferred"); false for anything else.
bool parse_folder(std::string_view name, Folder* out);

// Who owns the spool: mail_owner's uid/gid and the setgid group of postdrop. With
// root_pid, pid/ (the master's lock and control socket) belongs to root: set it when
// the master runs as root; a private instance (no root) keeps pid/ its user's.
struct SpoolOwners {
  uid_t uid;
  gid_t gid;
  gid_t drop_gid;
  bool root_pid = false;
};

// Mode and group of a folder: maildrop 01730 and public 0710 belong to the drop group
// (postdrop writes into maildrop/ and connects to showq on public/), every other folder
// is 0700.
mode_t folder_mode(Folder f);
bool folder_has_drop_group(Folder f);
// The owner and group a folder should have.
uid_t folder_uid(Folder f, const SpoolOwners& owners);
gid_t folder_gid(Folder f, const SpoolOwners& owners);

struct SpoolProblem {
  std::string what;    // "/var/spool/postilion/incoming: mode 0777, expected 0700"
  std::string remedy;  // "chmod 0700 /var/spool/postilion/incoming"
};

class Spool {
 public:
  explicit Spool(std::string queue_directory) : top_(std::move(queue_directory)) {}

  const std::string& top() const { return top_; }
  std::string dir(Folder f) const;
  // dir(f)/id. The caller validates untrusted ids with valid_id() first.
  std::string path(Folder f, std::string_view id) const;

  // Creates queue_directory (0755) and every folder with its owner and mode; fixes
  // the owner and mode of folders that exist. chown needs root unless the owners are
  // the caller's own.
  Status create(const SpoolOwners& owners) const;
  // Every wrong owner, group or mode, each with its remedy. Empty when all is well.
  std::vector<SpoolProblem> check(const SpoolOwners& owners) const;

  // The queue IDs in a folder, sorted (= arrival order). Dot names (temporary files)
  // are skipped; any other name that is not a valid ID is appended to *strange (when
  // given) so the caller can log it - it is never opened.
  Result<std::vector<std::string>> list(Folder f, std::vector<std::string>* strange = nullptr) const;
  // Removes `.tmp.*` files older than max_age_s seconds from a folder: what a crash
  // between create and rename leaves behind (never a committed message). Returns how
  // many were removed.
  Result<size_t> remove_stale_temp(Folder f, int64_t max_age_s, FileOps& ops = system_ops()) const;

  // Moves a queue file between folders: one rename, then fsync both directories.
  Status move(Folder from, Folder to, std::string_view id, FileOps& ops = system_ops()) const;
  // Moves an unreadable file to corrupt/ and logs "ID: moved to corrupt/ from F: reason".
  // Never unlinks: the admin decides what to do with it.
  Status quarantine(Folder from, std::string_view id, std::string_view reason,
                    FileOps& ops = system_ops()) const;

 private:
  std::string top_;
};

}  // namespace postilion::queue
