// lib/mailbox/index_db.h - the records of the mailbox index (mailbox.h) and the
// Berkeley DB file holding them: encoding, decoding (untrusted: a damaged file is
// data, never a crash), and a small wrapper that opens, reads and writes the btree.
// Internal to lib/mailbox; the fuzz target and the tests use it directly.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "lib/base/result.h"

class Db;

namespace postilion::mailbox::index {

// Record keys: one byte saying the kind, then big-endian numbers (so a cursor walks
// messages by UID and changes by MODSEQ).
inline constexpr char kHeaderKey[] = "H";
std::string message_key(uint32_t uid);            // 'u' + uid
std::string change_key(uint64_t modseq);          // 'm' + modseq -> uid
std::string expunged_key(uint32_t uid);           // 'x' + uid -> modseq
std::string cache_key(uint32_t uid, char field);  // 'c' + uid + field
std::string cache_prefix(uint32_t uid);           // 'c' + uid

struct Header {
  uint32_t uid_validity = 0;
  uint32_t next_uid = 1;      // UIDs below it may have been handed out
  uint64_t highest_modseq = 0;
  bool dirty = false;         // an update began and did not finish
  bool new_trusted = false;   // new_mtime was old enough when stored to rely on
  bool cur_trusted = false;
  int64_t new_mtime = 0;      // ns, of new/ and cur/ at the last sync of each
  int64_t cur_mtime = 0;
  uint64_t dev = 0, ino = 0;  // the folder's directory when the index was written
  bool operator==(const Header&) const = default;
};
std::string encode(const Header& h);
std::optional<Header> decode_header(std::string_view v);

struct Record {
  uint32_t uid = 0;
  std::string key;    // Maildir key
  bool in_cur = false;
  std::string info;   // rest of the name after the key (":2,S"), usually "" in new/
  int64_t internal_date = 0;
  uint64_t size = 0, vsize = 0, modseq = 0;
  bool operator==(const Record&) const = default;
  std::string file() const { return (in_cur ? "cur/" : "new/") + key + info; }
};
std::string encode(const Record& r);
// uid comes from the record's key.
std::optional<Record> decode_record(uint32_t uid, std::string_view v);
std::optional<uint32_t> decode_u32(std::string_view v);
std::optional<uint64_t> decode_u64(std::string_view v);
std::string encode_u32(uint32_t v);
std::string encode_u64(uint64_t v);
// The number after a key's kind byte: uid of 'u'/'x'/'c' keys, modseq of 'm' keys.
std::optional<uint32_t> key_uid(std::string_view key);
std::optional<uint64_t> key_modseq(std::string_view key);

// One open index file. Not shared between processes: open it inside the index lock
// and close it before releasing the lock (each process caches pages privately).
class File {
 public:
  // Error ENOENT: no file (and not create); EBADMSG: not a Berkeley DB btree of ours.
  static Result<File> open(const std::string& path, bool write, bool create);
  File(File&&) noexcept;
  File& operator=(File&&) noexcept;
  ~File();

  // EBADMSG when the file is damaged.
  Result<std::optional<std::string>> get(std::string_view key);
  Status put(std::string_view key, std::string_view value);
  Status del(std::string_view key);  // absent is not an error
  // Calls fn for every record whose key starts with prefix, from key `from` on (or the
  // prefix's start), in key order, until fn returns false. EBADMSG on damage (fn has
  // seen the records before it).
  Status each(std::string_view prefix, std::string_view from,
              const std::function<bool(std::string_view key, std::string_view value)>& fn);
  // Writes the cached pages to the file; with durable, fsyncs it too.
  Status flush(bool durable);
  const std::string& path() const { return path_; }

 private:
  File() = default;
  struct Closer {
    void operator()(Db* db) const;
  };
  std::unique_ptr<Db, Closer> db_;
  std::string path_;
};

}  // namespace postilion::mailbox::index
