// resolver/cache.cc - the TTL cache of DNS answers.
#include "resolver/cache.h"

#include <algorithm>

namespace postilion::resolver {

std::optional<dns::Answer> Cache::get(const std::string& name, dns::RrType type, int64_t now_s) {
  auto it = entries_.find({name, static_cast<uint16_t>(type)});
  if (it == entries_.end()) return std::nullopt;
  if (now_s >= it->second.expires) {
    entries_.erase(it);
    return std::nullopt;
  }
  dns::Answer a = it->second.answer;
  a.ttl = static_cast<uint32_t>(it->second.expires - now_s);
  return a;
}

void Cache::put(const std::string& name, dns::RrType type, const dns::Answer& a, int64_t now_s) {
  if (a.outcome == dns::Outcome::TempFail) return;
  uint32_t ttl = a.ttl;
  if (a.outcome == dns::Outcome::Ok)
    ttl = std::min(ttl, max_ttl_);
  else
    ttl = std::min(ttl == 0 ? negative_ttl_ : ttl, negative_ttl_);
  if (ttl == 0) return;
  if (entries_.size() >= max_entries_) evict(now_s);
  if (entries_.size() >= max_entries_) return;
  entries_[{name, static_cast<uint16_t>(type)}] = Entry{a, now_s, now_s + ttl};
}

void Cache::evict(int64_t now_s) {
  std::erase_if(entries_, [&](const auto& kv) { return now_s >= kv.second.expires; });
  // Still full: drop the tenth of entries that expire soonest.
  if (entries_.size() < max_entries_) return;
  std::vector<std::pair<int64_t, Key>> order;
  for (const auto& [k, e] : entries_) order.push_back({e.expires, k});
  std::sort(order.begin(), order.end());
  size_t n = std::max<size_t>(1, order.size() / 10);
  for (size_t i = 0; i < n; ++i) entries_.erase(order[i].second);
}

}  // namespace postilion::resolver
