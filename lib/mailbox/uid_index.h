// lib/mailbox/uid_index.h - the UID index of one Maildir: which message (by its unique
// Maildir name, the part before ':') has which UID, plus UIDVALIDITY and the next UID.
// pop3d's UIDL and imapd's UIDs both come from here, so they agree and stay stable
// across sessions. Stored as a Berkeley DB btree (with page checksums) in the Maildir,
// written whole to a temporary file and renamed over the old one: a reader sees the
// old index or the new one, never half of one, and a crash cannot corrupt it.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "lib/base/result.h"

namespace postilion::mailbox {

// The index file inside a Maildir, and the lock serializing its updates.
inline constexpr const char* kIndexFile = "postilion-uids.db";
inline constexpr const char* kIndexLock = "postilion-uids.lock";

struct IndexEntry {
  uint32_t uid = 0;
  uint64_t vsize = 0;  // size with CRLF line ends (POP3 LIST, IMAP RFC822.SIZE)
  bool operator==(const IndexEntry&) const = default;
};

struct UidIndex {
  uint32_t uid_validity = 0;
  uint32_t next_uid = 1;
  std::map<std::string, IndexEntry> entries;  // Maildir key -> entry
  bool operator==(const UidIndex&) const = default;
};

// Error codes of load_index: ENOENT (no index yet), EBADMSG (the file is not a valid
// index: truncated, corrupt, wrong format, inconsistent records); others are I/O errors.
Result<UidIndex> load_index(const std::string& file);
// Writes the index atomically (temporary file beside it, fsync, rename, fsync of the
// folder). mode is that of the new file.
Status save_index(const std::string& file, const UidIndex& index, int mode = 0600);

}  // namespace postilion::mailbox
