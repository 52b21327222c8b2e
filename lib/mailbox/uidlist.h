// lib/mailbox/uidlist.h - readers of other servers' UID files, so a Maildir moved from
// Dovecot or Courier keeps its UIDVALIDITY and UIDs (clients download nothing again):
// dovecot-uidlist (formats 1, 2 and 3), courierimapuiddb (Dovecot's format 1), and
// dovecot-keywords. Parsers only (no I/O); input is untrusted: a malformed line is
// skipped, a malformed header makes the whole file unusable (std::nullopt).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace postilion::mailbox {

inline constexpr const char* kDovecotUidlist = "dovecot-uidlist";
inline constexpr const char* kDovecotKeywords = "dovecot-keywords";
inline constexpr const char* kCourierUidDb = "courierimapuiddb";

struct UidList {
  uint32_t uid_validity = 0;
  uint32_t next_uid = 1;
  // (UID, Maildir key: the file name before ':'), in file order. UIDs are checked to be
  // ascending; rows breaking that are dropped. next_uid is above all of them (Dovecot
  // appends rows without updating the header's next UID).
  std::vector<std::pair<uint32_t, std::string>> entries;
};

// Parses dovecot-uidlist or courierimapuiddb text. Limits: lines of at most 64 KiB
// (longer ones are skipped), keys that are valid Maildir names.
std::optional<UidList> parse_uidlist(std::string_view text);

// Parses dovecot-keywords (and postilion-keywords, the same format): "<index> <name>"
// lines, index 0..25 standing for letters a..z. Returns 26 names, "" where unset.
std::vector<std::string> parse_keywords(std::string_view text);
// The text of a keywords file for names (index i = letter 'a' + i; "" skipped).
std::string format_keywords(const std::vector<std::string>& names);

}  // namespace postilion::mailbox
