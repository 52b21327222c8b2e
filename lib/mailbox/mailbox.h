// lib/mailbox/mailbox.h - one Maildir folder as pop3d and imapd see it: messages with
// UIDs for life, flags, sizes, internal dates and a cache for imapd, kept in the mailbox
// index and synchronized with the directory on every refresh().
//
// The index: `postilion-index.db` in the folder, a Berkeley DB btree (page checksums,
// no environment) updated in place, so a flag change or a new message writes a few
// pages, not the mailbox. Records (all keys start with a byte no Maildir name can):
//   \x01H            header: format, UIDVALIDITY, next UID, HIGHESTMODSEQ, the mtimes
//                    of new/ and cur/ at the last full sync, the dirty mark
//   u<uid>           message: key, where the file is (new/ or cur/ and its info
//                    part), internal date, size, CRLF size, MODSEQ
//   m<modseq>        the UID changed at that MODSEQ (what changed since X, cheaply)
//   x<uid>           an expunged UID and the MODSEQ of its expunge (QRESYNC)
//   c<uid><field>    cache strings imapd fills (ENVELOPE, BODYSTRUCTURE, headers)
// Truth stays in the files: flags are the `:2,` part of the name, keywords its a-z
// letters named by `postilion-keywords` (the format of Dovecot's dovecot-keywords),
// the internal date the file's mtime. The index adds UIDs, MODSEQs and the cache.
//
// Why not a transactional Berkeley DB environment: it puts region files, shared
// memory and log files in every Maildir, needs recovery with every process of the
// user out of it (DB_REGISTER) and a log fsync per change. Why not the UID in the
// file name (`KEY,U=123`): every new message would be renamed once, which other
// Maildir tools (and Dovecot, if the user goes back) see as a new message, and the
// next UID still needs a durable home. Instead, crashes are made detectable:
//   - every update happens under an exclusive flock of `postilion-index.lock`;
//     readers (cache lookups) take it shared; the database is opened and closed
//     inside the lock, so no process keeps stale pages of another's writes;
//   - an update first rewrites the header with the dirty mark set and the UIDs it is
//     about to hand out reserved, flushes and fsyncs it, then changes the records,
//     then clears the mark. A process killed at any moment leaves the mark set (or
//     an index the checksums reject), never a clean-looking half-update;
//   - an index found dirty, unreadable, truncated or of another format is rebuilt:
//     the UIDs of every record still readable, UIDVALIDITY and the reserved next UID
//     are kept, files no record names get new UIDs above all of them. A UID is never
//     handed out twice. Only when nothing is readable (file deleted, garbage) does the
//     folder get a new UIDVALIDITY, unless a dovecot-uidlist, courierimapuiddb or the
//     old postilion-uids.db gives the numbering (migration, see uidlist.h).
// Local delivery writes into new/ without touching the index; refresh() finds it.
//
// Errors: environment failures are Result errors (the caller answers NO / -ERR [SYS/
// TEMP]); a bad index is repaired with a warning, never an error to the client.
// Not thread-safe: one Mailbox per session; processes share through the lock.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lib/base/result.h"
#include "lib/base/unique_fd.h"

namespace postilion::mailbox {

namespace index {
class File;
struct Header;
}  // namespace index

// The index file and its lock inside a Maildir folder.
inline constexpr const char* kMailboxIndex = "postilion-index.db";
inline constexpr const char* kMailboxIndexLock = "postilion-index.lock";
inline constexpr const char* kKeywordsFile = "postilion-keywords";
// The folder's last UIDVALIDITY, outliving a lost index (as Dovecot's
// dovecot-uidvalidity): a new numbering always gets a higher one.
inline constexpr const char* kUidValidityFile = "postilion-uidvalidity";

// IMAP system flags, stored as Maildir info letters.
enum Flag : uint8_t {
  kSeen = 1,      // S
  kAnswered = 2,  // R
  kFlagged = 4,   // F
  kDeleted = 8,   // T
  kDraft = 16,    // D
  kPassed = 32,   // P ($Forwarded on IMAP, as Dovecot maps it)
};

struct Flags {
  uint8_t system = 0;     // Flag bits
  uint32_t keywords = 0;  // bit i: keyword letter 'a' + i (names: Mailbox::keywords())
  bool operator==(const Flags&) const = default;
};

// Flags from the info part of a Maildir name ("2,FRSab" or ":2,..."); unknown letters
// are ignored. to_info() gives the canonical "2,<letters in ASCII order>".
Flags parse_info(std::string_view info);
std::string to_info(const Flags& f);

struct Message {
  uint32_t uid = 0;
  std::string key;     // unique part of the file name (before ':')
  std::string file;    // path relative to the folder: "new/KEY" or "cur/KEY:2,S"
  std::string flags;   // Maildir info letters after ":2," (cur/ only), e.g. "RSa"
  uint64_t size = 0;   // bytes on disk
  uint64_t vsize = 0;  // size with CRLF line ends (POP3 LIST, IMAP RFC822.SIZE)
  int64_t internal_date = 0;  // seconds since the epoch (file mtime at first sight)
  uint64_t modseq = 0;        // MODSEQ of the last change (RFC 7162)
  bool is_new() const { return file.rfind("new/", 0) == 0; }
  Flags parsed_flags() const { return parse_info(flags); }
};

struct Snapshot {
  uint32_t uid_validity = 0;
  uint32_t next_uid = 1;
  uint64_t highest_modseq = 0;
  std::vector<Message> messages;  // by ascending UID
};

// What a refresh() found since the previous one (the first reports every message as
// added). An IMAP session sends EXPUNGE for expunged, EXISTS for added, FETCH FLAGS
// for flags.
struct Changes {
  std::vector<uint32_t> added;     // ascending
  std::vector<uint32_t> expunged;  // ascending
  std::vector<uint32_t> flags;     // ascending; flags or keywords changed
  // The index was lost and rebuilt under a new UIDVALIDITY: every UID the session
  // knew is void (IMAP: end the session so the client resynchronizes).
  bool uid_validity_changed = false;
  bool empty() const { return added.empty() && expunged.empty() && flags.empty() && !uid_validity_changed; }
};

enum class StoreMode { Replace, Add, Remove };

// Fields imapd caches per message: opaque strings, filled and read only by imapd.
enum class CacheField : uint8_t {
  Envelope = 'E',
  BodyStructure = 'B',   // BODYSTRUCTURE with extension data
  Body = 'b',            // BODY (no extension data)
  Headers = 'H',         // header fields clients often ask for, imapd's encoding
  MimeOffsets = 'O',     // part offsets, imapd's encoding
};

struct CacheValue {
  uint32_t uid = 0;
  CacheField field = CacheField::Envelope;
  std::string value;
};

struct AppendOptions {
  Flags flags;                // stored in the name (then the file goes to cur/)
  int64_t internal_date = 0;  // 0: now; else set as the file's mtime
};

class Mailbox {
 public:
  // The Maildir folder at path (it must hold new/ and cur/; tmp/ is made when a write
  // needs it). Opens no index yet: the first refresh() does.
  static Result<Mailbox> open(const std::string& path);
  Mailbox(Mailbox&&) noexcept;
  Mailbox& operator=(Mailbox&&) noexcept;
  ~Mailbox();

  const std::string& path() const { return path_; }

  // Brings view() up to date with the directory and the index: assigns UIDs to new
  // files (in delivery order: mtime, then name), forgets vanished ones (recording the
  // expunge), takes flag changes from the names, and folds in what other processes
  // recorded. Costs a stat of new/ and cur/ and a header read when nothing changed
  // (plus a read of the records changed since, when another process changed some).
  Result<Changes> refresh();
  const Snapshot& view() const { return view_; }
  // The message with this UID in view(), or nullptr.
  const Message* find(uint32_t uid) const;

  // Keyword names by letter: keywords()[i] is the keyword of letter 'a' + i ("" for a
  // free letter).
  const std::vector<std::string>& keywords() const { return keywords_; }
  // The letter index of a keyword (IMAP keywords compare case-insensitively); with
  // create, assigns a free letter and saves the list. std::nullopt: unknown, or all 26
  // letters taken (the caller answers NO / drops the keyword).
  Result<std::optional<int>> keyword_index(std::string_view name, bool create);

  // Contents of a message; found again by its key when the file moved or changed its
  // flags since. Error ENOENT: it was expunged. EFBIG: larger than max_size.
  Result<std::string> read(const Message& m, size_t max_size = SIZE_MAX) const;
  // An fd open on the message for streaming (same lookup and errors as read()).
  Result<UniqueFd> open_message(const Message& m) const;

  // Changes flags of the given UIDs (renames within cur/, moving a file in new/ to
  // cur/). UIDs not in view() or already expunged are skipped. With unchanged_since
  // (CONDSTORE), messages whose MODSEQ is higher are skipped and returned in
  // *modified. Returns the UIDs whose flags changed; view() reflects them.
  Result<std::vector<uint32_t>> store(const std::vector<uint32_t>& uids, StoreMode mode, const Flags& flags,
                                      uint64_t unchanged_since = 0, std::vector<uint32_t>* modified = nullptr);
  // Moves messages from new/ to cur/ (no flags): done when a session has reported
  // them as \Recent.
  Status move_to_cur(const std::vector<uint32_t>& uids);
  // Removes messages. A message already gone is not an error; returns the UIDs this
  // call removed (all of them leave view()).
  Result<std::vector<uint32_t>> expunge(const std::vector<uint32_t>& uids);
  // Delivers text as a new message with the given flags and internal date and gives
  // it the next UID (returned: UIDPLUS APPENDUID). view() learns it at the next
  // refresh(), which reports it as added (as copy() and move() do in the target).
  Result<uint32_t> append(std::string_view text, const AppendOptions& opt = {});
  // Copies messages into target (hard links when on one filesystem), with their flags
  // and internal dates; they get new UIDs there. Returns (source UID, target UID)
  // pairs in source UID order (UIDPLUS COPYUID); UIDs gone meanwhile are skipped.
  // The target may be this folder.
  Result<std::vector<std::pair<uint32_t, uint32_t>>> copy(const std::vector<uint32_t>& uids, Mailbox& target);
  // As copy(), then removes them here (IMAP MOVE): renames when on one filesystem.
  Result<std::vector<std::pair<uint32_t, uint32_t>>> move(const std::vector<uint32_t>& uids, Mailbox& target);

  // The cache: values for uids (std::nullopt where none is stored), and storing them.
  // A message's cache goes when it is expunged.
  Result<std::vector<std::optional<std::string>>> cache_get(const std::vector<uint32_t>& uids, CacheField f);
  Status cache_put(const std::vector<std::pair<uint32_t, std::string>>& values, CacheField f);
  // Several fields in one index update (one lock, one pair of fsyncs).
  Status cache_put(const std::vector<CacheValue>& values);

  // Expunged UIDs with the MODSEQ of their expunge, for expunges after since (QRESYNC
  // VANISHED). Ascending by UID.
  Result<std::vector<std::pair<uint32_t, uint64_t>>> expunged_since(uint64_t since);

  struct State;  // what the last refresh saw of the index (mailbox.cc)

 private:
  explicit Mailbox(std::string path);
  Result<Changes> sync(int depth);
  Status load_all(index::File& db, const index::Header& h, Changes* ch);
  Status fold_changes(index::File& db, const index::Header& h, Changes* ch);
  Status load_keywords();
  Result<std::vector<uint32_t>> rename_messages(const std::vector<uint32_t>& uids,
                                                const std::function<Flags(const Flags&)>& change, bool to_cur,
                                                uint64_t unchanged_since, std::vector<uint32_t>* modified);
  Status record_expunges(const std::vector<uint32_t>& uids, std::vector<uint32_t>* out, bool unlink_files);
  Result<std::vector<std::pair<uint32_t, uint32_t>>> transfer(const std::vector<uint32_t>& uids, Mailbox& target,
                                                              bool move);
  std::string path_;
  Snapshot view_;
  std::vector<std::string> keywords_;
  std::unique_ptr<State> state_;
};

}  // namespace postilion::mailbox
