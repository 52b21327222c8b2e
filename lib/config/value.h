// lib/config/value.h - parsing and checking the typed values of main.conf.
// Internal to lib/config (and its tests).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/config/config.h"

namespace postilion::config {

// One logical line of main.conf or master.conf: a line starting with whitespace
// continues the one before (joined with one space); blank lines and # comments are
// skipped; a trailing CR is dropped. Throws ConfigError (file:line) on a NUL byte or a
// continuation with nothing before it (`what`: "a parameter", "a service").
struct LogicalLine {
  std::string text;
  int line = 0;
};
std::vector<LogicalLine> logical_lines(std::string_view text, const std::string& filename, const char* what);

std::optional<int64_t> parse_int_value(std::string_view v);
std::optional<bool> parse_bool_value(std::string_view v);
// "300", "300s", "5m", "1h", "5d", "1w" -> seconds.
std::optional<int64_t> parse_time_value(std::string_view v);
// "10240000", "10k", "10m", "1g" -> bytes (1024-based).
std::optional<uint64_t> parse_size_value(std::string_view v);
// "" when v is a good value of type t, else what is expected.
std::string check_value(Type t, std::string_view v);

// $name expansion over explicit values and defaults. Each parameter is expanded at
// most once (memoized), so a chain of parameters that each name the next twice costs
// linear work, and the total output is bounded: a hostile main.conf fails with an
// error instead of taking time or memory without end.
class Expander {
 public:
  static constexpr size_t kMaxExpandedBytes = 64u << 20;  // all values together
  static constexpr int kMaxNesting = 32;                   // ${a?${b?...}} depth
  explicit Expander(const std::map<std::string, std::string, std::less<>>& values)
      : values_(values), budget_(kMaxExpandedBytes) {}
  // Expands text; throws ConfigError (without file:line) on an unknown name, a loop,
  // a missing '}' or an expansion past the limits.
  std::string expand(std::string_view text);
  // The expanded value of parameter name (explicit, else its default).
  const std::string& lookup(const std::string& name);

 private:
  std::string expand_at(std::string_view text, int nesting);
  void charge(size_t n);

  const std::map<std::string, std::string, std::less<>>& values_;
  std::map<std::string, std::string, std::less<>> done_;  // name -> expanded value
  std::vector<std::string> stack_;                         // names being expanded
  size_t budget_;                                          // bytes still allowed
};

// The host's fully qualified name, computed once per process (see config.h).
const std::string& host_fqdn();

}  // namespace postilion::config
