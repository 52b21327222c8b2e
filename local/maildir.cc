// local/maildir.cc - interim Maildir writer (see maildir.h).
#include "local/maildir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>

#include "lib/base/file.h"
#include "lib/base/strings.h"

namespace postilion::local {
namespace {

// A directory that must be a real directory of ours: created if missing, never a link.
Status ensure_dir(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return Error(path + " is not a directory", ENOTDIR);
    if (st.st_uid != ::geteuid()) return Error(path + " is owned by someone else", EPERM);
    return {};
  }
  if (errno != ENOENT) return Error::from_errno(path);
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) return Error::from_errno("mkdir " + path);
  return {};
}

}  // namespace

Status maildir_deliver(const std::string& dir_in, const std::string& text) {
  std::string dir = dir_in;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  for (const char* sub : {"", "/tmp", "/new", "/cur"})
    if (Status s = ensure_dir(dir + sub); !s) return s;
  static std::atomic<unsigned> seq{0};
  char host[256] = "localhost";
  ::gethostname(host, sizeof host - 1);
  std::string h;
  for (char* p = host; *p; ++p) h += (*p == '/' ? '_' : *p == ':' ? '_' : *p);
  int64_t us = file::now_us();
  std::string name = str::format("%lld.M%lldP%dQ%u.%s", static_cast<long long>(us / 1000000),
                                 static_cast<long long>(us % 1000000), static_cast<int>(::getpid()),
                                 seq.fetch_add(1), h.c_str());
  std::string tmp = dir + "/tmp/" + name, fin = dir + "/new/" + name;
  auto fd = file::open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
  if (!fd) return fd.error();
  Status w = file::write_all(fd->get(), text);
  if (w) w = file::fsync_fd(fd->get(), tmp);
  if (!w) {
    ::unlink(tmp.c_str());
    return w;
  }
  fd->reset();
  // link + unlink rather than rename: never replaces an existing file in new/.
  if (::link(tmp.c_str(), fin.c_str()) != 0) {
    Error e = Error::from_errno("link " + fin);
    ::unlink(tmp.c_str());
    return e;
  }
  ::unlink(tmp.c_str());
  return file::fsync_dir(dir + "/new");
}

}  // namespace postilion::local
