// lib/base/file.cc - safe file operations: whole writes and reads, durable renames.
#include "lib/base/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

namespace postilion::file {

Status write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::from_errno("write");
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

Status pwrite_all(int fd, std::string_view data, off_t offset) {
  while (!data.empty()) {
    ssize_t n = ::pwrite(fd, data.data(), data.size(), offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::from_errno("pwrite");
    }
    data.remove_prefix(static_cast<size_t>(n));
    offset += n;
  }
  return {};
}

Result<std::string> read_all(int fd, size_t max_size) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::from_errno("read");
    }
    if (n == 0) return out;
    if (out.size() + static_cast<size_t>(n) > max_size) return Error("read: file too large", EFBIG);
    out.append(buf, static_cast<size_t>(n));
  }
}

Result<std::string> read_file(const std::string& path, size_t max_size) {
  auto fd = open(path, O_RDONLY);
  if (!fd) return fd.error();
  auto r = read_all(fd->get(), max_size);
  if (!r) return Error(path + ": " + r.error().str(), r.error().code());
  return r;
}

Result<UniqueFd> open(const std::string& path, int flags, mode_t mode) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return Error::from_errno("open " + path);
  return UniqueFd(fd);
}

Status fsync_fd(int fd, const std::string& path) {
  if (::fsync(fd) < 0) return Error::from_errno("fsync " + path);
  return {};
}

Status fsync_dir(const std::string& dir) {
  auto fd = open(dir, O_RDONLY | O_DIRECTORY);
  if (!fd) return fd.error();
  return fsync_fd(fd->get(), dir);
}

Status write_file_atomic(const std::string& path, std::string_view data, mode_t mode) {
  std::string tmp = join(dirname(path), "." + basename(path) + ".tmp." + std::to_string(::getpid()));
  auto fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode);
  if (!fd) return fd.error();
  Status st = write_all(fd->get(), data);
  if (st) st = fsync_fd(fd->get(), tmp);
  if (st && ::fchmod(fd->get(), mode) < 0) st = Error::from_errno("chmod " + tmp);
  fd->reset();
  if (st && ::rename(tmp.c_str(), path.c_str()) < 0) st = Error::from_errno("rename " + tmp);
  if (!st) {
    ::unlink(tmp.c_str());
    return st;
  }
  return fsync_dir(dirname(path));
}

Status make_dirs(const std::string& path, mode_t mode) {
  if (path.empty()) return {};
  struct stat sb;
  if (::stat(path.c_str(), &sb) == 0) {
    if (S_ISDIR(sb.st_mode)) return {};
    return Error("mkdir " + path + ": exists and is not a directory", ENOTDIR);
  }
  std::string parent = dirname(path);
  if (parent != path) {
    if (auto st = make_dirs(parent, mode); !st) return st;
  }
  if (::mkdir(path.c_str(), mode) < 0 && errno != EEXIST) return Error::from_errno("mkdir " + path);
  return {};
}

bool exists(const std::string& path) {
  struct stat sb;
  return ::lstat(path.c_str(), &sb) == 0;
}

std::string dirname(const std::string& path) {
  size_t p = path.find_last_of('/');
  if (p == std::string::npos) return ".";
  if (p == 0) return "/";
  return path.substr(0, p);
}

std::string basename(const std::string& path) {
  size_t p = path.find_last_of('/');
  return p == std::string::npos ? path : path.substr(p + 1);
}

std::string join(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  if (dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

int64_t now_us() {
  struct timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

int64_t monotonic_ms() {
  struct timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

}  // namespace postilion::file
