// local/mbox.cc - mbox formatting, locking and crash-safe append.
#include "local/mbox.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>
#include <thread>

#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/mail/header.h"

namespace postilion::local {

std::string mbox_from_line(std::string_view sender, int64_t unix_time) {
  time_t t = static_cast<time_t>(unix_time);
  struct tm tm;
  gmtime_r(&t, &tm);
  char date[64];
  strftime(date, sizeof date, "%a %b %e %H:%M:%S %Y", &tm);
  std::string s(sender.empty() ? std::string_view("MAILER-DAEMON") : sender);
  for (char& c : s)
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') c = '_';
  return "From " + s + " " + date + "\n";
}

std::string mbox_entry(std::string_view sender, int64_t unix_time, std::string_view message) {
  std::string out = mbox_from_line(sender, unix_time);
  std::string lf = mail::to_lf(message);
  out.reserve(out.size() + lf.size() + 64);
  size_t pos = 0;
  while (pos < lf.size()) {
    size_t nl = lf.find('\n', pos);
    size_t end = nl == std::string::npos ? lf.size() : nl;
    std::string_view line(lf.data() + pos, end - pos);
    size_t gt = 0;
    while (gt < line.size() && line[gt] == '>') ++gt;
    if (line.substr(gt).starts_with("From ")) out += '>';
    out.append(line);
    out += '\n';
    pos = end + 1;
  }
  out += '\n';
  return out;
}

Result<MboxLock> MboxLock::acquire(const std::string& path, int fd, int timeout_ms, int stale_seconds) {
  MboxLock lock;
  int64_t deadline = file::monotonic_ms() + timeout_ms;
  std::string dotlock = path + ".lock";
  // Dot-lock first, then fcntl: the order every mbox reader (mutt, mailx) also uses.
  for (;;) {
    int l = ::open(dotlock.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (l >= 0) {
      ::close(l);
      lock.dotlock_ = dotlock;
      break;
    }
    if (errno == EACCES || errno == EROFS) break;  // no dot-lock possible: fcntl alone
    if (errno != EEXIST) return Error::from_errno("create " + dotlock);
    struct stat st;
    if (::lstat(dotlock.c_str(), &st) == 0 && time(nullptr) - st.st_mtime > stale_seconds) {
      ::unlink(dotlock.c_str());  // left behind by a dead process
      continue;
    }
    if (file::monotonic_ms() >= deadline) return Error("mailbox " + path + " is locked (" + dotlock + ")", EAGAIN);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (;;) {
    struct flock fl {};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (::fcntl(fd, F_SETLK, &fl) == 0) break;
    if (errno != EACCES && errno != EAGAIN && errno != EINTR) return Error::from_errno("lock " + path);
    if (file::monotonic_ms() >= deadline) return Error("mailbox " + path + " is locked (fcntl)", EAGAIN);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  lock.fd_ = fd;
  return lock;
}

MboxLock::MboxLock(MboxLock&& o) noexcept : dotlock_(std::move(o.dotlock_)), fd_(o.fd_) {
  o.dotlock_.clear();
  o.fd_ = -1;
}

MboxLock::~MboxLock() {
  if (fd_ >= 0) {
    struct flock fl {};
    fl.l_type = F_UNLCK;
    fl.l_whence = SEEK_SET;
    ::fcntl(fd_, F_SETLK, &fl);
  }
  if (!dotlock_.empty()) ::unlink(dotlock_.c_str());
}

Status append_mbox(const std::string& path, std::string_view text, uid_t uid, int lock_timeout_ms) {
  auto fd = file::open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK, 0600);
  if (!fd) return fd.error();
  struct stat st;
  if (::fstat(fd->get(), &st) != 0) return Error::from_errno("fstat " + path);
  if (!S_ISREG(st.st_mode)) return Error("mailbox " + path + " is not a regular file", EPERM);
  if (st.st_nlink != 1) return Error("mailbox " + path + " has more than one link", EPERM);
  if (st.st_uid != uid) return Error(str::format("mailbox %s is owned by uid %u", path.c_str(), unsigned(st.st_uid)), EPERM);
  auto lock = MboxLock::acquire(path, fd->get(), lock_timeout_ms);
  if (!lock) return lock.error();
  // Under the lock: the size now is where this entry starts, and where a failed
  // write is cut back to, so a reader never sees half a message.
  off_t start = ::lseek(fd->get(), 0, SEEK_END);
  if (start < 0) return Error::from_errno("seek " + path);
  Status w = file::write_all(fd->get(), text);
  if (w) w = file::fsync_fd(fd->get(), path);
  if (!w) {
    if (::ftruncate(fd->get(), start) != 0) {
      // Nothing more to do: the error below already defers the delivery.
    }
    return w;
  }
  return {};
}

}  // namespace postilion::local
