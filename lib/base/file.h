// lib/base/file.h - safe file operations: whole writes and reads, durable renames.
// Every function reports environment failures as Result errors and never throws.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "lib/base/result.h"
#include "lib/base/unique_fd.h"

namespace postilion::file {

// Writes all of data (retrying on EINTR and short writes).
Status write_all(int fd, std::string_view data);
// Writes all of data at offset (pwrite).
Status pwrite_all(int fd, std::string_view data, off_t offset);
// Reads up to max_size bytes until EOF; more than that is an error (EFBIG).
Result<std::string> read_all(int fd, size_t max_size = SIZE_MAX);
Result<std::string> read_file(const std::string& path, size_t max_size = SIZE_MAX);
// Opens with O_CLOEXEC added.
Result<UniqueFd> open(const std::string& path, int flags, mode_t mode = 0);

// fsync(fd); reported with the path for context.
Status fsync_fd(int fd, const std::string& path);
// Opens the directory and fsyncs it, so that a rename or create in it is durable.
Status fsync_dir(const std::string& dir);
// Writes path atomically: temp file beside it, fsync, rename, fsync dir.
Status write_file_atomic(const std::string& path, std::string_view data, mode_t mode);

// mkdir -p; existing directories are left as they are.
Status make_dirs(const std::string& path, mode_t mode);
bool exists(const std::string& path);

std::string dirname(const std::string& path);
std::string basename(const std::string& path);
std::string join(const std::string& dir, const std::string& name);

// Microseconds since the epoch (CLOCK_REALTIME) and a monotonic clock in ms.
int64_t now_us();
int64_t monotonic_ms();

}  // namespace postilion::file
