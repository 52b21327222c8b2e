// lib/mailbox/maildir.cc - Maildir reading, UID assignment, session lock, delivery.
#include "lib/mailbox/maildir.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <ctime>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <utility>

#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/log/log.h"
#include "lib/mail/crlf.h"

namespace postilion::mailbox {
namespace {

struct Found {
  std::string file;  // relative
  std::string flags;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
};

bool is_dir(const std::string& p) {
  struct stat st;
  return ::lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Lists one of new/ and cur/ into found (key -> file). Files only; names filtered.
Status list_dir(const std::string& root, const char* sub, std::map<std::string, Found>* found) {
  std::string dir = root + "/" + sub;
  std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), ::closedir);
  if (!d) return Error::from_errno("open " + dir);
  int dfd = ::dirfd(d.get());
  errno = 0;
  while (dirent* e = ::readdir(d.get())) {
    std::string_view name = e->d_name;
    if (!valid_name(name)) continue;
    struct stat st;
    if (::fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // gone meanwhile
    if (!S_ISREG(st.st_mode)) continue;
    Found f;
    f.file = std::string(sub) + "/" + std::string(name);
    auto colon = name.find(":2,");
    if (colon != std::string_view::npos) f.flags = std::string(name.substr(colon + 3));
    f.size = static_cast<uint64_t>(st.st_size);
    f.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    // A message seen in both (moved new -> cur while we listed) counts once, from cur/.
    (*found)[key_of(name)] = std::move(f);
    errno = 0;
  }
  if (errno != 0) return Error::from_errno("read " + dir);
  return {};
}

std::atomic<unsigned> delivery_counter{0};

std::string clean_hostname() {
  char host[256] = {0};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == 0) return "localhost";
  std::string out;
  // '/' and ':' cannot appear in the name part of a Maildir file (maildir(5)).
  for (const char* p = host; *p; ++p) {
    if (*p == '/') out += "\\057";
    else if (*p == ':') out += "\\072";
    else out += *p;
  }
  return out;
}

// The host part of delivery names, looked up once per process (a rename of the host
// while a worker runs only changes the name part of later files, which carries no
// meaning to readers).
const std::string& cached_hostname() {
  static const std::string host = clean_hostname();
  return host;
}

// Maildirs this process has already checked or created, by (effective uid, path): a
// worker delivers many messages to the same few mailboxes, and each check costs four
// mkdir and four lstat calls. An entry is dropped and the check repeated whenever a
// delivery step fails as if a folder had gone (ENOENT, ENOTDIR, ELOOP).
class KnownMaildirs {
 public:
  bool contains(const std::string& path) {
    std::lock_guard lock(mu_);
    return known_.count({::geteuid(), path}) != 0;
  }
  void add(const std::string& path) {
    std::lock_guard lock(mu_);
    if (known_.size() >= kMax) known_.clear();  // bounded; a miss only costs a check
    known_.insert({::geteuid(), path});
  }
  void forget(const std::string& path) {
    std::lock_guard lock(mu_);
    known_.erase({::geteuid(), path});
  }

 private:
  static constexpr size_t kMax = 1024;
  std::mutex mu_;
  std::set<std::pair<uid_t, std::string>> known_;
};

KnownMaildirs& known_maildirs() {
  static KnownMaildirs k;
  return k;
}

bool folder_gone(int code) { return code == ENOENT || code == ENOTDIR || code == ELOOP; }


// Writes tmp/KEY (fsync'd, mtime set when given). Error codes as the calls gave them.
Status write_tmp(const std::string& maildir, const std::string& key, std::string_view text, int64_t mtime) {
  const std::string tmp = maildir + "/tmp/" + key;
  auto fd = file::open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
  if (!fd) return fd.error();
  Status st = file::write_all(fd->get(), text);
  if (st && mtime > 0) {
    struct timespec ts[2] = {{static_cast<time_t>(mtime), 0}, {static_cast<time_t>(mtime), 0}};
    if (::futimens(fd->get(), ts) != 0) st = Error::from_errno("utimes " + tmp);
  }
  if (st) st = file::fsync_fd(fd->get(), tmp);
  if (!st) ::unlink(tmp.c_str());
  return st;
}

// tmp/KEY -> new/KEY or cur/KEY:INFO. Error codes as the system calls gave them.
Status link_tmp(const std::string& maildir, const std::string& key, std::string_view info) {
  const std::string tmp = maildir + "/tmp/" + key;
  const std::string sub = info.empty() ? "/new" : "/cur";
  const std::string dst = maildir + sub + "/" + key + (info.empty() ? "" : ":" + std::string(info));
  // link() rather than rename(): it never replaces an existing message.
  if (::link(tmp.c_str(), dst.c_str()) != 0) {
    auto e = Error::from_errno("link " + tmp + " to " + sub.substr(1) + "/");
    ::unlink(tmp.c_str());
    return e;
  }
  ::unlink(tmp.c_str());
  // The message is durable only once the folder holds its name on disk.
  return file::fsync_dir(maildir + sub);
}

// One attempt at tmp/KEY -> new/KEY.
Status write_message(const std::string& maildir, const std::string& key, std::string_view text) {
  if (auto st = write_tmp(maildir, key, text, 0); !st) return st;
  return link_tmp(maildir, key, "");
}

}  // namespace

Status make_maildir(const std::string& maildir) {
  for (const char* sub : {"", "/tmp", "/new", "/cur"}) {
    std::string p = maildir + sub;
    if (::mkdir(p.c_str(), 0700) != 0 && errno != EEXIST) return Error::from_errno("mkdir " + p);
    struct stat st;
    // A symbolic link here could point the write anywhere the writer may write.
    if (::lstat(p.c_str(), &st) != 0) return Error::from_errno(p);
    if (!S_ISDIR(st.st_mode)) return Error(p + ": not a directory", ENOTDIR);
  }
  return {};
}

std::string key_of(std::string_view filename) {
  return std::string(filename.substr(0, filename.find(':')));
}

namespace {

// The leading digits of s from pos as a number; pos moves past them. False when there
// are none or too many to be a time.
bool take_number(std::string_view s, size_t* pos, uint64_t* out) {
  size_t start = *pos;
  uint64_t v = 0;
  while (*pos < s.size() && s[*pos] >= '0' && s[*pos] <= '9' && *pos - start < 18) v = v * 10 + (s[(*pos)++] - '0');
  *out = v;
  return *pos > start && (*pos == s.size() || s[*pos] < '0' || s[*pos] > '9');
}

// Seconds and microseconds of a `<seconds>.M<microseconds>` name.
bool arrival_time(std::string_view name, uint64_t* sec, uint64_t* usec) {
  size_t pos = 0;
  if (!take_number(name, &pos, sec)) return false;
  if (name.substr(pos, 2) != ".M") return false;
  pos += 2;
  return take_number(name, &pos, usec);
}

}  // namespace

bool arrival_before(std::string_view a, std::string_view b) {
  uint64_t as = 0, au = 0, bs = 0, bu = 0;
  if (arrival_time(a, &as, &au) && arrival_time(b, &bs, &bu) && (as != bs || au != bu))
    return as != bs ? as < bs : au < bu;
  return a < b;
}

bool valid_name(std::string_view n) {
  if (n.empty() || n[0] == '.') return false;
  for (unsigned char c : n)
    if (c < 0x20 || c == 0x7f || c == '/') return false;
  return true;
}

Result<Maildir> Maildir::open(const std::string& path) {
  for (const char* sub : {"new", "cur"}) {
    std::string p = path + "/" + sub;
    if (!is_dir(p)) {
      struct stat st;
      if (::lstat(p.c_str(), &st) != 0) return Error::from_errno(p);
      return Error(p + ": not a directory", ENOTDIR);
    }
  }
  return Maildir(path);
}

Result<Snapshot> Maildir::scan() {
  if (auto ch = refresh(); !ch) return ch.error();
  return box_->view();
}

Result<Changes> Maildir::refresh() {
  if (!box_) {
    auto box = Mailbox::open(path_);
    if (!box) return box.error();
    box_ = std::make_unique<Mailbox>(std::move(*box));
  }
  return box_->refresh();
}

const Snapshot& Maildir::view() const {
  static const Snapshot kEmpty;
  return box_ ? box_->view() : kEmpty;
}

const Message* Maildir::find(uint32_t uid) const { return box_ ? box_->find(uid) : nullptr; }

Result<std::vector<std::optional<std::string>>> Maildir::cache_get(const std::vector<uint32_t>& uids,
                                                                   CacheField f) {
  if (!box_) return std::vector<std::optional<std::string>>(uids.size());
  return box_->cache_get(uids, f);
}

Status Maildir::cache_put(const std::vector<CacheValue>& values) {
  if (!box_) return {};
  return box_->cache_put(values);
}

std::string Maildir::locate(const std::string& key) const {
  std::map<std::string, Found> found;
  (void)list_dir(path_, "new", &found);
  (void)list_dir(path_, "cur", &found);
  auto it = found.find(key);
  return it == found.end() ? std::string() : it->second.file;
}

Result<std::string> Maildir::read(const Message& m, size_t max_size) const {
  auto text = file::read_file(path_ + "/" + m.file, max_size);
  if (text || text.error().code() != ENOENT) return text;
  // Moved since the caller looked: the last refresh() may know where to, which spares
  // a listing of the folder.
  if (const Message* v = find(m.uid); v && v->key == m.key && v->file != m.file) {
    text = file::read_file(path_ + "/" + v->file, max_size);
    if (text || text.error().code() != ENOENT) return text;
  }
  std::string now = locate(m.key);
  if (now.empty()) return Error(path_ + "/" + m.file + ": message expunged", ENOENT);
  return file::read_file(path_ + "/" + now, max_size);
}

Status Maildir::remove(const Message& m) const {
  if (::unlink((path_ + "/" + m.file).c_str()) == 0) return {};
  if (errno != ENOENT) return Error::from_errno("unlink " + path_ + "/" + m.file);
  std::string now = locate(m.key);
  if (now.empty()) return {};
  if (::unlink((path_ + "/" + now).c_str()) != 0 && errno != ENOENT)
    return Error::from_errno("unlink " + path_ + "/" + now);
  return {};
}

Status Maildir::sync() const {
  if (auto st = file::fsync_dir(path_ + "/new"); !st) return st;
  return file::fsync_dir(path_ + "/cur");
}

Result<UniqueFd> lock_session(const std::string& maildir, std::string_view name) {
  std::string p = maildir + "/postilion-" + std::string(name) + ".lock";
  auto fd = file::open(p, O_RDWR | O_CREAT | O_NOFOLLOW, 0600);
  if (!fd) return fd.error();
  if (::flock(fd->get(), LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    if (e == EWOULDBLOCK) return Error(maildir + ": mailbox in use by another session", EWOULDBLOCK);
    return Error::from_errno("lock " + p);
  }
  return std::move(*fd);
}

Result<Delivered> deliver(const std::string& maildir, std::string_view text) {
  KnownMaildirs& known = known_maildirs();
  bool checked = false;
  if (!known.contains(maildir)) {
    if (auto st = make_maildir(maildir); !st) return st.error();
    known.add(maildir);
    checked = true;
  }
  std::string key = unique_name(text.size(), mail::crlf_size(text));
  Status st = write_message(maildir, key, text);
  if (!st && !checked && folder_gone(st.error().code())) {
    // Known from an earlier delivery but changed since (removed, replaced by a link):
    // check and create it again, then try once more.
    known.forget(maildir);
    if (auto made = make_maildir(maildir); !made) return made.error();
    known.add(maildir);
    st = write_message(maildir, key, text);
  }
  if (!st) {
    if (folder_gone(st.error().code())) known.forget(maildir);
    return st.error();
  }
  return Delivered{key, maildir + "/new/" + key};
}

std::string unique_name(uint64_t size, uint64_t vsize) {
  struct timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  uint32_t rnd = 0;
  if (::getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != sizeof rnd) rnd = static_cast<uint32_t>(ts.tv_nsec);
  return str::format("%lld.M%ldP%dQ%uR%08x.%s,S=%llu,W=%llu", static_cast<long long>(ts.tv_sec),
                     ts.tv_nsec / 1000, static_cast<int>(::getpid()), ++delivery_counter, rnd,
                     cached_hostname().c_str(), static_cast<unsigned long long>(size),
                     static_cast<unsigned long long>(vsize));
}

Prepared::~Prepared() {
  if (!key_.empty()) ::unlink((maildir_ + "/tmp/" + key_).c_str());
}

Result<Prepared> prepare(const std::string& maildir, std::string_view text, int64_t mtime) {
  KnownMaildirs& known = known_maildirs();
  if (!known.contains(maildir)) {
    if (auto st = make_maildir(maildir); !st) return st.error();
    known.add(maildir);
  }
  std::string key = unique_name(text.size(), mail::crlf_size(text));
  Status st = write_tmp(maildir, key, text, mtime);
  if (!st && folder_gone(st.error().code())) {
    known.forget(maildir);
    if (auto made = make_maildir(maildir); !made) return made.error();
    known.add(maildir);
    st = write_tmp(maildir, key, text, mtime);
  }
  if (!st) return st.error();
  Prepared p;
  p.maildir_ = maildir;
  p.key_ = key;
  return p;
}

Result<Delivered> publish(Prepared& p, std::string_view info) {
  if (p.key_.empty()) return Error("publish: nothing prepared", EINVAL);
  std::string key = p.key_;
  Status st = link_tmp(p.maildir_, key, info);
  p.key_.clear();  // linked or removed by link_tmp either way
  if (!st) return st.error();
  std::string file = p.maildir_ + (info.empty() ? "/new/" + key : "/cur/" + key + ":" + std::string(info));
  return Delivered{key, file};
}

}  // namespace postilion::mailbox
