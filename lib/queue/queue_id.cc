// lib/queue/queue_id.cc - queue ID generation and validation.
#include "lib/queue/queue_id.h"

#include <atomic>

#include "lib/base/file.h"

namespace postilion::queue {
namespace {

const char kHex[] = "0123456789ABCDEF";

bool is_hex_upper(char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); }

}  // namespace

std::string make_id(int64_t us, uint64_t ino) {
  std::string id(kIdTimeDigits, '0');
  uint64_t t = static_cast<uint64_t>(us < 0 ? 0 : us);
  for (size_t i = kIdTimeDigits; i-- > 0;) {
    id[i] = kHex[t & 0xf];
    t >>= 4;
  }
  // Inode, least significant letter last; at least one letter so the ID is never
  // only hex (a hex-only name is never an ID).
  std::string tail;
  do {
    tail.insert(tail.begin(), static_cast<char>('a' + ino % 26));
    ino /= 26;
  } while (ino != 0);
  return id + tail;
}

int64_t next_id_time() {
  static std::atomic<int64_t> last{0};
  int64_t now = file::now_us();
  int64_t prev = last.load();
  for (;;) {
    int64_t want = now > prev ? now : prev + 1;
    if (last.compare_exchange_weak(prev, want)) return want;
  }
}

bool valid_id(std::string_view s) {
  if (s.size() <= kIdTimeDigits || s.size() > kIdMaxLength) return false;
  for (size_t i = 0; i < kIdTimeDigits; ++i)
    if (!is_hex_upper(s[i])) return false;
  for (size_t i = kIdTimeDigits; i < s.size(); ++i)
    if (s[i] < 'a' || s[i] > 'z') return false;
  return true;
}

int64_t id_time(std::string_view id) {
  int64_t t = 0;
  for (size_t i = 0; i < kIdTimeDigits && i < id.size(); ++i) {
    char c = id[i];
    t = t * 16 + (c <= '9' ? c - '0' : c - 'A' + 10);
  }
  return t;
}

}  // namespace postilion::queue
