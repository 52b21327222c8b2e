// postscreen/cache.h - postscreen_cache_map: the clients that passed postscreen's tests,
// in a Berkeley DB btree (or hash) file that postscreen alone reads and writes. The key
// is the client address; the value the times (seconds since the epoch) until which
// each test counts as passed, "GREET;DNSBL" (0: never passed). An entry whose times are
// all older than postscreen_cache_retention_time is removed by clean().
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "lib/base/parsed.h"
#include "lib/base/result.h"

class Db;

namespace postilion::postscreen {

struct CacheEntry {
  int64_t greet_until = 0;
  int64_t dnsbl_until = 0;
};

// "GREET;DNSBL" as stored; a damaged value is refused (the client is then tested anew).
Parsed<CacheEntry> parse_cache_entry(std::string_view value);
std::string format_cache_entry(const CacheEntry& e);

class Cache {
 public:
  // spec: "btree:/path" or "hash:/path" (the file is created). Errors: a bad spec or
  // a file that cannot be opened.
  static Result<std::unique_ptr<Cache>> open(std::string_view spec);
  ~Cache();

  std::optional<CacheEntry> get(std::string_view ip);
  Status put(std::string_view ip, const CacheEntry& e);
  // Removes entries whose every time is before `before`; returns how many.
  int clean(int64_t before);
  const std::string& path() const { return path_; }

 private:
  Cache() = default;
  struct Close {
    void operator()(Db* db) const;
  };
  std::unique_ptr<Db, Close> db_;
  std::string path_;
};

}  // namespace postilion::postscreen
