// lib/queue/test_util.h - test helpers for lib/queue: a file-ops seam that counts,
// logs, fails with a chosen errno at a chosen step, or "crashes" (every later step
// fails, cleanup included) - and small directory helpers.
#pragma once

#include <dirent.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <string>
#include <vector>

#include "lib/queue/file_ops.h"

namespace postilion::queue::testing {

class FaultyOps : public FileOps {
 public:
  enum class Mode { None, FailOnce, Crash };
  // Step numbers count every call, from 0.
  Mode mode = Mode::None;
  int fail_step = -1;
  int fail_errno = EIO;
  bool skip_sync = false;  // fsync/fsync_dir succeed without syncing (fast bulk tests)
  // "open", "write", "pwrite", "fsync", "rename", "fsync_dir", "unlink"; and "writeback",
  // which is a hint that cannot fail: logged, but not a step.
  std::vector<std::string> log;
  std::vector<std::string> synced_dirs;  // each successful fsync_dir's folder
  int step = 0;

  int count(const std::string& op) const { return static_cast<int>(std::count(log.begin(), log.end(), op)); }

  Result<UniqueFd> open(const std::string& path, int flags, mode_t mode) override {
    if (auto e = hit("open")) return *e;
    return system_ops().open(path, flags, mode);
  }
  Status write(int fd, std::string_view data) override {
    if (auto e = hit("write")) return *e;
    return system_ops().write(fd, data);
  }
  Status pwrite(int fd, std::string_view data, off_t offset) override {
    if (auto e = hit("pwrite")) return *e;
    return system_ops().pwrite(fd, data, offset);
  }
  Status fsync(int fd) override {
    if (auto e = hit("fsync")) return *e;
    return skip_sync ? Status{} : system_ops().fsync(fd);
  }
  void start_writeback(int fd) override {
    if (mode == Mode::Crash && step >= fail_step) return;
    log.push_back("writeback");
    system_ops().start_writeback(fd);
  }
  Status rename(const std::string& from, const std::string& to) override {
    if (auto e = hit("rename")) return *e;
    return system_ops().rename(from, to);
  }
  Status fsync_dir(const std::string& dir) override {
    if (auto e = hit("fsync_dir")) return *e;
    synced_dirs.push_back(dir);
    return skip_sync ? Status{} : system_ops().fsync_dir(dir);
  }
  Status unlink(const std::string& path) override {
    if (auto e = hit("unlink")) return *e;
    return system_ops().unlink(path);
  }

 private:
  std::optional<Error> hit(const char* op) {
    int n = step++;
    if (mode == Mode::Crash && n >= fail_step) return Error(std::string("crashed before ") + op, EIO);
    log.push_back(op);
    if (mode == Mode::FailOnce && n == fail_step) {
      errno = fail_errno;
      return Error::from_errno(std::string("injected ") + op);
    }
    return std::nullopt;
  }
};

inline std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") out.push_back(n);
    }
    ::closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace postilion::queue::testing
