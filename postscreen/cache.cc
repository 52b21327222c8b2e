// postscreen/cache.cc - the postscreen_cache_map file (see cache.h).
#include "postscreen/cache.h"

#include <db_cxx.h>
#include <fcntl.h>

#include <charconv>
#include <cstring>

#include "lib/base/strings.h"

namespace postilion::postscreen {
namespace {

bool parse_time(std::string_view s, int64_t* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return !s.empty() && ec == std::errc() && p == s.data() + s.size() && *out >= 0;
}

Error db_error(const std::string& context, int rc) {
  if (rc > 0) return Error(context + ": " + std::strerror(rc), rc);
  return Error(context + ": " + db_strerror(rc), EIO);
}

}  // namespace

Parsed<CacheEntry> parse_cache_entry(std::string_view value) {
  if (value.size() > 64) return Parsed<CacheEntry>::bad("cache entry too long");
  auto semi = value.find(';');
  CacheEntry e;
  if (semi == std::string_view::npos || !parse_time(value.substr(0, semi), &e.greet_until) ||
      !parse_time(value.substr(semi + 1), &e.dnsbl_until))
    return Parsed<CacheEntry>::bad("bad cache entry \"" + str::printable(value, 64) + "\"");
  return e;
}

std::string format_cache_entry(const CacheEntry& e) {
  return std::to_string(e.greet_until) + ";" + std::to_string(e.dnsbl_until);
}

void Cache::Close::operator()(Db* db) const {
  db->close(0);
  delete db;
}

Result<std::unique_ptr<Cache>> Cache::open(std::string_view spec) {
  auto colon = spec.find(':');
  std::string_view type = colon == std::string_view::npos ? "" : spec.substr(0, colon);
  DBTYPE t;
  if (type == "btree") {
    t = DB_BTREE;
  } else if (type == "hash") {
    t = DB_HASH;
  } else {
    return Error("postscreen_cache_map: expected btree:/path or hash:/path, got \"" + str::printable(spec, 100) + "\"",
                 EINVAL);
  }
  std::unique_ptr<Cache> c(new Cache);
  c->path_ = std::string(spec.substr(colon + 1));
  if (c->path_.empty() || c->path_[0] != '/')
    return Error("postscreen_cache_map: not an absolute path: \"" + str::printable(c->path_, 100) + "\"", EINVAL);
  c->db_.reset(new Db(nullptr, DB_CXX_NO_EXCEPTIONS));
  c->db_->set_error_stream(nullptr);
  if (int rc = c->db_->open(nullptr, c->path_.c_str(), nullptr, t, DB_CREATE, 0600); rc != 0)
    return db_error(c->path_, rc);
  return c;
}

Cache::~Cache() = default;

std::optional<CacheEntry> Cache::get(std::string_view ip) {
  Dbt key(const_cast<char*>(ip.data()), static_cast<u_int32_t>(ip.size()));
  Dbt val;
  if (db_->get(nullptr, &key, &val, 0) != 0) return std::nullopt;
  auto e = parse_cache_entry(std::string_view(static_cast<const char*>(val.get_data()), val.get_size()));
  if (!e) return std::nullopt;
  return *e;
}

Status Cache::put(std::string_view ip, const CacheEntry& e) {
  std::string v = format_cache_entry(e);
  Dbt key(const_cast<char*>(ip.data()), static_cast<u_int32_t>(ip.size()));
  Dbt val(v.data(), static_cast<u_int32_t>(v.size()));
  if (int rc = db_->put(nullptr, &key, &val, 0); rc != 0) return db_error(path_, rc);
  // Written through at once: another process (postilionctl, a restart) sees it.
  if (int rc = db_->sync(0); rc != 0) return db_error(path_, rc);
  return {};
}

int Cache::clean(int64_t before) {
  Dbc* cursor = nullptr;
  if (db_->cursor(nullptr, &cursor, 0) != 0 || !cursor) return 0;
  int removed = 0;
  Dbt key, val;
  // Bounded by the file: each step moves the cursor on.
  while (cursor->get(&key, &val, DB_NEXT) == 0) {
    auto e = parse_cache_entry(std::string_view(static_cast<const char*>(val.get_data()), val.get_size()));
    if (!e || (e->greet_until < before && e->dnsbl_until < before)) {
      if (cursor->del(0) == 0) ++removed;
    }
  }
  cursor->close();
  db_->sync(0);
  return removed;
}

}  // namespace postilion::postscreen
