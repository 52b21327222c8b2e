// lib/queue/spare.cc - finished queue files reused for new mail (see spare.h).
#include "lib/queue/spare.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <random>

#include "lib/base/file.h"
#include "lib/queue/queue_id.h"

namespace postilion::queue {
namespace {

constexpr size_t kScanBatch = 64;

bool ours(const struct stat& st) {
  return S_ISREG(st.st_mode) && st.st_nlink == 1 && st.st_uid == ::geteuid() &&
         static_cast<uint64_t>(st.st_size) <= kMaxSpareSize;
}

}  // namespace

Result<Retired> retire(const std::string& path, const std::string& spare_path) {
  {
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC));
    struct stat st;
    struct flock fl {};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    // The exclusive lock is held across the rename: a reader that opened the file
    // before gets its shared lock only after, and then finds the name gone.
    if (fd && ::fstat(fd.get(), &st) == 0 && ours(st) && ::fcntl(fd.get(), F_OFD_SETLK, &fl) == 0 &&
        ::renameat2(AT_FDCWD, path.c_str(), AT_FDCWD, spare_path.c_str(), RENAME_NOREPLACE) == 0)
      return Retired::Recycled;
  }
  if (::unlink(path.c_str()) != 0) return Error::from_errno("unlink " + path);
  return Retired::Removed;
}

Result<size_t> count_spare(const std::string& spare_dir) {
  DIR* d = ::opendir(spare_dir.c_str());
  if (!d) return Error::from_errno("open " + spare_dir);
  size_t n = 0;
  while (const dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') ++n;
  ::closedir(d);
  return n;
}

void SparePool::scan() {
  names_.clear();
  DIR* d = ::opendir(dir_.c_str());
  if (!d) return;
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.' || !valid_id(e->d_name)) continue;
    names_.emplace_back(e->d_name);
    if (names_.size() >= kScanBatch) break;
  }
  ::closedir(d);
  // Every smtpd reads the same names in the same order: each tries them in an order
  // of its own, so they seldom race for one file.
  static std::minstd_rand rng(static_cast<unsigned>(::getpid()) ^ static_cast<unsigned>(file::now_us()));
  std::shuffle(names_.begin(), names_.end(), rng);
}

Result<UniqueFd> SparePool::take(const std::string& to, FileOps& ops, uint64_t* old_size) {
  bool scanned = false;
  for (;;) {
    if (names_.empty()) {
      // At most one look per message (a readdir of a folder of at most
      // queue_file_recycle_limit names), and none soon after one that found nothing.
      if (scanned) return Error("no spare queue file", ENOENT);
      int64_t now = file::monotonic_ms();
      if (empty_at_ms_ >= 0 && now - empty_at_ms_ < empty_hold_ms_) return Error("no spare queue file", ENOENT);
      scan();
      scanned = true;
      empty_at_ms_ = names_.empty() ? now : -1;
      if (names_.empty()) return Error("no spare queue file", ENOENT);
    }
    std::string from = file::join(dir_, names_.back());
    names_.pop_back();
    if (!ops.rename(from, to)) continue;  // another process took it first
    auto fd = ops.open(to, O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0);
    struct stat st;
    if (fd && ::fstat(fd->get(), &st) == 0 && ours(st) && ::futimens(fd->get(), nullptr) == 0) {
      *old_size = static_cast<uint64_t>(st.st_size);
      return std::move(fd.value());
    }
    (void)ops.unlink(to);
  }
}

}  // namespace postilion::queue
