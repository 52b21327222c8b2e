// lib/imap/search.h - SEARCH keys (RFC 3501 6.4.4): parsing every key with AND/OR/NOT
// nesting, CHARSET UTF-8/US-ASCII, and a matcher that evaluates a key against one
// message through MessageView, with header text decoded from RFC 2047 and bodies from
// QP/base64 and their charset before a case-insensitive substring match.
//
// Contract: parse_search() is for untrusted input: errors are values (BAD text, or
// BADCHARSET) and nesting is bounded by kMaxSearchDepth. match() never throws; it asks
// the view for the message bytes only when a key needs them (header or body text).
// Room for the next issue: MODSEQ, OLDER/YOUNGER (WITHIN), SAVEDBEFORE, the "$" set
// (SEARCHRES) and ESEARCH's RETURN options are parsed into the same tree; keys the
// daemon does not offer yet are refused by it, not here. SORT and THREAD (RFC 5256) take
// their criteria through parse_search() and MessageView; their sort keys and base-subject
// extraction belong beside this file (sort.h), with fold_case() as the comparator base.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "lib/imap/command.h"
#include "lib/imap/datetime.h"
#include "lib/imap/sequence.h"

namespace postilion::imap {

constexpr size_t kMaxSearchDepth = 64;
constexpr size_t kMaxSearchKeys = 4096;

struct SearchKey {
  enum class Op {
    All, And, Or, Not,
    Answered, Deleted, Draft, Flagged, Recent, Seen, New, Old,
    Unanswered, Undeleted, Undraft, Unflagged, Unseen,
    Keyword, Unkeyword,
    Bcc, Body, Cc, From, Subject, Text, To, Header,
    Before, On, Since, SentBefore, SentOn, SentSince,
    Larger, Smaller,
    Uid, Sequence,
    ModSeq, Older, Younger,  // RFC 7162, RFC 5032
  };
  Op op = Op::All;
  std::string field;            // Header: the field name
  std::string value;            // string keys (UTF-8), Keyword flag
  int64_t number = 0;           // day number for dates, octets, seconds, mod-sequence
  SequenceSet set;              // Uid / Sequence
  std::vector<SearchKey> children;  // And (any count), Or (2), Not (1)
};

struct SearchProgram {
  std::string charset = "US-ASCII";
  std::vector<std::string> return_options;  // ESEARCH RETURN (...), uppercase; empty: none given
  bool has_return = false;
  SearchKey key;  // an And of the top-level keys
};

struct SearchError {
  std::string text;
  bool bad_charset = false;  // reply NO [BADCHARSET (UTF-8 US-ASCII)]
};

// args from first on: [RETURN (...)] [CHARSET name] key...
std::variant<SearchProgram, SearchError> parse_search(const std::vector<Arg>& args, size_t first);

// What the matcher needs of one message. message() may load the file: it is called at
// most once per match() and only for text keys.
class MessageView {
 public:
  virtual ~MessageView() = default;
  virtual uint32_t seq() const = 0;
  virtual uint32_t uid() const = 0;
  virtual bool has_flag(std::string_view flag) const = 0;  // "\Seen", keywords; case-insensitive
  virtual bool recent() const = 0;
  virtual uint64_t size() const = 0;          // RFC822.SIZE
  virtual int64_t internal_date() const = 0;  // seconds since the epoch
  virtual uint64_t modseq() const { return 0; }
  virtual std::string_view message() = 0;     // the whole message, CRLF or LF ends
};

struct SearchContext {
  uint32_t max_seq = 0;      // "*" in sequence sets
  uint32_t max_uid = 0;      // "*" in UID sets
  int zone_minutes = 0;      // the server's zone, for BEFORE/ON/SINCE
  int64_t now = 0;           // for OLDER/YOUNGER
  const std::vector<uint32_t>* saved_uids = nullptr;  // "$" (SEARCHRES); nullptr: empty
};

bool match(const SearchKey& key, MessageView& msg, const SearchContext& ctx);

// Case-insensitive substring search of UTF-8 text (ASCII, Latin-1, Latin Extended-A,
// Greek and Cyrillic letters folded). Exposed for tests and SORT later.
bool contains_folded(std::string_view haystack, std::string_view needle);
std::string fold_case(std::string_view utf8);

}  // namespace postilion::imap
