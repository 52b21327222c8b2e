// lib/mailbox/maildir.h - Maildir helpers: a simple reader over the mailbox index
// (mailbox.h), the session lock, and the one delivery writer of the tree (tmp/ -> new/,
// unique names, fsync'd). Environment failures are Result errors.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lib/base/result.h"
#include "lib/base/unique_fd.h"
#include "lib/mailbox/mailbox.h"

namespace postilion::mailbox {

class Maildir {
 public:
  // A Maildir at path; it must hold new/ and cur/ (tmp/ is only for writers).
  static Result<Maildir> open(const std::string& path);
  const std::string& path() const { return path_; }

  // The messages with their UIDs: refresh(), then a copy of view().
  Result<Snapshot> scan();
  // Brings view() in step with the folder: Mailbox::refresh() of one Mailbox this
  // Maildir keeps, so only the first call reads the whole index and later ones cost
  // what changed since (a stat of new/ and cur/ and a header read when nothing did).
  Result<Changes> refresh();
  // The messages as the last refresh() saw them (empty before the first); valid until
  // the next refresh().
  const Snapshot& view() const;
  // The message with this UID in view(), or nullptr.
  const Message* find(uint32_t uid) const;
  // Contents of a message (its file may have moved between new/ and cur/ or changed
  // flags since the scan: found again by its key, first where view() has it). Error
  // ENOENT: it was expunged.
  Result<std::string> read(const Message& m, size_t max_size = SIZE_MAX) const;
  // The index's cache (Mailbox::cache_get / cache_put) through the Mailbox refresh()
  // keeps; before the first refresh() nothing is cached and nothing is stored.
  Result<std::vector<std::optional<std::string>>> cache_get(const std::vector<uint32_t>& uids, CacheField f);
  Status cache_put(const std::vector<CacheValue>& values);
  // Removes a message; a message already gone is not an error.
  Status remove(const Message& m) const;
  // fsyncs new/ and cur/ after removals, so a later crash does not bring them back.
  Status sync() const;

 private:
  explicit Maildir(std::string path) : path_(std::move(path)) {}
  // Current file name (relative) of key, or "" when gone.
  std::string locate(const std::string& key) const;
  std::string path_;
  std::unique_ptr<Mailbox> box_;  // made by the first refresh()
};

// Takes the exclusive lock `postilion-<name>.lock` in the Maildir without waiting (one
// POP3 session per mailbox). The lock is held as long as the returned fd is open.
// Error EWOULDBLOCK: another session holds it.
Result<UniqueFd> lock_session(const std::string& maildir, std::string_view name);

// The key of a Maildir file name: the part before ':' (the info section).
std::string key_of(std::string_view filename);
// Arrival order of two keys of one second: names of the usual shape
// `<seconds>.M<microseconds>P...` (ours, Dovecot's) compare by the numbers, since the
// microseconds are not zero-padded and "M98" sorts after "M123" as text; other names
// by their text.
bool arrival_before(std::string_view a, std::string_view b);
// True for names a reader considers: not starting with '.', no control characters,
// no '/' (a directory entry cannot hold one anyway).
bool valid_name(std::string_view filename);

// ---- delivery ---------------------------------------------------------------------
struct Delivered {
  std::string key;   // the unique name
  std::string file;  // full path in new/
};
// Makes the Maildir and its tmp/, new/, cur/ (mode 0700) where missing; ENOTDIR when
// one of them is no directory (a symbolic link planted there, say).
Status make_maildir(const std::string& maildir);

// Writes text as a new message: creates tmp/, new/, cur/ (mode 0700) when missing,
// writes tmp/NAME with O_EXCL (never following a symbolic link), fsyncs it, links it to
// new/NAME, removes the tmp name and fsyncs new/. The message is durable when this
// returns, and not before. A Maildir once checked is remembered per process and
// effective uid (no mkdir/lstat for later messages; checked again when a step fails as
// if a folder had gone), so a link its owner plants later leads only where that owner
// may write. NAME is "SECONDS.M<usec>P<pid>Q<n>R<random>.HOST,S=<size>,W=<vsize>".
Result<Delivered> deliver(const std::string& maildir, std::string_view text);

// The same writer in two steps, for a writer that must hold a lock while the message
// appears (imapd APPEND, COPY: the UID is assigned under the index lock).
// prepare() writes and fsyncs tmp/NAME (mtime set to mtime when not 0: the IMAP
// internal date); publish() links it to new/NAME (info empty) or cur/NAME:<info> (info
// such as "2,S"), removes the tmp name and fsyncs the folder. A Prepared that is never
// published is removed by its destructor.
class Prepared {
 public:
  Prepared() = default;
  Prepared(Prepared&& o) noexcept : maildir_(std::move(o.maildir_)), key_(std::move(o.key_)) { o.key_.clear(); }
  Prepared& operator=(Prepared&&) = delete;
  Prepared(const Prepared&) = delete;
  ~Prepared();
  const std::string& key() const { return key_; }

 private:
  friend Result<Prepared> prepare(const std::string&, std::string_view, int64_t);
  friend Result<Delivered> publish(Prepared&, std::string_view);
  std::string maildir_, key_;
};
Result<Prepared> prepare(const std::string& maildir, std::string_view text, int64_t mtime = 0);
Result<Delivered> publish(Prepared& p, std::string_view info);
// A fresh unique name (as deliver() makes) for a message of size bytes and vsize CRLF
// bytes.
std::string unique_name(uint64_t size, uint64_t vsize);

}  // namespace postilion::mailbox
