// lib/maps/fuzz_map_source.cc - fuzz target for the text lookup table parser, both
// syntaxes. Every entry it yields must be well-formed: a non-empty lowercase key
// without whitespace, a value without control characters, within the line limit.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "lib/maps/map_source.h"

namespace {

void check(const postilion::maps::MapSource& s) {
  for (const auto& e : s.entries) {
    if (e.key.empty() || e.line == 0 || e.value.size() > postilion::maps::kMaxLineLength) std::abort();
    for (char c : e.key)
      if (c == ' ' || c == '\t' || (c >= 'A' && c <= 'Z') || static_cast<unsigned char>(c) < 0x20) std::abort();
    for (char c : e.value)
      if (static_cast<unsigned char>(c) < 0x20 && c != '\t') std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  check(postilion::maps::parse_map_source(in, postilion::maps::Syntax::Postmap, "fuzz"));
  check(postilion::maps::parse_map_source(in, postilion::maps::Syntax::Aliases, "fuzz"));
  return 0;
}
