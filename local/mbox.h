// local/mbox.h - appending to a Unix mbox: the "From " envelope line and ">From "
// quoting, and the two locks every mbox reader honours (a dot-lock file and an fcntl
// write lock), so two deliveries never interleave. The caller runs as the mailbox owner.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "lib/base/result.h"
#include "lib/base/unique_fd.h"

namespace postilion::local {

// The envelope line "From SENDER DATE\n" (UTC, asctime style); an empty sender is
// MAILER-DAEMON, blanks in the sender become '_'.
std::string mbox_from_line(std::string_view sender, int64_t unix_time);

// One mbox entry: "From SENDER DATE\n", the message with LF line ends, every body or
// header line that starts with "From " (after any '>') quoted with one more '>', and a
// blank line at the end. An empty sender is written as MAILER-DAEMON.
std::string mbox_entry(std::string_view sender, int64_t unix_time, std::string_view message);

// Holds both locks of one mbox; releases them (dot-lock file removed) on destruction.
class MboxLock {
 public:
  // Takes the dot-lock PATH.lock (O_EXCL; a lock older than stale_seconds is removed)
  // and an fcntl write lock on fd, retrying until timeout_ms. A directory where the
  // user may not create files (EACCES) is served by the fcntl lock alone.
  static Result<MboxLock> acquire(const std::string& path, int fd, int timeout_ms,
                                  int stale_seconds = 300);
  MboxLock(MboxLock&& o) noexcept;
  MboxLock& operator=(MboxLock&&) = delete;
  MboxLock(const MboxLock&) = delete;
  ~MboxLock();

 private:
  MboxLock() = default;
  std::string dotlock_;
  int fd_ = -1;
};

// Appends text to the mbox at path (created 0600 if missing, never through a symlink,
// must be a regular file owned by uid with one link), locked, fsync'd. On a failed
// write the file is cut back to its old size. Errors are temporary (the caller defers).
Status append_mbox(const std::string& path, std::string_view text, uid_t uid, int lock_timeout_ms);

}  // namespace postilion::local
