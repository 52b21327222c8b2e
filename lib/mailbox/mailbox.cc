// lib/mailbox/mailbox.cc - a Maildir folder with its index: sync with the directory,
// UID assignment, flag changes, expunge, append, copy and move, the cache.
#include "lib/mailbox/mailbox.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <functional>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/log/log.h"
#include "lib/mailbox/index_db.h"
#include "lib/mailbox/maildir.h"
#include "lib/mailbox/uid_index.h"
#include "lib/mailbox/uidlist.h"
#include "lib/mail/crlf.h"

namespace postilion::mailbox {

using index::Header;
using index::Record;

// What this session last saw of the index.
struct Mailbox::State {
  bool loaded = false;       // view_ holds every record of the index
  uint64_t seen_modseq = 0;  // changes up to here are folded into view_
};

namespace {

// A directory mtime this close to now may still change within the same timestamp
// tick after we read the directory, so it is stored as "not trusted": the next
// refresh reads the directory once more after the second has passed.
constexpr int64_t kTrustAfterNs = 1000000000;

const char kFlagLetters[] = "SRFTDP";  // in Flag bit order

int64_t now_ns() {
  struct timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

int64_t mtime_ns(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

// The index lock: exclusive for any change, shared for reads of the cache.
Result<UniqueFd> take_lock(const std::string& folder, int op) {
  const std::string p = folder + "/" + kMailboxIndexLock;
  auto fd = file::open(p, O_RDWR | O_CREAT | O_NOFOLLOW, 0600);
  if (!fd) return fd.error();
  while (::flock(fd->get(), op) != 0) {
    if (errno != EINTR) return Error::from_errno("lock " + p);
  }
  return std::move(*fd);
}

struct Listed {
  bool in_cur = false;
  std::string info;  // ":2,..." or ""
};

// Lists one of new/ and cur/ into out (key -> where). Files of any type but
// directories (a reader skips what it cannot open); names filtered as readers do.
Status list_dir(const std::string& folder, bool cur, std::unordered_map<std::string, Listed>* out) {
  std::string dir = folder + (cur ? "/cur" : "/new");
  std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), ::closedir);
  if (!d) return Error::from_errno("open " + dir);
  errno = 0;
  while (dirent* e = ::readdir(d.get())) {
    std::string_view name = e->d_name;
    bool regular = e->d_type == DT_REG;
    if (e->d_type == DT_UNKNOWN) {
      struct stat st;
      regular = ::fstatat(::dirfd(d.get()), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
    }
    // Symbolic links, directories and odd names are not messages (a link could make
    // a reader serve any file its owner may read).
    if (!regular || !valid_name(name)) {
      errno = 0;
      continue;
    }
    size_t colon = name.find(':');
    std::string key(name.substr(0, colon));
    Listed l;
    l.in_cur = cur;
    // Dovecot leaves flagged messages in new/ too ("KEY:2,S"): the info counts there.
    if (colon != std::string_view::npos) l.info = std::string(name.substr(colon));
    // A message seen in both (moved new -> cur while we listed) counts once, from cur/.
    (*out)[std::move(key)] = std::move(l);
    errno = 0;
  }
  if (errno != 0) return Error::from_errno("read " + dir);
  return {};
}

// The ",W=<n>" (CRLF size) or ",S=<n>" field a delivery writer puts in the name.
std::optional<uint64_t> name_field(std::string_view key, std::string_view field) {
  auto w = key.find(field);
  if (w == std::string_view::npos) return std::nullopt;
  std::string_view rest = key.substr(w + field.size());
  rest = rest.substr(0, rest.find(','));
  return str::parse_uint(rest);
}

// A UIDVALIDITY for a new numbering of the folder: the time, but always above the
// last one the folder had (kept in its own small file, which outlives a lost or
// damaged index), so clients never pair new UIDs with an old UIDVALIDITY.
uint32_t fresh_uid_validity(const std::string& folder, uint32_t avoid) {
  const std::string p = folder + "/" + kUidValidityFile;
  uint64_t last = avoid;
  if (auto text = file::read_file(p, 64)) {
    if (auto v = str::parse_uint(str::trim(*text)); v && *v <= UINT32_MAX) last = std::max<uint64_t>(last, *v);
  }
  uint64_t v = static_cast<uint64_t>(std::time(nullptr));
  if (v <= last) v = last + 1;
  if (v == 0 || v > UINT32_MAX) v = 1;
  (void)file::write_file_atomic(p, std::to_string(v) + "\n", 0600);
  return static_cast<uint32_t>(v);
}

// A message file's name info for flags ("" for no flags in new/).
std::string info_for(const Flags& f) { return ":" + to_info(f); }

Message to_message(const Record& r) {
  Message m;
  m.uid = r.uid;
  m.key = r.key;
  m.file = r.file();
  m.flags = r.info.size() >= 3 && r.info.compare(0, 3, ":2,") == 0 ? r.info.substr(3) : std::string();
  m.size = r.size;
  m.vsize = r.vsize;
  m.internal_date = r.internal_date;
  m.modseq = r.modseq;
  return m;
}

Result<std::optional<Header>> read_header(index::File& db) {
  auto v = db.get(index::kHeaderKey);
  if (!v) return v.error();
  if (!*v) return std::optional<Header>();
  auto h = index::decode_header(**v);
  if (!h) return Error(db.path() + ": damaged index: bad header", EBADMSG);
  return std::optional<Header>(*h);
}

// Fills size, vsize and internal date of a file found in the directory. Error ENOENT
// when it vanished meanwhile.
Status describe(const std::string& folder, Record* r) {
  std::string p = folder + "/" + r->file();
  struct stat st;
  if (::lstat(p.c_str(), &st) != 0) return Error::from_errno("stat " + p);
  r->size = static_cast<uint64_t>(st.st_size);
  r->internal_date = st.st_mtim.tv_sec;
  if (auto w = name_field(r->key, ",W=")) {
    r->vsize = *w;
  } else {
    auto text = file::read_file(p);
    if (!text) return text.error();
    r->vsize = mail::crlf_size(*text);
  }
  return {};
}

// The update protocol of mailbox.h: the header goes dirty (with the UIDs and MODSEQs
// the update will use reserved) and durable before any record changes; it goes clean
// only after the records are durable.
class Update {
 public:
  Update(index::File& db, Header h) : db_(db), h_(h) {}
  Status begin(uint32_t new_uids, uint64_t new_modseqs) {
    if (h_.next_uid > UINT32_MAX - new_uids) return Error(db_.path() + ": UID space exhausted", EOVERFLOW);
    first_uid_ = h_.next_uid;
    first_modseq_ = h_.highest_modseq + 1;
    h_.next_uid += new_uids;
    h_.highest_modseq += new_modseqs;
    h_.dirty = true;
    if (auto st = db_.put(index::kHeaderKey, index::encode(h_)); !st) return st;
    return db_.flush(true);
  }
  uint32_t next_uid() { return first_uid_++; }
  uint64_t next_modseq() { return first_modseq_++; }
  Header& header() { return h_; }
  Status commit() {
    if (auto st = db_.flush(true); !st) return st;
    h_.dirty = false;
    if (auto st = db_.put(index::kHeaderKey, index::encode(h_)); !st) return st;
    // Not fsync'd: if the clean mark is lost, the index looks dirty and is repaired.
    return db_.flush(false);
  }
  // Record r (new or changed) at a new MODSEQ, dropping its previous change entry.
  Status write(Record& r) {
    if (r.modseq != 0) {
      if (auto st = db_.del(index::change_key(r.modseq)); !st) return st;
    }
    r.modseq = next_modseq();
    if (auto st = db_.put(index::message_key(r.uid), index::encode(r)); !st) return st;
    return db_.put(index::change_key(r.modseq), index::encode_u32(r.uid));
  }
  Status expunge(const Record& r) {
    uint64_t ms = next_modseq();
    if (auto st = db_.del(index::message_key(r.uid)); !st) return st;
    if (r.modseq != 0) {
      if (auto st = db_.del(index::change_key(r.modseq)); !st) return st;
    }
    std::vector<std::string> cache;
    auto st = db_.each(index::cache_prefix(r.uid), "", [&](std::string_view k, std::string_view) {
      cache.emplace_back(k);
      return true;
    });
    if (!st) return st;
    for (const auto& k : cache)
      if (auto d = db_.del(k); !d) return d;
    if (auto p = db_.put(index::expunged_key(r.uid), index::encode_u64(ms)); !p) return p;
    return db_.put(index::change_key(ms), index::encode_u32(r.uid));
  }

 private:
  index::File& db_;
  Header h_;
  uint32_t first_uid_ = 0;
  uint64_t first_modseq_ = 0;
};

// After this process changed a directory: if the stored mtime was current before the
// change, it is current after it too, but only as "not trusted" (a change by someone
// else in the same tick would hide behind ours).
void note_own_change(const std::string& dir, int64_t before, int64_t* stored, bool* trusted) {
  if (before != *stored) return;
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return;
  *stored = mtime_ns(st);
  *trusted = false;
}

int64_t dir_mtime(const std::string& dir) {
  struct stat st;
  return ::stat(dir.c_str(), &st) == 0 ? mtime_ns(st) : -1;
}

// Where a key is now (new/ or cur/, and its info), by listing both: for a file that
// moved since the index saw it. std::nullopt: gone.
std::optional<Listed> locate(const std::string& folder, const std::string& key) {
  std::unordered_map<std::string, Listed> found;
  (void)list_dir(folder, false, &found);
  (void)list_dir(folder, true, &found);
  auto it = found.find(key);
  if (it == found.end()) return std::nullopt;
  return it->second;
}

void insert_sorted(std::vector<Message>* v, Message m) {
  if (v->empty() || v->back().uid < m.uid) {
    v->push_back(std::move(m));
    return;
  }
  auto it = std::lower_bound(v->begin(), v->end(), m.uid, [](const Message& a, uint32_t u) { return a.uid < u; });
  if (it != v->end() && it->uid == m.uid) *it = std::move(m);
  else v->insert(it, std::move(m));
}

std::vector<uint32_t> sorted_unique(std::vector<uint32_t> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

}  // namespace

// ---- flags ----------------------------------------------------------------------------

Flags parse_info(std::string_view info) {
  if (!info.empty() && info[0] == ':') info.remove_prefix(1);
  if (info.substr(0, 2) != "2,") return {};
  Flags f;
  for (char c : info.substr(2)) {
    if (c >= 'a' && c <= 'z') {
      f.keywords |= 1u << (c - 'a');
      continue;
    }
    for (int i = 0; kFlagLetters[i]; ++i)
      if (c == kFlagLetters[i]) f.system |= static_cast<uint8_t>(1u << i);
  }
  return f;
}

std::string to_info(const Flags& f) {
  std::string letters;
  for (int i = 0; kFlagLetters[i]; ++i)
    if (f.system & (1u << i)) letters += kFlagLetters[i];
  std::sort(letters.begin(), letters.end());
  for (int i = 0; i < 26; ++i)
    if (f.keywords & (1u << i)) letters += static_cast<char>('a' + i);
  return "2," + letters;
}

// ---- the folder ---------------------------------------------------------------------

Mailbox::Mailbox(std::string path) : path_(std::move(path)), keywords_(26), state_(std::make_unique<State>()) {}
Mailbox::Mailbox(Mailbox&&) noexcept = default;
Mailbox& Mailbox::operator=(Mailbox&&) noexcept = default;
Mailbox::~Mailbox() = default;

Result<Mailbox> Mailbox::open(const std::string& path) {
  for (const char* sub : {"new", "cur"}) {
    std::string p = path + "/" + sub;
    struct stat st;
    if (::stat(p.c_str(), &st) != 0) return Error::from_errno(p);
    if (!S_ISDIR(st.st_mode)) return Error(p + ": not a directory", ENOTDIR);
  }
  return Mailbox(path);
}

const Message* Mailbox::find(uint32_t uid) const {
  auto& v = view_.messages;
  auto it = std::lower_bound(v.begin(), v.end(), uid, [](const Message& a, uint32_t u) { return a.uid < u; });
  return it != v.end() && it->uid == uid ? &*it : nullptr;
}

namespace {

// Everything a rebuild can learn of the old numbering.
struct Recovered {
  uint32_t uid_validity = 0;
  uint32_t next_uid = 1;
  uint64_t highest_modseq = 0;
  std::map<std::string, Record> by_key;             // key -> record (uid, and sizes when known)
  std::vector<std::pair<uint32_t, uint64_t>> expunged;
  std::string source;                               // for the log
  uint32_t avoid_validity = 0;                      // a new numbering must not reuse it
};

// Reads what it can from a damaged or dirty index: records that decode, in key order,
// until the first unreadable page.
void salvage(index::File& db, Recovered* r) {
  std::set<uint32_t> uids;
  (void)db.each("", "", [&](std::string_view k, std::string_view v) {
    if (k == index::kHeaderKey) {
      // A dirty header's next UID and MODSEQ cover the update that did not finish.
      if (auto h = index::decode_header(v)) {
        r->uid_validity = h->uid_validity;
        r->next_uid = std::max(r->next_uid, h->next_uid);
        r->highest_modseq = std::max(r->highest_modseq, h->highest_modseq);
      }
    } else if (k[0] == 'u') {
      auto uid = index::key_uid(k);
      auto rec = uid && k.size() == 5 ? index::decode_record(*uid, v) : std::nullopt;
      if (rec && !r->by_key.count(rec->key) && uids.insert(rec->uid).second) {
        r->next_uid = std::max<uint32_t>(r->next_uid, rec->uid == UINT32_MAX ? rec->uid : rec->uid + 1);
        r->highest_modseq = std::max(r->highest_modseq, rec->modseq);
        r->by_key[rec->key] = *rec;
      }
    } else if (k[0] == 'x') {
      auto uid = index::key_uid(k);
      auto ms = index::decode_u64(v);
      if (uid && ms && k.size() == 5) {
        r->expunged.emplace_back(*uid, *ms);
        r->next_uid = std::max<uint32_t>(r->next_uid, *uid == UINT32_MAX ? *uid : *uid + 1);
        r->highest_modseq = std::max(r->highest_modseq, *ms);
      }
    } else if (k[0] == 'm') {
      if (auto ms = index::key_modseq(k)) r->highest_modseq = std::max(r->highest_modseq, *ms);
    }
    return true;
  });
  // A key whose UID is not below the next UID cannot be trusted with it.
  if (r->uid_validity == 0) r->by_key.clear();
}

// The numbering another store left: our former UID file, Dovecot's, Courier's.
void migrate(const std::string& folder, Recovered* r) {
  if (auto old = load_index(folder + "/" + kIndexFile)) {
    r->uid_validity = old->uid_validity;
    r->next_uid = old->next_uid;
    for (const auto& [key, e] : old->entries) {
      Record rec;
      rec.uid = e.uid;
      rec.key = key;
      rec.vsize = e.vsize;
      r->by_key[key] = rec;
    }
    r->source = kIndexFile;
    return;
  }
  for (const char* name : {kDovecotUidlist, kCourierUidDb}) {
    auto text = file::read_file(folder + "/" + name, 256u << 20);
    if (!text) continue;
    auto list = parse_uidlist(*text);
    if (!list) {
      log::warn("%s/%s: unreadable; not used", folder.c_str(), name);
      continue;
    }
    r->uid_validity = list->uid_validity;
    r->next_uid = list->next_uid;
    std::set<uint32_t> seen;
    for (auto& [uid, key] : list->entries) {
      if (r->by_key.count(key) || !seen.insert(uid).second) continue;
      Record rec;
      rec.uid = uid;
      rec.key = key;
      r->by_key[key] = rec;
    }
    r->source = name;
    return;
  }
}

}  // namespace

// Writes a complete index for the folder under a temporary name and renames it over
// the old one (creation, and repair of a damaged index). Run under the exclusive lock.
static Status build_index(const std::string& folder, Recovered rec) {
  const std::string path = folder + "/" + kMailboxIndex;
  if (rec.uid_validity == 0) {
    uint32_t avoid = rec.avoid_validity;
    rec = Recovered{};
    rec.uid_validity = fresh_uid_validity(folder, avoid);
  } else {
    // Remembered for a later renumbering (migrated or kept UIDVALIDITY).
    uint64_t last = 0;
    if (auto text = file::read_file(folder + "/" + kUidValidityFile, 64))
      last = str::parse_uint(str::trim(*text)).value_or(0);
    if (last < rec.uid_validity)
      (void)file::write_file_atomic(folder + "/" + kUidValidityFile, std::to_string(rec.uid_validity) + "\n", 0600);
  }
  struct stat dst, nst, cst;
  if (::stat(folder.c_str(), &dst) != 0) return Error::from_errno("stat " + folder);
  if (::stat((folder + "/new").c_str(), &nst) != 0) return Error::from_errno("stat " + folder + "/new");
  if (::stat((folder + "/cur").c_str(), &cst) != 0) return Error::from_errno("stat " + folder + "/cur");
  std::unordered_map<std::string, Listed> found;
  if (auto st = list_dir(folder, false, &found); !st) return st;
  if (auto st = list_dir(folder, true, &found); !st) return st;

  std::vector<Record> known, fresh;
  for (auto& [key, where] : found) {
    Record r;
    auto it = rec.by_key.find(key);
    if (it != rec.by_key.end()) r = it->second;
    r.key = key;
    r.in_cur = where.in_cur;
    r.info = where.info;
    if (r.uid == 0 || r.vsize == 0 || r.internal_date == 0) {
      uint32_t uid = r.uid;
      if (auto st = describe(folder, &r); !st) {
        if (st.error().code() == ENOENT) continue;  // expunged meanwhile
        return st;
      }
      r.uid = uid;
    }
    (r.uid != 0 ? known : fresh).push_back(std::move(r));
  }
  std::sort(fresh.begin(), fresh.end(), [](const Record& a, const Record& b) {
    if (a.internal_date != b.internal_date) return a.internal_date < b.internal_date;
    return arrival_before(a.key, b.key);
  });
  uint64_t next64 = rec.next_uid;
  for (const auto& r : known) next64 = std::max<uint64_t>(next64, uint64_t{r.uid} + 1);
  if (next64 + fresh.size() > UINT32_MAX) return Error(folder + ": UID space exhausted", EOVERFLOW);
  uint32_t next = static_cast<uint32_t>(next64);
  for (auto& r : fresh) r.uid = next++;
  known.insert(known.end(), std::make_move_iterator(fresh.begin()), std::make_move_iterator(fresh.end()));
  std::sort(known.begin(), known.end(), [](const Record& a, const Record& b) { return a.uid < b.uid; });

  Header h;
  h.uid_validity = rec.uid_validity;
  h.next_uid = next;
  uint64_t ms = rec.highest_modseq;
  int64_t now = now_ns();
  h.new_mtime = mtime_ns(nst);
  h.cur_mtime = mtime_ns(cst);
  h.new_trusted = now - h.new_mtime > kTrustAfterNs;
  h.cur_trusted = now - h.cur_mtime > kTrustAfterNs;
  h.dev = dst.st_dev;
  h.ino = dst.st_ino;

  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  ::unlink(tmp.c_str());  // left by a crashed process with our pid
  {
    auto db = index::File::open(tmp, true, true);
    if (!db) return db.error();
    Status st;
    for (auto& r : known) {
      r.modseq = ++ms;
      if (st) st = db->put(index::message_key(r.uid), index::encode(r));
      if (st) st = db->put(index::change_key(r.modseq), index::encode_u32(r.uid));
    }
    for (auto& [uid, m] : rec.expunged)
      if (st && uid < next) st = db->put(index::expunged_key(uid), index::encode_u64(m));
    h.highest_modseq = ms;
    if (st) st = db->put(index::kHeaderKey, index::encode(h));
    if (st) st = db->flush(true);
    if (!st) {
      ::unlink(tmp.c_str());
      return st;
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    auto e = Error::from_errno("rename " + tmp);
    ::unlink(tmp.c_str());
    return e;
  }
  return file::fsync_dir(folder);
}

// Opens the index for writing under the exclusive lock, creating or repairing it
// first when needed. *rebuilt tells whether it did.
static Result<index::File> open_for_update(const std::string& folder, Header* h, bool* rebuilt) {
  const std::string path = folder + "/" + kMailboxIndex;
  *rebuilt = false;
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto db = index::File::open(path, true, false);
    Recovered rec;
    std::string why;
    if (db) {
      auto hv = read_header(*db);
      if (hv && *hv && !(*hv)->dirty) {
        *h = **hv;
        return std::move(*db);
      }
      if (hv && !*hv) why = path + ": no header";
      else if (hv) why = path + ": an update did not finish";
      else why = hv.error().str();
      salvage(*db, &rec);
    } else if (db.error().code() == ENOENT) {
      why.clear();
    } else if (db.error().code() == EBADMSG) {
      why = db.error().str();
    } else {
      return db.error();
    }
    if (attempt > 0) return Error(path + ": index still unusable after rebuilding it", EIO);
    if (rec.uid_validity == 0) migrate(folder, &rec);
    if (!why.empty()) {
      // Kept for inspection, never silently deleted.
      std::string aside = path + ".corrupt";
      ::unlink(aside.c_str());
      bool kept = ::link(path.c_str(), aside.c_str()) == 0;
      log::warn("%s; rebuilt (%zu UIDs kept%s), old index %s%s", why.c_str(), rec.by_key.size(),
                rec.uid_validity == 0 ? ", new UIDVALIDITY" : "", kept ? "kept as " : "not kept: ",
                kept ? aside.c_str() : std::strerror(errno));
    } else if (!rec.source.empty()) {
      log::info("%s: UIDs taken from %s (UIDVALIDITY %u, %zu messages)", folder.c_str(), rec.source.c_str(),
                rec.uid_validity, rec.by_key.size());
    }
    if (auto st = build_index(folder, std::move(rec)); !st) return st.error();
    *rebuilt = true;
  }
  return Error(path + ": cannot open index", EIO);
}

Status Mailbox::load_keywords() {
  auto text = file::read_file(path_ + "/" + kKeywordsFile, 1 << 20);
  if (!text) {
    if (text.error().code() != ENOENT) return text.error();
    // A folder Dovecot kept: its keyword letters mean what dovecot-keywords says.
    auto dv = file::read_file(path_ + "/" + kDovecotKeywords, 1 << 20);
    if (!dv) {
      keywords_.assign(26, "");
      return {};
    }
    keywords_ = parse_keywords(*dv);
    return file::write_file_atomic(path_ + "/" + kKeywordsFile, format_keywords(keywords_), 0600);
  }
  keywords_ = parse_keywords(*text);
  return {};
}

Status Mailbox::load_all(index::File& db, const Header& h, Changes* ch) {
  std::vector<Message> all;
  // UIDs below next_uid bound the record count: reserved (up to a cap, pages a long
  // expunged past never touch) so the load does not copy the list as it grows.
  all.reserve(std::min<size_t>(h.next_uid > 0 ? h.next_uid - 1 : 0, size_t{1} << 16));
  bool bad = false;
  auto st = db.each("u", "", [&](std::string_view k, std::string_view v) {
    auto uid = index::key_uid(k);
    auto r = uid && k.size() == 5 ? index::decode_record(*uid, v) : std::nullopt;
    if (!r) {
      bad = true;
      return false;
    }
    all.push_back(to_message(*r));
    return true;
  });
  if (!st) return st;
  if (bad) return Error(path_ + ": damaged index: undecodable message record", EBADMSG);
  // The first refresh reports every message; a reload after a repair under the same
  // UIDVALIDITY reports only the difference.
  std::unordered_map<uint32_t, const Message*> before;
  if (!ch->uid_validity_changed)
    for (const auto& m : view_.messages) before.emplace(m.uid, &m);
  for (const auto& m : all) {
    auto it = before.find(m.uid);
    if (it == before.end()) {
      ch->added.push_back(m.uid);
      continue;
    }
    if (it->second->flags != m.flags) ch->flags.push_back(m.uid);
    before.erase(it);
  }
  for (const auto& [uid, m] : before) ch->expunged.push_back(uid);
  view_.messages = std::move(all);
  state_->loaded = true;
  state_->seen_modseq = h.highest_modseq;
  return {};
}

Status Mailbox::fold_changes(index::File& db, const Header& h, Changes* ch) {
  std::vector<uint32_t> touched;
  auto st = db.each("m", index::change_key(state_->seen_modseq + 1), [&](std::string_view, std::string_view v) {
    if (auto u = index::decode_u32(v)) touched.push_back(*u);
    return true;
  });
  if (!st) return st;
  for (uint32_t uid : sorted_unique(std::move(touched))) {
    auto v = db.get(index::message_key(uid));
    if (!v) return v.error();
    const Message* have = find(uid);
    if (!*v) {
      if (have) {
        view_.messages.erase(view_.messages.begin() + (have - view_.messages.data()));
        ch->expunged.push_back(uid);
      }
      continue;
    }
    auto r = index::decode_record(uid, **v);
    if (!r) return Error(path_ + ": damaged index: undecodable message record", EBADMSG);
    Message m = to_message(*r);
    if (!have) ch->added.push_back(uid);
    else if (have->flags != m.flags) ch->flags.push_back(uid);
    insert_sorted(&view_.messages, std::move(m));
  }
  state_->seen_modseq = h.highest_modseq;
  return {};
}

Result<Changes> Mailbox::refresh() { return sync(0); }

Result<Changes> Mailbox::sync(int depth) {
  auto lock = take_lock(path_, LOCK_EX);
  if (!lock) return lock.error();
  if (auto st = load_keywords(); !st) return st.error();
  Changes ch;
  Header h;
  bool rebuilt = false;
  auto db = open_for_update(path_, &h, &rebuilt);
  if (!db) return db.error();

  struct stat dst;
  if (::stat(path_.c_str(), &dst) != 0) return Error::from_errno("stat " + path_);
  bool moved = h.dev != dst.st_dev || h.ino != dst.st_ino;

  if (rebuilt || (state_->loaded && h.uid_validity != view_.uid_validity)) {
    if (state_->loaded && h.uid_validity != view_.uid_validity) ch.uid_validity_changed = true;
    state_->loaded = false;
  }
  // 1. The index as other processes left it.
  Status loaded = state_->loaded && h.highest_modseq > state_->seen_modseq ? fold_changes(*db, h, &ch)
                  : !state_->loaded                                         ? load_all(*db, h, &ch)
                                                                            : Status{};
  if (!loaded) {
    if (loaded.error().code() != EBADMSG || depth > 0) return loaded.error();
    // Damage the header did not show (a page that fails its checksum): marked so the
    // next open repairs it with everything still readable.
    log::warn("%s: %s", path_.c_str(), loaded.error().c_str());
    h.dirty = true;
    Status marked = db->put(index::kHeaderKey, index::encode(h));
    if (marked) marked = db->flush(true);
    { index::File closing = std::move(*db); }
    if (!marked) {
      std::string idx = path_ + "/" + kMailboxIndex;
      if (::rename(idx.c_str(), (idx + ".corrupt").c_str()) != 0) return Error::from_errno("rename " + idx);
    }
    lock->reset();
    state_->loaded = false;
    return sync(depth + 1);
  }

  // 2. The directory, where it changed since the index last looked.
  const std::string new_dir = path_ + "/new", cur_dir = path_ + "/cur";
  struct stat nst, cst;
  if (::stat(new_dir.c_str(), &nst) != 0) return Error::from_errno("stat " + new_dir);
  if (::stat(cur_dir.c_str(), &cst) != 0) return Error::from_errno("stat " + cur_dir);
  bool scan_new = moved || !h.new_trusted || mtime_ns(nst) != h.new_mtime;
  bool scan_cur = moved || !h.cur_trusted || mtime_ns(cst) != h.cur_mtime;
  if (scan_new || scan_cur) {
    auto listing = [&](std::unordered_map<std::string, Listed>* found) -> Status {
      if (scan_new)
        if (auto st = list_dir(path_, false, found); !st) return st;
      if (scan_cur)
        if (auto st = list_dir(path_, true, found); !st) return st;
      return {};
    };
    std::unordered_map<std::string, Listed> found;
    if (auto st = listing(&found); !st) return st.error();
    std::vector<size_t> missing;
    std::vector<std::pair<size_t, Listed>> renamed;
    // Only messages in a directory that changed can have changed: a delivery into
    // new/ of a large folder costs a look at new/ alone.
    std::unordered_set<std::string_view> seen;
    for (size_t i = 0; i < view_.messages.size(); ++i) {
      const Message& m = view_.messages[i];
      if (!(m.is_new() ? scan_new : scan_cur)) continue;
      auto it = found.find(m.key);
      if (it == found.end()) {
        missing.push_back(i);
        continue;
      }
      seen.insert(m.key);
      std::string file = (it->second.in_cur ? "cur/" : "new/") + m.key + it->second.info;
      if (file != m.file) renamed.emplace_back(i, it->second);
    }
    if (!missing.empty()) {
      // readdir() may miss a file renamed while it reads: only what a second listing
      // does not show either is gone.
      std::unordered_map<std::string, Listed> again;
      if (auto st = listing(&again); !st) return st.error();
      std::vector<size_t> gone;
      for (size_t i : missing) {
        auto it = again.find(view_.messages[i].key);
        if (it == again.end()) {
          gone.push_back(i);
          continue;
        }
        std::string file = (it->second.in_cur ? "cur/" : "new/") + view_.messages[i].key + it->second.info;
        if (file != view_.messages[i].file) renamed.emplace_back(i, it->second);
      }
      missing = std::move(gone);
    }
    // A folder whose index came from elsewhere (copied in by hand): none of its
    // messages are here although the folder holds mail. Start a numbering of its own.
    if (moved && !view_.messages.empty() && missing.size() == view_.messages.size() && !found.empty()) {
      log::warn("%s/%s: index of another folder; numbering the messages anew", path_.c_str(), kMailboxIndex);
      { index::File closing = std::move(*db); }
      Recovered none;
      none.avoid_validity = std::max(h.uid_validity, view_.uid_validity);
      if (auto st = build_index(path_, std::move(none)); !st) return st.error();
      lock->reset();
      state_->loaded = false;
      view_.messages.clear();
      auto again = sync(depth + 1);
      if (again) again->uid_validity_changed = true;
      return again;
    }
    std::vector<Record> fresh;
    // A file no message of a scanned directory has is new, unless the view has its key
    // elsewhere (moved between new/ and cur/ within one mtime tick).
    std::vector<std::pair<const std::string*, const Listed*>> unknown;
    for (auto& [key, where] : found)
      if (!seen.count(key)) unknown.emplace_back(&key, &where);
    if (!unknown.empty() && scan_new != scan_cur) {
      std::unordered_set<std::string_view> elsewhere;
      for (const auto& m : view_.messages) {
        if ((m.is_new() ? scan_new : scan_cur)) continue;
        // A few new files (a delivery): compared in place, no set of the whole folder.
        if (unknown.size() <= 4) {
          for (const auto& u : unknown)
            if (*u.first == m.key) elsewhere.insert(m.key);
        } else {
          elsewhere.insert(m.key);
        }
      }
      std::erase_if(unknown, [&](const auto& u) { return elsewhere.count(*u.first) != 0; });
    }
    for (auto& [keyp, wherep] : unknown) {
      const std::string& key = *keyp;
      const Listed& where = *wherep;
      Record r;
      r.key = key;
      r.in_cur = where.in_cur;
      r.info = where.info;
      if (auto st = describe(path_, &r); !st) {
        if (st.error().code() == ENOENT) continue;  // expunged meanwhile
        return st.error();
      }
      fresh.push_back(std::move(r));
    }
    std::sort(fresh.begin(), fresh.end(), [](const Record& a, const Record& b) {
      if (a.internal_date != b.internal_date) return a.internal_date < b.internal_date;
      return arrival_before(a.key, b.key);
    });

    int64_t now = now_ns();
    Header nh = h;
    if (scan_new) {
      nh.new_mtime = mtime_ns(nst);
      nh.new_trusted = now - nh.new_mtime > kTrustAfterNs;
    }
    if (scan_cur) {
      nh.cur_mtime = mtime_ns(cst);
      nh.cur_trusted = now - nh.cur_mtime > kTrustAfterNs;
    }
    nh.dev = dst.st_dev;
    nh.ino = dst.st_ino;
    size_t changes = fresh.size() + missing.size() + renamed.size();
    if (changes > 0) {
      Update up(*db, nh);
      if (auto st = up.begin(static_cast<uint32_t>(fresh.size()), changes); !st) return st.error();
      for (auto& [i, where] : renamed) {
        Message& m = view_.messages[i];
        auto v = db->get(index::message_key(m.uid));
        if (!v) return v.error();
        auto r = *v ? index::decode_record(m.uid, **v) : std::nullopt;
        if (!r) return Error(path_ + ": damaged index record", EBADMSG);
        r->in_cur = where.in_cur;
        r->info = where.info;
        if (auto st = up.write(*r); !st) return st.error();
        Message nm = to_message(*r);
        if (nm.flags != m.flags) ch.flags.push_back(m.uid);
        m = std::move(nm);
      }
      std::vector<uint32_t> gone;
      for (size_t i : missing) {
        const Message& m = view_.messages[i];
        Record r;
        r.uid = m.uid;
        r.modseq = m.modseq;
        if (auto st = up.expunge(r); !st) return st.error();
        gone.push_back(m.uid);
      }
      for (auto& r : fresh) {
        r.uid = up.next_uid();
        if (auto st = up.write(r); !st) return st.error();
      }
      nh = up.header();
      if (auto st = up.commit(); !st) return st.error();
      nh.dirty = false;
      std::set<uint32_t> gone_set(gone.begin(), gone.end());
      std::erase_if(view_.messages, [&](const Message& m) { return gone_set.count(m.uid) != 0; });
      ch.expunged.insert(ch.expunged.end(), gone.begin(), gone.end());
      for (auto& r : fresh) {
        ch.added.push_back(r.uid);
        insert_sorted(&view_.messages, to_message(r));
      }
      state_->seen_modseq = nh.highest_modseq;
    } else if (!(nh == h)) {
      if (auto st = db->put(index::kHeaderKey, index::encode(nh)); !st) return st.error();
      if (auto st = db->flush(false); !st) return st.error();
    }
    h = nh;
  }
  view_.uid_validity = h.uid_validity;
  view_.next_uid = h.next_uid;
  view_.highest_modseq = h.highest_modseq;
  ch.added = sorted_unique(std::move(ch.added));
  ch.expunged = sorted_unique(std::move(ch.expunged));
  ch.flags = sorted_unique(std::move(ch.flags));
  return ch;
}

Result<std::optional<int>> Mailbox::keyword_index(std::string_view name, bool create) {
  if (name.empty() || name.size() > 255) return std::optional<int>();
  for (size_t i = 0; i < keywords_.size(); ++i)
    if (str::iequals(keywords_[i], name)) return std::optional<int>(static_cast<int>(i));
  if (!create) return std::optional<int>();
  auto lock = take_lock(path_, LOCK_EX);
  if (!lock) return lock.error();
  if (auto st = load_keywords(); !st) return st.error();
  for (size_t i = 0; i < keywords_.size(); ++i)
    if (str::iequals(keywords_[i], name)) return std::optional<int>(static_cast<int>(i));
  // Check it would survive the file format (an atom, no space).
  std::vector<std::string> probe = parse_keywords("0 " + std::string(name) + "\n");
  if (probe[0] != name) return std::optional<int>();
  for (size_t i = 0; i < keywords_.size(); ++i) {
    if (!keywords_[i].empty()) continue;
    keywords_[i] = std::string(name);
    if (auto st = file::write_file_atomic(path_ + "/" + kKeywordsFile, format_keywords(keywords_), 0600); !st) {
      keywords_[i].clear();
      return st.error();
    }
    return std::optional<int>(static_cast<int>(i));
  }
  return std::optional<int>();
}

Result<std::string> Mailbox::read(const Message& m, size_t max_size) const {
  auto text = file::read_file(path_ + "/" + m.file, max_size);
  if (text || text.error().code() != ENOENT) return text;
  auto now = locate(path_, m.key);
  if (!now) return Error(path_ + "/" + m.file + ": message expunged", ENOENT);
  return file::read_file(path_ + (now->in_cur ? "/cur/" : "/new/") + m.key + now->info, max_size);
}

Result<UniqueFd> Mailbox::open_message(const Message& m) const {
  auto fd = file::open(path_ + "/" + m.file, O_RDONLY | O_NOFOLLOW);
  if (fd || fd.error().code() != ENOENT) return fd;
  auto now = locate(path_, m.key);
  if (!now) return Error(path_ + "/" + m.file + ": message expunged", ENOENT);
  return file::open(path_ + (now->in_cur ? "/cur/" : "/new/") + m.key + now->info, O_RDONLY | O_NOFOLLOW);
}

// Renames messages to new flags (and into cur/); shared by store() and move_to_cur().
Result<std::vector<uint32_t>> Mailbox::rename_messages(const std::vector<uint32_t>& uids,
                                                        const std::function<Flags(const Flags&)>& change,
                                                        bool to_cur, uint64_t unchanged_since,
                                                        std::vector<uint32_t>* modified) {
  if (!state_->loaded) {
    if (auto r = refresh(); !r) return r.error();
  }
  auto lock = take_lock(path_, LOCK_EX);
  if (!lock) return lock.error();
  Header h;
  bool rebuilt = false;
  auto db = open_for_update(path_, &h, &rebuilt);
  if (!db) return db.error();
  const std::string new_dir = path_ + "/new", cur_dir = path_ + "/cur";
  int64_t new_before = dir_mtime(new_dir), cur_before = dir_mtime(cur_dir);

  std::vector<Record> changed;
  for (uint32_t uid : sorted_unique(uids)) {
    auto v = db->get(index::message_key(uid));
    if (!v) return v.error();
    if (!*v) continue;
    auto r = index::decode_record(uid, **v);
    if (!r) return Error(path_ + ": damaged index record", EBADMSG);
    if (unchanged_since != 0 && r->modseq > unchanged_since) {
      if (modified) modified->push_back(uid);
      continue;
    }
    std::string from = path_ + "/" + r->file();
    Flags now = parse_info(r->info);
    Flags want = change(now);
    if (want == now && (r->in_cur || !to_cur)) continue;
    std::string info = info_for(want);
    std::string to = cur_dir + "/" + r->key + info;
    if (::rename(from.c_str(), to.c_str()) != 0) {
      if (errno != ENOENT) return Error::from_errno("rename " + from);
      // Renamed behind the index's back: the file's own flags are the truth.
      auto where = locate(path_, r->key);
      if (!where) continue;  // expunged; the next refresh() reports it
      r->in_cur = where->in_cur;
      r->info = where->info;
      from = path_ + "/" + r->file();
      now = parse_info(r->info);
      want = change(now);
      if (want == now && (r->in_cur || !to_cur)) continue;
      info = info_for(want);
      to = cur_dir + "/" + r->key + info;
      if (::rename(from.c_str(), to.c_str()) != 0) {
        if (errno == ENOENT) continue;
        return Error::from_errno("rename " + from);
      }
    }
    r->in_cur = true;
    r->info = info;
    changed.push_back(std::move(*r));
  }
  std::vector<uint32_t> out;
  if (changed.empty()) return out;
  Header nh = h;
  note_own_change(new_dir, new_before, &nh.new_mtime, &nh.new_trusted);
  note_own_change(cur_dir, cur_before, &nh.cur_mtime, &nh.cur_trusted);
  Update up(*db, nh);
  if (auto st = up.begin(0, changed.size()); !st) return st.error();
  for (auto& r : changed)
    if (auto st = up.write(r); !st) return st.error();
  if (auto st = up.commit(); !st) return st.error();
  for (auto& r : changed) {
    Message m = to_message(r);
    const Message* have = find(r.uid);
    // A message this view did not have yet stays for refresh() to report as added.
    if (have) {
      view_.messages[static_cast<size_t>(have - view_.messages.data())] = std::move(m);
      out.push_back(r.uid);
    }
  }
  view_.highest_modseq = up.header().highest_modseq;
  return out;
}

Result<std::vector<uint32_t>> Mailbox::store(const std::vector<uint32_t>& uids, StoreMode mode, const Flags& flags,
                                             uint64_t unchanged_since, std::vector<uint32_t>* modified) {
  return rename_messages(
      uids,
      [&](const Flags& f) {
        Flags n = f;
        switch (mode) {
          case StoreMode::Replace: n = flags; break;
          case StoreMode::Add:
            n.system |= flags.system;
            n.keywords |= flags.keywords;
            break;
          case StoreMode::Remove:
            n.system &= static_cast<uint8_t>(~flags.system);
            n.keywords &= ~flags.keywords;
            break;
        }
        return n;
      },
      false, unchanged_since, modified);
}

Status Mailbox::move_to_cur(const std::vector<uint32_t>& uids) {
  auto r = rename_messages(uids, [](const Flags& f) { return f; }, true, 0, nullptr);
  if (!r) return r.error();
  return {};
}

// Records in the index that messages left this folder (their files are gone).
Status Mailbox::record_expunges(const std::vector<uint32_t>& uids, std::vector<uint32_t>* out, bool unlink_files) {
  auto lock = take_lock(path_, LOCK_EX);
  if (!lock) return lock.error();
  Header h;
  bool rebuilt = false;
  auto db = open_for_update(path_, &h, &rebuilt);
  if (!db) return db.error();
  const std::string new_dir = path_ + "/new", cur_dir = path_ + "/cur";
  int64_t new_before = dir_mtime(new_dir), cur_before = dir_mtime(cur_dir);
  std::vector<Record> gone;
  bool unlinked = false;
  for (uint32_t uid : sorted_unique(uids)) {
    auto v = db->get(index::message_key(uid));
    if (!v) return v.error();
    if (!*v) continue;
    auto r = index::decode_record(uid, **v);
    if (!r) return Error(path_ + ": damaged index record", EBADMSG);
    if (unlink_files) {
      std::string p = path_ + "/" + r->file();
      if (::unlink(p.c_str()) != 0) {
        if (errno != ENOENT) return Error::from_errno("unlink " + p);
        if (auto where = locate(path_, r->key)) {
          std::string now = path_ + (where->in_cur ? "/cur/" : "/new/") + r->key + where->info;
          if (::unlink(now.c_str()) != 0 && errno != ENOENT) return Error::from_errno("unlink " + now);
        }
      }
      unlinked = true;
    }
    gone.push_back(std::move(*r));
  }
  if (unlinked) {
    // Durable before the index says so: a crash must not bring a message back that
    // the index reported expunged (its UID would be reused by nobody, but clients
    // would see it again).
    if (auto st = file::fsync_dir(new_dir); !st) return st;
    if (auto st = file::fsync_dir(cur_dir); !st) return st;
  }
  if (gone.empty()) return {};
  Header nh = h;
  note_own_change(new_dir, new_before, &nh.new_mtime, &nh.new_trusted);
  note_own_change(cur_dir, cur_before, &nh.cur_mtime, &nh.cur_trusted);
  Update up(*db, nh);
  if (auto st = up.begin(0, gone.size()); !st) return st;
  for (const auto& r : gone)
    if (auto st = up.expunge(r); !st) return st;
  if (auto st = up.commit(); !st) return st;
  std::set<uint32_t> set;
  for (const auto& r : gone) {
    set.insert(r.uid);
    if (out) out->push_back(r.uid);
  }
  std::erase_if(view_.messages, [&](const Message& m) { return set.count(m.uid) != 0; });
  return {};
}

Result<std::vector<uint32_t>> Mailbox::expunge(const std::vector<uint32_t>& uids) {
  std::vector<uint32_t> out;
  if (auto st = record_expunges(uids, &out, true); !st) return st.error();
  return out;
}

// Gives UIDs in this folder to files just placed in it (under the lock the caller
// holds), in order.
static Result<std::vector<uint32_t>> add_records(const std::string& folder, index::File& db, const Header& h,
                                                std::vector<Record> recs, int64_t new_before, int64_t cur_before) {
  Header nh = h;
  note_own_change(folder + "/new", new_before, &nh.new_mtime, &nh.new_trusted);
  note_own_change(folder + "/cur", cur_before, &nh.cur_mtime, &nh.cur_trusted);
  Update up(db, nh);
  if (auto st = up.begin(static_cast<uint32_t>(recs.size()), recs.size()); !st) return st.error();
  std::vector<uint32_t> out;
  for (auto& r : recs) {
    r.uid = up.next_uid();
    r.modseq = 0;
    if (auto st = up.write(r); !st) return st.error();
    out.push_back(r.uid);
  }
  if (auto st = up.commit(); !st) return st.error();
  return out;
}

Result<uint32_t> Mailbox::append(std::string_view text, const AppendOptions& opt) {
  int64_t date = opt.internal_date > 0 ? opt.internal_date : static_cast<int64_t>(std::time(nullptr));
  auto prep = prepare(path_, text, date);
  if (!prep) return prep.error();
  auto lock = take_lock(path_, LOCK_EX);
  if (!lock) return lock.error();
  Header h;
  bool rebuilt = false;
  auto db = open_for_update(path_, &h, &rebuilt);
  if (!db) return db.error();
  int64_t new_before = dir_mtime(path_ + "/new"), cur_before = dir_mtime(path_ + "/cur");
  Flags none;
  std::string info = opt.flags == none ? std::string() : to_info(opt.flags);
  // The file appears under the lock, so no refresh() elsewhere numbers it first.
  auto d = publish(*prep, info);
  if (!d) return d.error();
  Record r;
  r.key = d->key;
  r.in_cur = !info.empty();
  r.info = info.empty() ? "" : ":" + info;
  r.internal_date = date;
  r.size = text.size();
  r.vsize = mail::crlf_size(text);
  auto uids = add_records(path_, *db, h, {r}, new_before, cur_before);
  if (!uids) return uids.error();
  return uids->front();
}

Result<std::vector<std::pair<uint32_t, uint32_t>>> Mailbox::transfer(const std::vector<uint32_t>& uids,
                                                                    Mailbox& target, bool move) {
  if (!state_->loaded) {
    if (auto r = refresh(); !r) return r.error();
  }
  bool same = target.path_ == path_;
  std::vector<std::pair<uint32_t, uint32_t>> out;
  std::vector<uint32_t> moved_away;
  {
    auto lock = take_lock(target.path_, LOCK_EX);
    if (!lock) return lock.error();
    Header h;
    bool rebuilt = false;
    auto db = open_for_update(target.path_, &h, &rebuilt);
    if (!db) return db.error();
    int64_t new_before = dir_mtime(target.path_ + "/new"), cur_before = dir_mtime(target.path_ + "/cur");
    std::vector<Record> recs;
    std::vector<uint32_t> from;
    for (uint32_t uid : sorted_unique(uids)) {
      const Message* m = find(uid);
      if (!m) continue;
      std::string src = path_ + "/" + m->file;
      Record r;
      r.in_cur = !m->is_new();
      r.info = r.in_cur ? ":2," + m->flags : "";
      r.internal_date = m->internal_date;
      r.size = m->size;
      r.vsize = m->vsize;
      r.key = move && !same ? m->key : unique_name(m->size, m->vsize);
      for (int attempt = 0; attempt < 2; ++attempt) {
        std::string dst = target.path_ + "/" + r.file();
        int rc = move && !same ? ::rename(src.c_str(), dst.c_str()) : ::link(src.c_str(), dst.c_str());
        if (rc == 0) break;
        int e = errno;
        if (e == ENOENT && attempt == 0) {
          auto where = locate(path_, m->key);
          if (!where) {
            r.key.clear();
            break;
          }
          src = path_ + (where->in_cur ? "/cur/" : "/new/") + m->key + where->info;
          r.in_cur = where->in_cur;
          r.info = where->info;
          continue;
        }
        if (e == EXDEV || e == EPERM || e == EMLINK) {
          // Another filesystem (or no hard links): a copy with the same date.
          auto text = file::read_file(src);
          if (!text) {
            if (text.error().code() == ENOENT) {
              r.key.clear();
              break;
            }
            return text.error();
          }
          auto prep = prepare(target.path_, *text, m->internal_date);
          if (!prep) return prep.error();
          auto d = publish(*prep, r.in_cur ? r.info.substr(1) : "");
          if (!d) return d.error();
          r.key = d->key;
          if (move) ::unlink(src.c_str());
          break;
        }
        errno = e;
        return Error::from_errno("copy " + src + " to " + target.path_);
      }
      if (r.key.empty()) continue;  // expunged meanwhile
      recs.push_back(std::move(r));
      from.push_back(uid);
    }
    if (recs.empty()) return out;
    if (auto st = file::fsync_dir(target.path_ + "/cur"); !st) return st.error();
    if (auto st = file::fsync_dir(target.path_ + "/new"); !st) return st.error();
    auto given = add_records(target.path_, *db, h, std::move(recs), new_before, cur_before);
    if (!given) return given.error();
    for (size_t i = 0; i < from.size(); ++i) out.emplace_back(from[i], (*given)[i]);
    moved_away = from;
  }
  // The source's index learns of the move after the target's lock is released: two
  // sessions moving in opposite directions never wait on each other.
  if (move) {
    if (auto st = record_expunges(moved_away, nullptr, same); !st) return st.error();
  }
  return out;
}

Result<std::vector<std::pair<uint32_t, uint32_t>>> Mailbox::copy(const std::vector<uint32_t>& uids,
                                                                Mailbox& target) {
  return transfer(uids, target, false);
}

Result<std::vector<std::pair<uint32_t, uint32_t>>> Mailbox::move(const std::vector<uint32_t>& uids,
                                                                Mailbox& target) {
  return transfer(uids, target, true);
}

Result<std::vector<std::optional<std::string>>> Mailbox::cache_get(const std::vector<uint32_t>& uids,
                                                                   CacheField f) {
  std::vector<std::optional<std::string>> out(uids.size());
  auto lock = take_lock(path_, LOCK_SH);
  if (!lock) return lock.error();
  auto db = index::File::open(path_ + "/" + kMailboxIndex, false, false);
  if (!db) {
    // No index, or a damaged one: nothing cached (the next refresh() repairs it).
    if (db.error().code() == ENOENT || db.error().code() == EBADMSG) return out;
    return db.error();
  }
  auto h = read_header(*db);
  if (!h || !*h || (*h)->dirty) return out;
  for (size_t i = 0; i < uids.size(); ++i) {
    auto v = db->get(index::cache_key(uids[i], static_cast<char>(f)));
    if (!v) {
      if (v.error().code() == EBADMSG) return out;
      return v.error();
    }
    out[i] = std::move(*v);
  }
  return out;
}

Status Mailbox::cache_put(const std::vector<std::pair<uint32_t, std::string>>& values, CacheField f) {
  std::vector<CacheValue> all;
  all.reserve(values.size());
  for (const auto& [uid, value] : values) all.push_back({uid, f, value});
  return cache_put(all);
}

Status Mailbox::cache_put(const std::vector<CacheValue>& values) {
  if (values.empty()) return {};
  auto lock = take_lock(path_, LOCK_EX);
  if (!lock) return lock.error();
  Header h;
  bool rebuilt = false;
  auto db = open_for_update(path_, &h, &rebuilt);
  if (!db) return db.error();
  Update up(*db, h);
  if (auto st = up.begin(0, 0); !st) return st;
  uint32_t checked = 0;
  bool here = false;
  for (const auto& v : values) {
    // Only for messages still here: an expunged one's cache went with it.
    if (v.uid != checked || checked == 0) {
      auto m = db->get(index::message_key(v.uid));
      if (!m) return m.error();
      here = m->has_value();
      checked = v.uid;
    }
    if (!here) continue;
    if (auto st = db->put(index::cache_key(v.uid, static_cast<char>(v.field)), v.value); !st) return st;
  }
  return up.commit();
}

Result<std::vector<std::pair<uint32_t, uint64_t>>> Mailbox::expunged_since(uint64_t since) {
  std::vector<std::pair<uint32_t, uint64_t>> out;
  auto lock = take_lock(path_, LOCK_SH);
  if (!lock) return lock.error();
  auto db = index::File::open(path_ + "/" + kMailboxIndex, false, false);
  if (!db) {
    if (db.error().code() == ENOENT) return out;
    return db.error();
  }
  auto st = db->each("x", "", [&](std::string_view k, std::string_view v) {
    auto uid = index::key_uid(k);
    auto ms = index::decode_u64(v);
    if (uid && ms && *ms > since) out.emplace_back(*uid, *ms);
    return true;
  });
  if (!st) return st.error();
  return out;
}

}  // namespace postilion::mailbox
