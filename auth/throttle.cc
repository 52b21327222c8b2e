// auth/throttle.cc - failed-login bookkeeping per client IP and per user.
#include "auth/throttle.h"

#include <algorithm>

namespace postilion::auth {

int64_t Throttle::current(const Table& t, std::string_view key, int64_t now_ms) const {
  auto it = t.find(std::string(key));
  if (it == t.end() || now_ms - it->second.last_ms >= limits_.window_ms) return 0;
  return it->second.failures;
}

Throttle::Counter* Throttle::touch(Table& t, std::string_view key, int64_t now_ms) {
  if (t.size() >= limits_.max_entries && t.find(std::string(key)) == t.end()) {
    prune(now_ms);
    if (t.size() >= limits_.max_entries) {
      // Still full of live entries: drop the stalest to stay within the memory bound.
      auto oldest = std::min_element(t.begin(), t.end(), [](const auto& a, const auto& b) {
        return a.second.last_ms < b.second.last_ms;
      });
      t.erase(oldest);
    }
  }
  Counter& c = t[std::string(key)];
  if (now_ms - c.last_ms >= limits_.window_ms) c.failures = 0;
  c.last_ms = now_ms;
  return &c;
}

bool Throttle::refused(std::string_view ip, std::string_view user, int64_t now_ms) {
  bool by_ip = !ip.empty() && current(ips_, ip, now_ms) >= limits_.limit;
  bool by_user = current(users_, user, now_ms) >= limits_.limit;
  if (!by_ip && !by_user) return false;
  if (by_ip) touch(ips_, ip, now_ms)->failures++;
  if (by_user) touch(users_, user, now_ms)->failures++;
  return true;
}

int64_t Throttle::failed(std::string_view ip, std::string_view user, int64_t now_ms) {
  int64_t n = 0;
  if (!ip.empty()) n = std::max(n, ++touch(ips_, ip, now_ms)->failures);
  n = std::max(n, ++touch(users_, user, now_ms)->failures);
  return std::min(limits_.max_delay_ms, limits_.base_delay_ms * n);
}

void Throttle::succeeded(std::string_view user) { users_.erase(std::string(user)); }

void Throttle::prune(int64_t now_ms) {
  for (Table* t : {&ips_, &users_})
    for (auto it = t->begin(); it != t->end();)
      it = now_ms - it->second.last_ms >= limits_.window_ms ? t->erase(it) : std::next(it);
}

int64_t Throttle::failures_of_ip(std::string_view ip, int64_t now_ms) const {
  return current(ips_, ip, now_ms);
}

}  // namespace postilion::auth
