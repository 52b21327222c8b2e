// lib/imap/sequence.h - IMAP sequence sets (RFC 3501 9 sequence-set, RFC 5182 "$"):
// "1:*,5,7:9". Parsing is of untrusted input: an invalid set is nullopt, never an
// exception; a set has at most kMaxRanges ranges. Numbers are 1..2^32-1; "*" is kept
// symbolic (the largest number in use) and resolved when the set is used.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postilion::imap {

constexpr size_t kMaxRanges = 100000;
constexpr uint32_t kStar = 0;  // stands for "*" in a Range

struct SequenceSet {
  struct Range {
    uint32_t lo = 0, hi = 0;  // as written (lo may be above hi, "*" is kStar)
  };
  std::vector<Range> ranges;
  bool saved = false;  // "$": the result of the last SEARCH SAVE (RFC 5182)

  // Whether n is in the set when "*" means max (max = 0 for an empty mailbox).
  bool contains(uint32_t n, uint32_t max) const;
  // The numbers of the set within [1, max], sorted and without duplicates; for a UID
  // set pass the highest UID as max and filter by existing UIDs afterwards.
  std::vector<uint32_t> resolve(uint32_t max) const;
  std::string str() const;  // normalized text form, e.g. "1:3,7,9:*"
};

std::optional<SequenceSet> parse_sequence_set(std::string_view text);
// Builds a compact set ("1:3,7") from sorted numbers (for UIDPLUS and ESEARCH replies).
std::string compact_set(const std::vector<uint32_t>& sorted);

}  // namespace postilion::imap
