// lib/queue/spare.h - finished queue files reused for new mail (spool folder spare/).
//
// qmgr does not unlink a queue file whose mail is all done: retire() moves it to
// spare/, and smtpd writes its next message over it (SparePool::take, then
// QueueWriter) instead of creating a file. The spool then neither allocates nor frees
// an inode and its blocks per message: no inode table and bitmap updates, no block
// allocation (the new message overwrites the old one's blocks in place) and, on ext4
// without a journal, no scan past the inodes freed in the last minutes (ext4 will not
// reuse those, and every create in the folder's block group walks past them: a cost
// that grows with the delivery rate).
//
// A spare file is reused only when all of this holds; otherwise it is unlinked:
// - nobody has it open: whoever reads a queue file holds a shared lock on it
//   (taken by read_queue_file), retire() moves a file only under an
//   exclusive lock it gets without waiting, and read_queue_file checks after locking
//   that the name still names the file it opened;
// - it is ours: a regular file with one link, owned by the effective uid (smtpd and
//   qmgr both run as mail_owner) and at most kMaxSpareSize bytes;
// - spare/ holds fewer files than queue_file_recycle_limit (qmgr counts).
// QueueWriter truncates a reused file to its new length before the fsync, so nothing
// of the old message is left behind the new one. Until then a spare file holds a
// finished message: spare/ is mail_owner's, mode 0700, as every other queue folder.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lib/base/result.h"
#include "lib/base/unique_fd.h"
#include "lib/queue/file_ops.h"

namespace postilion::queue {

// Larger files are unlinked, so spare/ never holds much disk (the limit times this).
inline constexpr uint64_t kMaxSpareSize = 256 * 1024;

enum class Retired { Recycled, Removed };

// qmgr's side. path is a finished queue file, spare_path its new name in spare/.
// Moves it there when it may be reused (see above), else unlinks it. An error only
// when the file could be neither moved nor unlinked.
Result<Retired> retire(const std::string& path, const std::string& spare_path);

// How many files spare_dir holds.
Result<size_t> count_spare(const std::string& spare_dir);

// smtpd's side: one per process, used from one thread.
class SparePool {
 public:
  // After a look that found spare/ empty, take() does not look again for
  // empty_hold_ms: when qmgr retires files more slowly than new mail comes in, a
  // message would otherwise pay for a directory read that finds nothing.
  static constexpr int64_t kEmptyHoldMs = 10;
  explicit SparePool(std::string spare_dir, int64_t empty_hold_ms = kEmptyHoldMs)
      : dir_(std::move(spare_dir)), empty_hold_ms_(empty_hold_ms) {}

  // Moves a spare file to `to` (the caller's unique temporary name; the rename is the
  // claim, so two processes never get the same file), opens it for writing at offset
  // 0 and sets its mtime to now (stale temporary files are swept by age). *old_size is
  // its length, for the writer to truncate. ENOENT when there is none: create a file.
  Result<UniqueFd> take(const std::string& to, FileOps& ops, uint64_t* old_size);

 private:
  void scan();

  std::string dir_;
  int64_t empty_hold_ms_;
  int64_t empty_at_ms_ = -1;  // when a look last found nothing
  std::vector<std::string> names_;
};

}  // namespace postilion::queue
