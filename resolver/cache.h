// resolver/cache.h - answers kept for their TTL, negative answers (NXDOMAIN, no data)
// for the shorter of their TTL and the negative limit. Temporary failures are never
// kept: the next request asks again. Bounded in entries; the soonest to expire go first.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "lib/dns/dns.h"

namespace postilion::resolver {

class Cache {
 public:
  Cache(size_t max_entries, uint32_t max_ttl, uint32_t negative_ttl)
      : max_entries_(max_entries), max_ttl_(max_ttl), negative_ttl_(negative_ttl) {}

  // A fresh copy of the entry, its ttl lowered by the time it has spent here.
  std::optional<dns::Answer> get(const std::string& name, dns::RrType type, int64_t now_s);
  void put(const std::string& name, dns::RrType type, const dns::Answer& a, int64_t now_s);
  size_t size() const { return entries_.size(); }
  void clear() { entries_.clear(); }

 private:
  struct Entry {
    dns::Answer answer;
    int64_t stored = 0;
    int64_t expires = 0;
  };
  using Key = std::pair<std::string, uint16_t>;
  void evict(int64_t now_s);

  size_t max_entries_;
  uint32_t max_ttl_;
  uint32_t negative_ttl_;
  std::map<Key, Entry> entries_;
};

}  // namespace postilion::resolver
