// lib/queue/queue_id.h - queue IDs: unique across processes, time-ordered, file-name safe.
// Shape: 14 uppercase hex digits of microseconds since the epoch (fixed width, so
// sorting IDs sorts by arrival), then the queue file's inode in lowercase letters
// (base 26), so two processes committing in the same microsecond still differ.
// Example: 0005F3A2B1C9D4Ebqxk
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace postilion::queue {

inline constexpr size_t kIdTimeDigits = 14;
inline constexpr size_t kIdMaxInodeDigits = 14;  // 26^14 > 2^64
inline constexpr size_t kIdMaxLength = kIdTimeDigits + kIdMaxInodeDigits;

// The ID for a file with inode `ino` committed at `us` microseconds since the epoch.
std::string make_id(int64_t us, uint64_t ino);
// A microsecond timestamp for a new ID: now, but strictly increasing within this process.
int64_t next_id_time();
// True when `s` is a well-formed queue ID. Use on every untrusted name (a directory
// entry, a user's command line) before building a path from it.
bool valid_id(std::string_view s);
// The arrival time encoded in a valid ID (microseconds since the epoch).
int64_t id_time(std::string_view id);

}  // namespace postilion::queue
