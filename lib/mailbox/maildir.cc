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

// The ",W=<n>" field a delivery writer puts in the name, if any.
std::optional<uint64_t> name_vsize(std::string_view key) {
  auto w = key.find(",W=");
  if (w == std::string_view::npos) return std::nullopt;
  std::string_view rest = key.substr(w + 3);
  rest = rest.substr(0, rest.find(','));
  return str::parse_uint(rest);
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

// One attempt at tmp/KEY -> new/KEY. Error codes as the system calls gave them.
Status write_message(const std::string& maildir, const std::string& key, std::string_view text) {
  const std::string tmp = maildir + "/tmp/" + key, dst = maildir + "/new/" + key;
  {
    auto fd = file::open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
    if (!fd) return fd.error();
    Status st = file::write_all(fd->get(), text);
    if (st) st = file::fsync_fd(fd->get(), tmp);
    if (!st) {
      ::unlink(tmp.c_str());
      return st;
    }
  }
  // link() rather than rename(): it never replaces an existing message.
  if (::link(tmp.c_str(), dst.c_str()) != 0) {
    auto e = Error::from_errno("link " + tmp + " to new/");
    ::unlink(tmp.c_str());
    return e;
  }
  ::unlink(tmp.c_str());
  // The message is durable only once new/ holds its name on disk.
  return file::fsync_dir(maildir + "/new");
}

}  // namespace

std::string key_of(std::string_view filename) {
  return std::string(filename.substr(0, filename.find(':')));
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
  // The index lock covers listing and numbering, so two sessions never hand out the
  // same UID to different messages.
  const std::string lock_path = path_ + "/" + kIndexLock;
  auto lock = file::open(lock_path, O_RDWR | O_CREAT | O_NOFOLLOW, 0600);
  if (!lock) return lock.error();
  if (::flock(lock->get(), LOCK_EX) != 0) return Error::from_errno("lock " + lock_path);

  const std::string index_path = path_ + "/" + kIndexFile;
  UidIndex idx;
  bool changed = false;
  auto loaded = load_index(index_path);
  if (loaded) {
    idx = std::move(*loaded);
  } else if (loaded.error().code() == ENOENT || loaded.error().code() == EBADMSG) {
    if (loaded.error().code() == EBADMSG) {
      // Kept for inspection, never silently deleted; the mailbox gets a fresh numbering.
      std::string aside = index_path + ".corrupt";
      log::warn("%s; renamed to %s, UIDs renumbered with a new UIDVALIDITY",
                loaded.error().c_str(), aside.c_str());
      if (::rename(index_path.c_str(), aside.c_str()) != 0)
        return Error::from_errno("rename " + index_path);
    }
    idx.uid_validity = static_cast<uint32_t>(std::time(nullptr));
    if (idx.uid_validity == 0) idx.uid_validity = 1;
    idx.next_uid = 1;
    changed = true;
  } else {
    return loaded.error();
  }

  std::map<std::string, Found> found;
  if (auto st = list_dir(path_, "new", &found); !st) return st.error();
  if (auto st = list_dir(path_, "cur", &found); !st) return st.error();

  Snapshot snap;
  std::vector<std::pair<std::string, Found*>> unknown;
  for (auto& [key, f] : found) {
    auto it = idx.entries.find(key);
    if (it == idx.entries.end()) {
      unknown.emplace_back(key, &f);
      continue;
    }
    snap.messages.push_back(Message{it->second.uid, key, f.file, f.flags, f.size, it->second.vsize});
  }
  // Forget what is gone, so the index does not grow forever.
  for (auto it = idx.entries.begin(); it != idx.entries.end();) {
    if (found.count(it->first) == 0) {
      it = idx.entries.erase(it);
      changed = true;
    } else {
      ++it;
    }
  }
  std::sort(unknown.begin(), unknown.end(), [](const auto& a, const auto& b) {
    if (a.second->mtime_ns != b.second->mtime_ns) return a.second->mtime_ns < b.second->mtime_ns;
    return a.first < b.first;
  });
  for (auto& [key, f] : unknown) {
    if (idx.next_uid == UINT32_MAX) {
      log::warn("%s: UIDs exhausted; renumbering", path_.c_str());
      return Error(path_ + ": UID space exhausted", EOVERFLOW);
    }
    uint64_t vsize = 0;
    if (auto w = name_vsize(key)) {
      vsize = *w;
    } else {
      auto text = file::read_file(path_ + "/" + f->file);
      if (!text) {
        if (text.error().code() == ENOENT) continue;  // expunged meanwhile
        return text.error();
      }
      vsize = mail::crlf_size(*text);
    }
    IndexEntry e{idx.next_uid++, vsize};
    idx.entries[key] = e;
    snap.messages.push_back(Message{e.uid, key, f->file, f->flags, f->size, e.vsize});
    changed = true;
  }
  if (changed) {
    if (auto st = save_index(index_path, idx); !st) return st.error();
  }
  std::sort(snap.messages.begin(), snap.messages.end(),
            [](const Message& a, const Message& b) { return a.uid < b.uid; });
  snap.uid_validity = idx.uid_validity;
  snap.next_uid = idx.next_uid;
  return snap;
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
  struct timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  uint32_t rnd = 0;
  if (::getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != sizeof rnd) rnd = static_cast<uint32_t>(ts.tv_nsec);
  std::string key = str::format("%lld.M%ldP%dQ%uR%08x.%s,S=%zu,W=%llu", static_cast<long long>(ts.tv_sec),
                                ts.tv_nsec / 1000, static_cast<int>(::getpid()), ++delivery_counter, rnd,
                                cached_hostname().c_str(), text.size(),
                                static_cast<unsigned long long>(mail::crlf_size(text)));
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

}  // namespace postilion::mailbox
