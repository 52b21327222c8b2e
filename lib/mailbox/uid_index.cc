// lib/mailbox/uid_index.cc - the Maildir UID index on Berkeley DB 5.3.
#include "lib/mailbox/uid_index.h"

#include <db_cxx.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <set>

#include "lib/base/file.h"
#include "lib/base/strings.h"

namespace postilion::mailbox {
namespace {

// The header record's key cannot be a Maildir name: those never start with a control
// character (readers skip dot files and names with control characters).
const std::string kHeaderKey = "\x01header";
const std::string kHeaderVersion = "v1";

struct DbClose {
  void operator()(Db* db) const {
    db->close(0);
    delete db;
  }
};
using DbPtr = std::unique_ptr<Db, DbClose>;

void silent_errors(const DbEnv*, const char*, const char*) {}

Result<DbPtr> open_db(const std::string& path, u_int32_t flags, int mode) {
  DbPtr db(new Db(nullptr, DB_CXX_NO_EXCEPTIONS));
  // A damaged file must be reported, not printed to stderr or trusted: page checksums
  // make Berkeley DB notice corrupted pages instead of reading garbage.
  db->set_errcall(silent_errors);
  if (flags & DB_CREATE) db->set_flags(DB_CHKSUM);
  int rc = db->open(nullptr, path.c_str(), nullptr, DB_BTREE, flags, mode);
  if (rc == ENOENT) return Error(path + ": " + std::strerror(rc), ENOENT);
  if (rc != 0) {
    // Anything Berkeley DB cannot open as a btree is a bad index, not an I/O failure,
    // unless the system said so.
    if (rc > 0 && rc != EINVAL) return Error(path + ": " + db_strerror(rc), rc);
    return Error(path + ": bad index: " + db_strerror(rc), EBADMSG);
  }
  return db;
}

Error bad(const std::string& file, const std::string& why) {
  return Error(file + ": bad index: " + why, EBADMSG);
}

bool parse_pair(std::string_view v, uint64_t* a, uint64_t* b) {
  auto sp = v.find(' ');
  if (sp == std::string_view::npos) return false;
  auto x = str::parse_uint(v.substr(0, sp));
  auto y = str::parse_uint(v.substr(sp + 1));
  if (!x || !y) return false;
  *a = *x;
  *b = *y;
  return true;
}

}  // namespace

Result<UidIndex> load_index(const std::string& file) {
  auto db = open_db(file, DB_RDONLY, 0);
  if (!db) return db.error();
  Dbc* raw = nullptr;
  if (int rc = (*db)->cursor(nullptr, &raw, 0); rc != 0) return bad(file, db_strerror(rc));
  std::unique_ptr<Dbc, void (*)(Dbc*)> cur(raw, [](Dbc* c) { c->close(); });
  UidIndex idx;
  bool have_header = false;
  std::set<uint32_t> uids;
  Dbt k, v;
  int rc;
  while ((rc = cur->get(&k, &v, DB_NEXT)) == 0) {
    std::string key(static_cast<const char*>(k.get_data()), k.get_size());
    std::string val(static_cast<const char*>(v.get_data()), v.get_size());
    if (key == kHeaderKey) {
      uint64_t validity = 0, next = 0;
      if (val.rfind(kHeaderVersion + " ", 0) != 0 ||
          !parse_pair(std::string_view(val).substr(kHeaderVersion.size() + 1), &validity, &next) ||
          validity == 0 || validity > UINT32_MAX || next == 0 || next > UINT32_MAX)
        return bad(file, "header record: " + str::printable(val, 60));
      idx.uid_validity = static_cast<uint32_t>(validity);
      idx.next_uid = static_cast<uint32_t>(next);
      have_header = true;
      continue;
    }
    uint64_t uid = 0, vsize = 0;
    if (key.empty() || static_cast<unsigned char>(key[0]) < 0x20 || key[0] == '.' ||
        key.find('/') != std::string::npos || !parse_pair(val, &uid, &vsize) || uid == 0 ||
        uid > UINT32_MAX)
      return bad(file, "record " + str::printable(key, 60));
    if (!uids.insert(static_cast<uint32_t>(uid)).second)
      return bad(file, "uid " + std::to_string(uid) + " used twice");
    idx.entries[key] = IndexEntry{static_cast<uint32_t>(uid), vsize};
  }
  if (rc != DB_NOTFOUND) return bad(file, db_strerror(rc));
  if (!have_header) return bad(file, "no header record");
  if (!uids.empty() && *uids.rbegin() >= idx.next_uid) return bad(file, "uid beyond the next uid");
  return idx;
}

Status save_index(const std::string& file, const UidIndex& index, int mode) {
  const std::string tmp = file + ".tmp." + std::to_string(getpid());
  ::unlink(tmp.c_str());  // left by a crashed process with our pid
  {
    auto db = open_db(tmp, DB_CREATE | DB_EXCL, mode);
    if (!db) return db.error();
    auto put = [&](const std::string& key, const std::string& val) -> Status {
      Dbt k(const_cast<char*>(key.data()), static_cast<u_int32_t>(key.size()));
      Dbt v(const_cast<char*>(val.data()), static_cast<u_int32_t>(val.size()));
      if (int rc = (*db)->put(nullptr, &k, &v, 0); rc != 0)
        return Error("write " + tmp + ": " + db_strerror(rc), rc > 0 ? rc : EIO);
      return {};
    };
    Status st = put(kHeaderKey, kHeaderVersion + " " + std::to_string(index.uid_validity) + " " +
                                    std::to_string(index.next_uid));
    for (auto it = index.entries.begin(); st && it != index.entries.end(); ++it)
      st = put(it->first, std::to_string(it->second.uid) + " " + std::to_string(it->second.vsize));
    if (st) {
      if (int rc = (*db)->sync(0); rc != 0) st = Error("sync " + tmp + ": " + db_strerror(rc), EIO);
    }
    if (!st) {
      db->reset();
      ::unlink(tmp.c_str());
      return st;
    }
  }
  // Berkeley DB's sync() hands the pages to the kernel; fsync makes them durable
  // before the rename makes the new index the current one.
  auto fd = file::open(tmp, O_RDONLY);
  if (!fd) return fd.error();
  if (auto st = file::fsync_fd(fd->get(), tmp); !st) {
    ::unlink(tmp.c_str());
    return st;
  }
  if (::rename(tmp.c_str(), file.c_str()) != 0) {
    auto e = Error::from_errno("rename " + tmp);
    ::unlink(tmp.c_str());
    return e;
  }
  return file::fsync_dir(file::dirname(file));
}

}  // namespace postilion::mailbox
