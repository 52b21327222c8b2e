// lib/mailbox/index_db.cc - mailbox index records on Berkeley DB 5.3.
#include "lib/mailbox/index_db.h"

#include <db_cxx.h>
#include <unistd.h>

#include <cstring>

#include "lib/base/file.h"

namespace postilion::mailbox::index {
namespace {

constexpr char kMagic[] = "PSTIX1";  // header format; another value is a foreign file
constexpr size_t kMagicLen = 6;
constexpr size_t kHeaderSize = kMagicLen + 2 + 4 + 4 + 8 + 8 + 8 + 8 + 8;
constexpr size_t kRecordFixed = 1 + 1 + 8 + 8 + 8 + 8 + 2;
constexpr size_t kMaxKey = 1024, kMaxInfo = 255;

void put_be(std::string* out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t get_be(std::string_view v, size_t at, int bytes) {
  uint64_t x = 0;
  for (int i = 0; i < bytes; ++i) x = (x << 8) | static_cast<unsigned char>(v[at + i]);
  return x;
}

bool valid_key(std::string_view k) {
  if (k.empty() || k.size() > kMaxKey || k[0] == '.') return false;
  for (unsigned char c : k)
    if (c < 0x20 || c == 0x7f || c == '/' || c == ':') return false;
  return true;
}

bool valid_info(std::string_view i) {
  if (i.size() > kMaxInfo || (!i.empty() && i[0] != ':')) return false;
  for (unsigned char c : i)
    if (c < 0x20 || c == 0x7f || c == '/') return false;
  return true;
}

void silent_errors(const DbEnv*, const char*, const char*) {}

Error db_error(const std::string& what, int rc) {
  // Berkeley DB's own codes (negative) and EINVAL on a mangled file mean damage.
  if (rc < 0 || rc == EINVAL) return Error(what + ": damaged index: " + db_strerror(rc), EBADMSG);
  return Error(what + ": " + db_strerror(rc), rc);
}

}  // namespace

std::string message_key(uint32_t uid) {
  std::string k = "u";
  put_be(&k, uid, 4);
  return k;
}
std::string change_key(uint64_t modseq) {
  std::string k = "m";
  put_be(&k, modseq, 8);
  return k;
}
std::string expunged_key(uint32_t uid) {
  std::string k = "x";
  put_be(&k, uid, 4);
  return k;
}
std::string cache_prefix(uint32_t uid) {
  std::string k = "c";
  put_be(&k, uid, 4);
  return k;
}
std::string cache_key(uint32_t uid, char field) { return cache_prefix(uid) + field; }

std::optional<uint32_t> key_uid(std::string_view key) {
  if (key.size() < 5) return std::nullopt;
  return static_cast<uint32_t>(get_be(key, 1, 4));
}
std::optional<uint64_t> key_modseq(std::string_view key) {
  if (key.size() != 9) return std::nullopt;
  return get_be(key, 1, 8);
}

std::string encode_u32(uint32_t v) {
  std::string s;
  put_be(&s, v, 4);
  return s;
}
std::string encode_u64(uint64_t v) {
  std::string s;
  put_be(&s, v, 8);
  return s;
}
std::optional<uint32_t> decode_u32(std::string_view v) {
  if (v.size() != 4) return std::nullopt;
  return static_cast<uint32_t>(get_be(v, 0, 4));
}
std::optional<uint64_t> decode_u64(std::string_view v) {
  if (v.size() != 8) return std::nullopt;
  return get_be(v, 0, 8);
}

std::string encode(const Header& h) {
  std::string s(kMagic, kMagicLen);
  s.push_back(h.dirty ? 1 : 0);
  s.push_back(static_cast<char>((h.new_trusted ? 1 : 0) | (h.cur_trusted ? 2 : 0)));
  put_be(&s, h.uid_validity, 4);
  put_be(&s, h.next_uid, 4);
  put_be(&s, h.highest_modseq, 8);
  put_be(&s, static_cast<uint64_t>(h.new_mtime), 8);
  put_be(&s, static_cast<uint64_t>(h.cur_mtime), 8);
  put_be(&s, h.dev, 8);
  put_be(&s, h.ino, 8);
  return s;
}

std::optional<Header> decode_header(std::string_view v) {
  if (v.size() != kHeaderSize || v.substr(0, kMagicLen) != std::string_view(kMagic, kMagicLen)) return std::nullopt;
  Header h;
  unsigned char dirty = static_cast<unsigned char>(v[kMagicLen]);
  unsigned char trust = static_cast<unsigned char>(v[kMagicLen + 1]);
  if (dirty > 1 || trust > 3) return std::nullopt;
  h.dirty = dirty == 1;
  h.new_trusted = trust & 1;
  h.cur_trusted = trust & 2;
  size_t at = kMagicLen + 2;
  h.uid_validity = static_cast<uint32_t>(get_be(v, at, 4));
  h.next_uid = static_cast<uint32_t>(get_be(v, at + 4, 4));
  h.highest_modseq = get_be(v, at + 8, 8);
  h.new_mtime = static_cast<int64_t>(get_be(v, at + 16, 8));
  h.cur_mtime = static_cast<int64_t>(get_be(v, at + 24, 8));
  h.dev = get_be(v, at + 32, 8);
  h.ino = get_be(v, at + 40, 8);
  if (h.uid_validity == 0 || h.next_uid == 0) return std::nullopt;
  return h;
}

std::string encode(const Record& r) {
  std::string s;
  s.reserve(kRecordFixed + r.key.size() + r.info.size());
  s.push_back(1);  // record format
  s.push_back(r.in_cur ? 1 : 0);
  put_be(&s, static_cast<uint64_t>(r.internal_date), 8);
  put_be(&s, r.size, 8);
  put_be(&s, r.vsize, 8);
  put_be(&s, r.modseq, 8);
  put_be(&s, r.key.size(), 2);
  s += r.key;
  s += r.info;
  return s;
}

std::optional<Record> decode_record(uint32_t uid, std::string_view v) {
  if (uid == 0 || v.size() < kRecordFixed || v[0] != 1) return std::nullopt;
  unsigned char cur = static_cast<unsigned char>(v[1]);
  if (cur > 1) return std::nullopt;
  Record r;
  r.uid = uid;
  r.in_cur = cur == 1;
  r.internal_date = static_cast<int64_t>(get_be(v, 2, 8));
  r.size = get_be(v, 10, 8);
  r.vsize = get_be(v, 18, 8);
  r.modseq = get_be(v, 26, 8);
  size_t klen = get_be(v, 34, 2);
  if (kRecordFixed + klen > v.size()) return std::nullopt;
  std::string_view key = v.substr(kRecordFixed, klen);
  std::string_view info = v.substr(kRecordFixed + klen);
  if (!valid_key(key) || !valid_info(info)) return std::nullopt;
  r.key = std::string(key);
  r.info = std::string(info);
  return r;
}

namespace {

// Berkeley DB checks a page's checksum only once the page has been written: a page of
// zeros passes as "never written", and a zeroed root page was then read as a B-tree
// page, an item length past its end making Berkeley DB read beyond its buffer (found by
// fuzz_index). So the root page the metadata names must carry its own page number and a
// B-tree page type. Offsets are those of Berkeley DB 5's on-disk format (dbinc/db_page.h:
// DBMETA's magic at 12 and page size at 20, BTMETA's root at 88; a page header's pgno at
// 8 and type at 25), in the host's byte order, the only one this code writes.
bool root_page_sound(Db& db) {
  int fd = -1;
  if (db.fd(&fd) != 0 || fd < 0) return false;
  unsigned char meta[92];
  if (::pread(fd, meta, sizeof meta, 0) != static_cast<ssize_t>(sizeof meta)) return false;
  auto u32 = [](const unsigned char* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
  };
  constexpr uint32_t kBtreeMagic = 0x053162;
  if (u32(meta + 12) != kBtreeMagic) return false;
  uint32_t page_size = u32(meta + 20), root = u32(meta + 88);
  if (page_size < 512 || page_size > 65536 || root == 0) return false;
  unsigned char head[26];
  if (::pread(fd, head, sizeof head, static_cast<off_t>(root) * page_size) != static_cast<ssize_t>(sizeof head))
    return false;
  constexpr unsigned char kInternalBtree = 3, kLeafBtree = 5;
  return u32(head + 8) == root && (head[25] == kInternalBtree || head[25] == kLeafBtree);
}

}  // namespace

void File::Closer::operator()(Db* db) const {
  db->close(0);
  delete db;
}

File::File(File&&) noexcept = default;
File& File::operator=(File&&) noexcept = default;
File::~File() = default;

Result<File> File::open(const std::string& path, bool write, bool create) {
  File f;
  f.path_ = path;
  f.db_.reset(new Db(nullptr, DB_CXX_NO_EXCEPTIONS));
  // A damaged file must be reported, not printed to stderr or trusted: page checksums
  // make Berkeley DB notice corrupted pages instead of reading garbage.
  f.db_->set_errcall(silent_errors);
  u_int32_t flags = write ? 0 : DB_RDONLY;
  if (create) {
    flags |= DB_CREATE;
    f.db_->set_flags(DB_CHKSUM);
  }
  int rc = f.db_->open(nullptr, path.c_str(), nullptr, DB_BTREE, flags, 0600);
  if (rc == ENOENT) return Error(path + ": " + std::strerror(rc), ENOENT);
  if (rc != 0) return db_error(path, rc);
  // Every index is created with page checksums. A file without them is not one of ours
  // (or its metadata page is damaged): Berkeley DB would trust its pages as they are,
  // and an item length past the end of a page makes it read beyond its buffer (found
  // by fuzz_index). Damaged, then: the caller sets it aside and rebuilds the index.
  u_int32_t db_flags = 0;
  if (f.db_->get_flags(&db_flags) != 0 || !(db_flags & DB_CHKSUM))
    return Error(path + ": damaged index: no page checksums", EBADMSG);
  if (!root_page_sound(*f.db_)) return Error(path + ": damaged index: bad root page", EBADMSG);
  return f;
}

Result<std::optional<std::string>> File::get(std::string_view key) {
  Dbt k(const_cast<char*>(key.data()), static_cast<u_int32_t>(key.size()));
  Dbt v;
  v.set_flags(DB_DBT_MALLOC);
  int rc = db_->get(nullptr, &k, &v, 0);
  if (rc == DB_NOTFOUND || rc == DB_KEYEMPTY) return std::optional<std::string>();
  if (rc != 0) return db_error("read " + path_, rc);
  std::string out(static_cast<const char*>(v.get_data()), v.get_size());
  ::free(v.get_data());
  return std::optional<std::string>(std::move(out));
}

Status File::put(std::string_view key, std::string_view value) {
  Dbt k(const_cast<char*>(key.data()), static_cast<u_int32_t>(key.size()));
  Dbt v(const_cast<char*>(value.data()), static_cast<u_int32_t>(value.size()));
  if (int rc = db_->put(nullptr, &k, &v, 0); rc != 0) return db_error("write " + path_, rc);
  return {};
}

Status File::del(std::string_view key) {
  Dbt k(const_cast<char*>(key.data()), static_cast<u_int32_t>(key.size()));
  int rc = db_->del(nullptr, &k, 0);
  if (rc == 0 || rc == DB_NOTFOUND || rc == DB_KEYEMPTY) return {};
  return db_error("write " + path_, rc);
}

Status File::each(std::string_view prefix, std::string_view from,
                  const std::function<bool(std::string_view, std::string_view)>& fn) {
  Dbc* raw = nullptr;
  if (int rc = db_->cursor(nullptr, &raw, 0); rc != 0) return db_error("read " + path_, rc);
  std::unique_ptr<Dbc, void (*)(Dbc*)> cur(raw, [](Dbc* c) { c->close(); });
  std::string start(from.empty() ? prefix : from);
  Dbt k(start.data(), static_cast<u_int32_t>(start.size()));
  Dbt v;
  int rc = cur->get(&k, &v, DB_SET_RANGE);
  while (rc == 0) {
    std::string_view key(static_cast<const char*>(k.get_data()), k.get_size());
    if (key.substr(0, prefix.size()) != prefix) return {};
    std::string_view val(static_cast<const char*>(v.get_data()), v.get_size());
    if (!fn(key, val)) return {};
    rc = cur->get(&k, &v, DB_NEXT);
  }
  if (rc == DB_NOTFOUND) return {};
  return db_error("read " + path_, rc);
}

Status File::flush(bool durable) {
  if (int rc = db_->sync(0); rc != 0) return db_error("sync " + path_, rc);
  if (!durable) return {};
  int fd = -1;
  if (int rc = db_->fd(&fd); rc != 0) return db_error("sync " + path_, rc);
  // Berkeley DB's sync() hands the pages to the kernel; fsync orders them before the
  // next step of the update (see the protocol in mailbox.h).
  return file::fsync_fd(fd, path_);
}

}  // namespace postilion::mailbox::index
