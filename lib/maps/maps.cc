// lib/maps/maps.cc - map specs, Berkeley DB hash tables (lookup and atomic build),
// inline and static maps, map lists.
#include "lib/maps/maps.h"

#include <db_cxx.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <map>

#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/log/log.h"
#include "lib/maps/pattern_table.h"

namespace postilion::maps {
namespace {

// The Db handle; closed (never through exceptions: DB_CXX_NO_EXCEPTIONS) on destruction.
struct DbClose {
  void operator()(Db* db) const {
    db->close(0);
    delete db;
  }
};
using DbPtr = std::unique_ptr<Db, DbClose>;

Error db_error(const std::string& context, int rc) {
  if (rc > 0) return Error(context + ": " + std::strerror(rc), rc);
  return Error(context + ": " + db_strerror(rc), EIO);
}

Result<DbPtr> open_db(const std::string& path, u_int32_t flags, int mode) {
  DbPtr db(new Db(nullptr, DB_CXX_NO_EXCEPTIONS));
  db->set_error_stream(nullptr);
  int rc = db->open(nullptr, path.c_str(), nullptr, DB_HASH, flags, mode);
  if (rc != 0) {
    // A failed open still needs close() to free the handle.
    return db_error(path, rc);
  }
  return db;
}

// Strips one pair of enclosing braces: "{a b}" -> "a b".
std::string_view unbrace(std::string_view s) {
  s = str::trim(s);
  if (s.size() >= 2 && s.front() == '{' && s.back() == '}') s = str::trim(s.substr(1, s.size() - 2));
  return s;
}

// Splits on `seps` outside {...}; empty fields are dropped. Unbalanced braces: nullopt.
std::optional<std::vector<std::string>> split_top(std::string_view s, std::string_view seps) {
  std::vector<std::string> out;
  std::string cur;
  int depth = 0;
  for (char c : s) {
    if (c == '{') ++depth;
    if (c == '}' && --depth < 0) return std::nullopt;
    if (depth == 0 && seps.find(c) != std::string_view::npos) {
      if (!str::trim(cur).empty()) out.emplace_back(str::trim(cur));
      cur.clear();
      continue;
    }
    cur += c;
  }
  if (depth != 0) return std::nullopt;
  if (!str::trim(cur).empty()) out.emplace_back(str::trim(cur));
  return out;
}

class HashMap : public Map {
 public:
  HashMap(std::string spec, std::string path) : Map(std::move(spec)), path_(std::move(path)) {}

  Status reopen_if_changed() {
    struct stat st;
    if (::stat(path_.c_str(), &st) != 0) return Error::from_errno("open " + path_);
    if (db_ && st.st_ino == st_.st_ino && st.st_dev == st_.st_dev && st.st_size == st_.st_size &&
        st.st_mtim.tv_sec == st_.st_mtim.tv_sec && st.st_mtim.tv_nsec == st_.st_mtim.tv_nsec)
      return {};
    db_.reset();
    auto db = open_db(path_, DB_RDONLY, 0);
    if (!db) return db.error();
    db_ = std::move(db.value());
    st_ = st;
    return {};
  }

  Result<std::optional<std::string>> lookup(std::string_view key) override {
    if (auto st = reopen_if_changed(); !st) return st.error();
    std::string k = fold_key(key);
    Dbt dkey(k.data(), static_cast<u_int32_t>(k.size()));
    Dbt data;
    data.set_flags(DB_DBT_MALLOC);
    int rc = db_->get(nullptr, &dkey, &data, 0);
    if (rc == DB_NOTFOUND) return std::optional<std::string>();
    if (rc != 0) return db_error("lookup in " + path_, rc);
    std::string value(static_cast<const char*>(data.get_data()), data.get_size());
    std::free(data.get_data());
    return std::optional<std::string>(std::move(value));
  }

 private:
  std::string path_;
  DbPtr db_;
  struct stat st_ {};
};

class InlineMap : public Map {
 public:
  InlineMap(std::string spec, std::map<std::string, std::string> table)
      : Map(std::move(spec)), table_(std::move(table)) {}
  Result<std::optional<std::string>> lookup(std::string_view key) override {
    auto it = table_.find(fold_key(key));
    if (it == table_.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }

 private:
  std::map<std::string, std::string> table_;
};

class StaticMap : public Map {
 public:
  StaticMap(std::string spec, std::string value) : Map(std::move(spec)), value_(std::move(value)) {}
  Result<std::optional<std::string>> lookup(std::string_view) override {
    return std::optional<std::string>(value_);
  }

 private:
  std::string value_;
};

// regexp:, pcre: and cidr: tables, read and compiled when opened (as Postfix does: a
// changed file takes effect when the daemon starts again).
class PatternMap : public Map {
 public:
  PatternMap(std::string spec, std::unique_ptr<PatternTable> table)
      : Map(std::move(spec)), table_(std::move(table)) {}
  Result<std::optional<std::string>> lookup(std::string_view key) override {
    std::string warning;
    auto r = table_->lookup(key, &warning);
    if (!warning.empty()) log::warn("%s: %s", this->spec().c_str(), warning.c_str());
    return r;
  }

 private:
  std::unique_ptr<PatternTable> table_;
};

Error bad_spec(std::string_view spec, const std::string& why) {
  return Error("bad map " + str::printable(spec) + ": " + why, EINVAL).set_permanent();
}

}  // namespace

std::vector<std::string> split_specs(std::string_view specs) {
  auto parts = split_top(specs, ", \t\r\n");
  return parts ? *parts : std::vector<std::string>{std::string(specs)};
}

Result<std::unique_ptr<Map>> open(std::string_view spec_in) {
  std::string spec(str::trim(spec_in));
  size_t colon = spec.find(':');
  if (colon == std::string::npos) return bad_spec(spec, "expected type:name");
  std::string type = str::lower(std::string_view(spec).substr(0, colon));
  std::string_view rest = std::string_view(spec).substr(colon + 1);
  if (type == "hash") {
    if (rest.empty() || rest[0] != '/') return bad_spec(spec, "hash: needs an absolute path");
    auto m = std::make_unique<HashMap>(spec, std::string(rest) + ".db");
    if (auto st = m->reopen_if_changed(); !st) return st.error();
    return std::unique_ptr<Map>(std::move(m));
  }
  if (type == "regexp" || type == "pcre" || type == "cidr") {
    if (rest.empty() || rest[0] != '/') return bad_spec(spec, type + ": needs an absolute path");
    std::string path(rest);
    auto text = file::read_file(path, kMaxPatternTableSize);
    if (!text) return text.error();
    PatternKind kind = type == "regexp" ? PatternKind::Regexp : type == "pcre" ? PatternKind::Pcre : PatternKind::Cidr;
    std::vector<std::string> errors;
    auto table = PatternTable::parse(*text, kind, path, &errors);
    if (!table) return Error(str::join(errors, "\n"), EINVAL).set_permanent();
    return std::unique_ptr<Map>(std::make_unique<PatternMap>(spec, std::move(table)));
  }
  if (type == "inline") {
    std::string_view body = str::trim(rest);
    if (body.size() < 2 || body.front() != '{' || body.back() != '}')
      return bad_spec(spec, "inline: needs {key=value, ...}");
    auto items = split_top(body.substr(1, body.size() - 2), ",");
    if (!items) return bad_spec(spec, "unbalanced braces");
    std::map<std::string, std::string> table;
    for (const std::string& item : *items) {
      std::string_view it = unbrace(item);
      size_t eq = it.find('=');
      if (eq == std::string_view::npos || str::trim(it.substr(0, eq)).empty())
        return bad_spec(spec, "expected key=value in " + str::printable(item));
      table.emplace(fold_key(str::trim(it.substr(0, eq))), std::string(unbrace(it.substr(eq + 1))));
    }
    return std::unique_ptr<Map>(std::make_unique<InlineMap>(spec, std::move(table)));
  }
  if (type == "static") {
    return std::unique_ptr<Map>(std::make_unique<StaticMap>(spec, std::string(unbrace(rest))));
  }
  return bad_spec(spec, "unsupported map type \"" + str::printable(type) +
                            "\" (hash, regexp, pcre, cidr, inline, static)");
}

Result<MapList> MapList::open(std::string_view specs) {
  MapList list;
  for (const std::string& s : split_specs(specs)) {
    auto m = maps::open(s);
    if (!m) return m.error();
    list.maps_.push_back(std::move(m.value()));
  }
  return list;
}

Result<std::optional<std::string>> MapList::lookup(std::string_view key) {
  for (auto& m : maps_) {
    auto r = m->lookup(key);
    if (!r || r->has_value()) return r;
  }
  return std::optional<std::string>();
}

Status build(const std::string& path, const BuildOptions& options, std::vector<std::string>* warnings) {
  auto text = file::read_file(path, 1ull << 30);
  if (!text) return text.error();
  MapSource src = parse_map_source(*text, options.syntax, path);
  for (const std::string& w : src.warnings) {
    log::warn("%s", w.c_str());
    if (warnings) warnings->push_back(w);
  }
  if (!src.errors.empty()) return Error(str::join(src.errors, "\n"), EINVAL).set_permanent();

  static std::atomic<unsigned> counter{0};
  std::string target = path + ".db";
  std::string tmp = file::join(file::dirname(target),
                               str::format(".%s.tmp.%ld.%u", file::basename(target).c_str(),
                                           static_cast<long>(::getpid()), ++counter));
  ::unlink(tmp.c_str());
  struct Cleanup {
    std::string path;
    ~Cleanup() {
      if (!path.empty()) ::unlink(path.c_str());
    }
  } cleanup{tmp};
  {
    auto db = open_db(tmp, DB_CREATE | DB_EXCL, static_cast<int>(options.mode));
    if (!db) return db.error();
    for (const MapEntry& e : src.entries) {
      Dbt k(const_cast<char*>(e.key.data()), static_cast<u_int32_t>(e.key.size()));
      Dbt v(const_cast<char*>(e.value.data()), static_cast<u_int32_t>(e.value.size()));
      if (int rc = (*db)->put(nullptr, &k, &v, DB_NOOVERWRITE); rc != 0) return db_error("write " + tmp, rc);
    }
    if (int rc = (*db)->sync(0); rc != 0) return db_error("sync " + tmp, rc);
    Db* raw = db->release();
    int rc = raw->close(0);
    delete raw;
    if (rc != 0) return db_error("close " + tmp, rc);
  }
  // Durable before it replaces the old table: a crash leaves one whole table or the other.
  auto fd = file::open(tmp, O_RDONLY);
  if (!fd) return fd.error();
  if (::fchmod(fd->get(), options.mode) != 0) return Error::from_errno("chmod " + tmp);
  if (auto st = file::fsync_fd(fd->get(), tmp); !st) return st;
  if (::rename(tmp.c_str(), target.c_str()) != 0) return Error::from_errno("rename " + tmp + " to " + target);
  cleanup.path.clear();
  return file::fsync_dir(file::dirname(target));
}

}  // namespace postilion::maps
