// lib/config/value.cc - typed values of main.conf.
#include "lib/config/value.h"

#include <cctype>
#include <limits>

#include "lib/base/strings.h"
#include "lib/config/restrictions.h"

namespace postilion::config {

std::vector<LogicalLine> logical_lines(std::string_view text, const std::string& filename, const char* what) {
  std::vector<LogicalLine> logical;
  int lineno = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::string_view t = str::trim(line);
    if (t.empty() || t[0] == '#') continue;
    if (line.find('\0') != std::string_view::npos)
      throw ConfigError(filename + ":" + std::to_string(lineno) + ": NUL byte in line");
    if (std::isspace(static_cast<unsigned char>(line[0]))) {
      if (logical.empty())
        throw ConfigError(filename + ":" + std::to_string(lineno) + ": continuation line without " + what +
                          " before it");
      logical.back().text += ' ';
      logical.back().text += t;
      continue;
    }
    logical.push_back({std::string(t), lineno});
  }
  return logical;
}

std::optional<int64_t> parse_int_value(std::string_view v) { return str::parse_int(v); }

std::optional<bool> parse_bool_value(std::string_view v) {
  if (str::iequals(v, "yes") || str::iequals(v, "true")) return true;
  if (str::iequals(v, "no") || str::iequals(v, "false")) return false;
  return std::nullopt;
}

namespace {
template <class T>
std::optional<T> with_unit(std::string_view v, int64_t (*unit)(char)) {
  if (v.empty()) return std::nullopt;
  int64_t mult = 1;
  char last = static_cast<char>(std::tolower(static_cast<unsigned char>(v.back())));
  if (!std::isdigit(static_cast<unsigned char>(last))) {
    mult = unit(last);
    if (mult == 0) return std::nullopt;
    v.remove_suffix(1);
  }
  auto n = str::parse_uint(v);
  if (!n) return std::nullopt;
  if (*n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max() / mult)) return std::nullopt;
  return static_cast<T>(*n * static_cast<uint64_t>(mult));
}
}  // namespace

std::optional<int64_t> parse_time_value(std::string_view v) {
  return with_unit<int64_t>(v, [](char c) -> int64_t {
    switch (c) {
      case 's': return 1;
      case 'm': return 60;
      case 'h': return 3600;
      case 'd': return 86400;
      case 'w': return 7 * 86400;
      default: return 0;
    }
  });
}

std::optional<uint64_t> parse_size_value(std::string_view v) {
  return with_unit<uint64_t>(v, [](char c) -> int64_t {
    switch (c) {
      case 'k': return 1024;
      case 'm': return 1024 * 1024;
      case 'g': return 1024 * 1024 * 1024;
      default: return 0;
    }
  });
}

std::string check_value(Type t, std::string_view v) {
  switch (t) {
    case Type::String:
    case Type::List:
      return "";
    case Type::Restrictions: {
      auto steps = parse_restriction_list(v);
      return steps ? "" : steps.error();
    }
    case Type::Int:
      return parse_int_value(v) ? "" : "expected an integer like 100";
    case Type::Bool:
      return parse_bool_value(v) ? "" : "expected yes or no";
    case Type::Time:
      return parse_time_value(v) ? "" : "expected a time like 300s, 5m, 1h or 5d";
    case Type::Size:
      return parse_size_value(v) ? "" : "expected a size like 10240000 or 10m";
  }
  return "";
}

}  // namespace postilion::config
