// lib/queue/file_ops.cc - the system implementation of the queue file-ops seam.
#include "lib/queue/file_ops.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <cerrno>

#include "lib/base/file.h"

namespace postilion::queue {
namespace {

class SystemOps : public FileOps {
 public:
  Result<UniqueFd> open(const std::string& path, int flags, mode_t mode) override {
    return file::open(path, flags, mode);
  }
  Status write(int fd, std::string_view data) override { return file::write_all(fd, data); }
  Status pwrite(int fd, std::string_view data, off_t offset) override {
    return file::pwrite_all(fd, data, offset);
  }
  Status fsync(int fd) override {
    if (::fsync(fd) != 0) return Error::from_errno("fsync");
    return {};
  }
  void start_writeback(int fd) override {
#ifdef SYNC_FILE_RANGE_WRITE
    (void)::sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
#else
    (void)fd;
#endif
  }
  Status rename(const std::string& from, const std::string& to) override {
    // RENAME_NOREPLACE: a clash of IDs must never overwrite an accepted message.
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0)
      return {};
    if (errno != EINVAL && errno != ENOSYS)
      return Error::from_errno("rename " + from + " to " + to);
    // File systems without RENAME_NOREPLACE: link() refuses an existing name too.
    if (::link(from.c_str(), to.c_str()) != 0)
      return Error::from_errno("link " + from + " to " + to);
    if (::unlink(from.c_str()) != 0) return Error::from_errno("unlink " + from);
    return {};
  }
  Status fsync_dir(const std::string& dir) override { return file::fsync_dir(dir); }
  Status unlink(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return Error::from_errno("unlink " + path);
    return {};
  }
};

}  // namespace

FileOps& system_ops() {
  static SystemOps ops;
  return ops;
}

}  // namespace postilion::queue
