// lib/queue/file_ops.h - the file-ops seam every queue file step goes through.
// Production code uses system_ops(); tests substitute an implementation that fails
// (ENOSPC, EIO) or "crashes" after any step, to check that nothing half-written is
// left under a queue ID and nothing is reported committed before it is durable.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "lib/base/result.h"
#include "lib/base/unique_fd.h"

namespace postilion::queue {

class FileOps {
 public:
  virtual ~FileOps() = default;
  virtual Result<UniqueFd> open(const std::string& path, int flags, mode_t mode) = 0;
  // Writes all of data (short writes retried); appends at the file offset.
  virtual Status write(int fd, std::string_view data) = 0;
  virtual Status pwrite(int fd, std::string_view data, off_t offset) = 0;
  virtual Status fsync(int fd) = 0;
  // A hint, not a step of durability: starts writing the file's data to the disk
  // without waiting, so that the fsyncs of a group that follow overlap their writes
  // instead of taking turns. Errors show in the fsync that follows.
  virtual void start_writeback(int fd) { (void)fd; }
  // Renames without replacing: an existing `to` is an error (EEXIST), never clobbered.
  virtual Status rename(const std::string& from, const std::string& to) = 0;
  virtual Status fsync_dir(const std::string& dir) = 0;
  virtual Status unlink(const std::string& path) = 0;
};

// The real system calls. A process-wide object; thread-safe.
FileOps& system_ops();

}  // namespace postilion::queue
