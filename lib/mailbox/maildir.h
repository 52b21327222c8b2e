// lib/mailbox/maildir.h - Maildir mailboxes: the reader pop3d and imapd serve from
// (messages with stable UIDs from the UID index), the session lock, and the one
// delivery writer of the tree (tmp/ -> new/, unique names, fsync'd).
// Environment failures are Result errors; a bad index is rebuilt (new UIDVALIDITY) with
// a warning, because its only state is the UID numbering.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lib/base/result.h"
#include "lib/base/unique_fd.h"
#include "lib/mailbox/uid_index.h"

namespace postilion::mailbox {

struct Message {
  uint32_t uid = 0;
  std::string key;     // unique part of the file name (before ':')
  std::string file;    // path relative to the Maildir: "new/KEY" or "cur/KEY:2,S"
  std::string flags;   // Maildir info flags after ":2," (cur/ only), e.g. "RS"
  uint64_t size = 0;   // bytes on disk
  uint64_t vsize = 0;  // size with CRLF line ends
  bool is_new() const { return file.rfind("new/", 0) == 0; }
};

struct Snapshot {
  uint32_t uid_validity = 0;
  uint32_t next_uid = 1;
  std::vector<Message> messages;  // by ascending UID
};

class Maildir {
 public:
  // A Maildir at path; it must hold new/ and cur/ (tmp/ is only for writers).
  static Result<Maildir> open(const std::string& path);
  const std::string& path() const { return path_; }

  // Lists new/ and cur/ and gives every message its UID: known ones keep theirs, new
  // ones get the next UIDs in delivery order (file time, then name). The index is
  // updated under its lock, so concurrent pop3d/imapd sessions agree on the numbering.
  Result<Snapshot> scan();
  // Contents of a message (its file may have moved between new/ and cur/ or changed
  // flags since the scan: found again by its key). Error ENOENT: it was expunged.
  Result<std::string> read(const Message& m, size_t max_size = SIZE_MAX) const;
  // Removes a message; a message already gone is not an error.
  Status remove(const Message& m) const;
  // fsyncs new/ and cur/ after removals, so a later crash does not bring them back.
  Status sync() const;

 private:
  explicit Maildir(std::string path) : path_(std::move(path)) {}
  // Current file name (relative) of key, or "" when gone.
  std::string locate(const std::string& key) const;
  std::string path_;
};

// Takes the exclusive lock `postilion-<name>.lock` in the Maildir without waiting (one
// POP3 session per mailbox). The lock is held as long as the returned fd is open.
// Error EWOULDBLOCK: another session holds it.
Result<UniqueFd> lock_session(const std::string& maildir, std::string_view name);

// The key of a Maildir file name: the part before ':' (the info section).
std::string key_of(std::string_view filename);
// True for names a reader considers: not starting with '.', no control characters,
// no '/' (a directory entry cannot hold one anyway).
bool valid_name(std::string_view filename);

// ---- delivery ---------------------------------------------------------------------
struct Delivered {
  std::string key;   // the unique name
  std::string file;  // full path in new/
};
// Writes text as a new message: creates tmp/, new/, cur/ (mode 0700) when missing,
// writes tmp/NAME with O_EXCL (never following a symbolic link), fsyncs it, links it to
// new/NAME, removes the tmp name and fsyncs new/. The message is durable when this
// returns, and not before. A Maildir once checked is remembered per process and
// effective uid (no mkdir/lstat for later messages; checked again when a step fails as
// if a folder had gone), so a link its owner plants later leads only where that owner
// may write. NAME is "SECONDS.M<usec>P<pid>Q<n>R<random>.HOST,S=<size>,W=<vsize>".
Result<Delivered> deliver(const std::string& maildir, std::string_view text);

}  // namespace postilion::mailbox
