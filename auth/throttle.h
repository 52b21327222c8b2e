// auth/throttle.h - counts failed logins per client IP and per user: each failure is
// answered after a growing delay, and past the limit every attempt (right password or
// not) is refused with a temporary failure until the window passes without attempts.
// Pure bookkeeping with the time passed in, so tests drive the clock.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace postilion::auth {

class Throttle {
 public:
  struct Limits {
    int64_t window_ms = 600000;
    int64_t limit = 10;
    int64_t base_delay_ms = 2000;
    int64_t max_delay_ms = 10000;
    size_t max_entries = 100000;  // memory bound: oldest entries go first
  };
  explicit Throttle(Limits l) : limits_(l) {}

  // Before checking a password: true when the client or the user is refused for now.
  // A refused attempt counts as a failure, so an attacker who keeps trying stays out.
  bool refused(std::string_view ip, std::string_view user, int64_t now_ms);
  // After a failed check: records it; returns how long to wait before answering.
  int64_t failed(std::string_view ip, std::string_view user, int64_t now_ms);
  // After a successful login: the user's count starts again (the client's does not, so
  // one known account cannot be used to reset a client guessing others).
  void succeeded(std::string_view user);
  // Drops entries idle for a whole window.
  void prune(int64_t now_ms);
  size_t size() const { return ips_.size() + users_.size(); }
  int64_t failures_of_ip(std::string_view ip, int64_t now_ms) const;

 private:
  struct Counter {
    int64_t failures = 0;
    int64_t last_ms = 0;
  };
  using Table = std::unordered_map<std::string, Counter>;
  Counter* touch(Table& t, std::string_view key, int64_t now_ms);
  int64_t current(const Table& t, std::string_view key, int64_t now_ms) const;
  Limits limits_;
  Table ips_, users_;
};

}  // namespace postilion::auth
