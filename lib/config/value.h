// lib/config/value.h - parsing and checking the typed values of main.conf.
// Internal to lib/config (and its tests).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "lib/config/config.h"

namespace postilion::config {

std::optional<int64_t> parse_int_value(std::string_view v);
std::optional<bool> parse_bool_value(std::string_view v);
// "300", "300s", "5m", "1h", "5d", "1w" -> seconds.
std::optional<int64_t> parse_time_value(std::string_view v);
// "10240000", "10k", "10m", "1g" -> bytes (1024-based).
std::optional<uint64_t> parse_size_value(std::string_view v);
// "" when v is a good value of type t, else what is expected.
std::string check_value(Type t, std::string_view v);

// $name expansion over explicit values and defaults.
struct Expander {
  const std::map<std::string, std::string, std::less<>>& values_;
  std::string expand(std::string_view text, int depth) const;
  std::string lookup(const std::string& name, int depth) const;
};

}  // namespace postilion::config
