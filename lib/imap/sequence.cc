// lib/imap/sequence.cc - sequence set parsing, membership and text forms.
#include "lib/imap/sequence.h"

#include <algorithm>

#include "lib/base/strings.h"

namespace postilion::imap {
namespace {

std::optional<uint32_t> parse_number(std::string_view s) {
  if (s == "*") return kStar;
  if (s.empty() || s.size() > 10 || s[0] == '0') return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + uint64_t(c - '0');
  }
  if (v == 0 || v > UINT32_MAX) return std::nullopt;
  return static_cast<uint32_t>(v);
}

uint32_t value(uint32_t n, uint32_t max) { return n == kStar ? max : n; }

}  // namespace

std::optional<SequenceSet> parse_sequence_set(std::string_view text) {
  SequenceSet set;
  if (text == "$") {
    set.saved = true;
    return set;
  }
  if (text.empty()) return std::nullopt;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    std::string_view item = text.substr(pos, comma == std::string_view::npos ? text.npos : comma - pos);
    if (set.ranges.size() >= kMaxRanges) return std::nullopt;
    size_t colon = item.find(':');
    SequenceSet::Range r;
    if (colon == std::string_view::npos) {
      auto n = parse_number(item);
      if (!n) return std::nullopt;
      r.lo = r.hi = *n;
    } else {
      auto a = parse_number(item.substr(0, colon));
      auto b = parse_number(item.substr(colon + 1));
      if (!a || !b) return std::nullopt;
      r.lo = *a;
      r.hi = *b;
    }
    set.ranges.push_back(r);
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return set;
}

bool SequenceSet::contains(uint32_t n, uint32_t max) const {
  for (const Range& r : ranges) {
    uint32_t a = value(r.lo, max), b = value(r.hi, max);
    if (a > b) std::swap(a, b);
    if (n >= a && n <= b) return true;
  }
  return false;
}

std::vector<uint32_t> SequenceSet::resolve(uint32_t max) const {
  // Merge the ranges first, so "1:4294967295" costs O(max), not O(span).
  std::vector<std::pair<uint32_t, uint32_t>> spans;
  for (const Range& r : ranges) {
    uint32_t a = value(r.lo, max), b = value(r.hi, max);
    if (a > b) std::swap(a, b);
    if (a == 0) a = 1;
    if (b > max) b = max;
    if (a <= b) spans.emplace_back(a, b);
  }
  std::sort(spans.begin(), spans.end());
  std::vector<uint32_t> out;
  uint32_t next = 1;  // lowest number not yet emitted
  for (auto [a, b] : spans) {
    for (uint64_t n = std::max(a, next); n <= b; ++n) out.push_back(static_cast<uint32_t>(n));
    if (b >= next) next = b + 1;
    if (b == UINT32_MAX) break;
  }
  return out;
}

std::string SequenceSet::str() const {
  if (saved) return "$";
  std::string out;
  for (const Range& r : ranges) {
    if (!out.empty()) out += ',';
    auto one = [](uint32_t n) { return n == kStar ? std::string("*") : std::to_string(n); };
    out += one(r.lo);
    if (r.hi != r.lo) out += ":" + one(r.hi);
  }
  return out;
}

std::string compact_set(const std::vector<uint32_t>& v) {
  std::string out;
  size_t i = 0;
  while (i < v.size()) {
    size_t j = i;
    while (j + 1 < v.size() && v[j + 1] == v[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(v[i]);
    if (j > i) out += ":" + std::to_string(v[j]);
    i = j + 1;
  }
  return out;
}

}  // namespace postilion::imap
