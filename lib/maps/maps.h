// lib/maps/maps.h - lookup tables for every daemon: one API over Berkeley DB hash
// files (compiled from text by build()) and the inline/static forms handy in tests.
//
// A spec is written as in main.conf:
//   hash:/etc/postilion/virtual      -> /etc/postilion/virtual.db (DB_HASH)
//   regexp:/etc/postilion/header_checks, pcre:/..., cidr:/...  -> text tables read
//                                       when opened (lib/maps/pattern_table.h)
//   inline:{key=value, key2={value, with commas}}
//   static:value                     -> every key maps to value (static:{a b} for spaces)
// Keys of hash and inline maps are case-insensitive (lowercased when built and when
// looked up); regexp and pcre patterns see the key as given (case folding is their i flag).
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/base/result.h"
#include "lib/maps/map_source.h"

namespace postilion::maps {

class Map {
 public:
  virtual ~Map() = default;
  // nullopt: no such key. Error: the table could not be read (the caller defers and
  // logs a warning). A hash map notices a rebuilt .db file (inode, size or mtime
  // changed) and reopens it before the lookup. Not thread-safe.
  virtual Result<std::optional<std::string>> lookup(std::string_view key) = 0;
  const std::string& spec() const { return spec_; }

 protected:
  explicit Map(std::string spec) : spec_(std::move(spec)) {}

 private:
  std::string spec_;
};

// Opens one map. Errors: a malformed or unknown spec (permanent), a regexp/pcre/cidr
// table with errors (permanent; one "FILE:LINE: text" per line, newline-separated), or
// a table that cannot be opened (temporary: missing file, EACCES, not a DB file).
Result<std::unique_ptr<Map>> open(std::string_view spec);

// A comma- or whitespace-separated list of maps (as in `alias_maps = hash:/a, hash:/b`),
// searched in order; the first match wins. An error from a map stops the search (the
// answer of a later map could be wrong), so the caller defers.
class MapList {
 public:
  MapList() = default;
  static Result<MapList> open(std::string_view specs);
  Result<std::optional<std::string>> lookup(std::string_view key);
  size_t size() const { return maps_.size(); }
  bool empty() const { return maps_.empty(); }

 private:
  std::vector<std::unique_ptr<Map>> maps_;
};

// Splits a list of specs on commas/whitespace outside {...}.
std::vector<std::string> split_specs(std::string_view specs);

struct BuildOptions {
  Syntax syntax = Syntax::Postmap;  // Aliases for newaliases
  mode_t mode = 0644;               // of FILE.db
};

// Compiles the text file `path` into `path.db`, atomically: a temporary DB beside it,
// fsync, rename, fsync of the directory, so a reader sees the old table or the new one,
// never half of one. Malformed lines fail the build (Error text: one "FILE:LINE: ..."
// per line, newline-separated; permanent) and leave the old .db alone. Duplicate keys are
// logged as warnings (and appended to *warnings when given); the first entry wins.
Status build(const std::string& path, const BuildOptions& options = {},
             std::vector<std::string>* warnings = nullptr);

}  // namespace postilion::maps
