// lib/maps/fuzz_pattern_table.cc - fuzz target for the regexp:, pcre: and cidr: table
// parser. The input is parsed as each kind; a table that parses is looked up with
// keys taken from the input. Either a table or at least one "FILE:LINE:" error, never
// both, never a crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "lib/maps/pattern_table.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using postilion::maps::PatternKind;
  using postilion::maps::PatternTable;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  for (PatternKind kind : {PatternKind::Regexp, PatternKind::Pcre, PatternKind::Cidr}) {
    std::vector<std::string> errors;
    auto t = PatternTable::parse(in, kind, "fuzz", &errors);
    if (!t == errors.empty()) std::abort();
    for (const std::string& e : errors)
      if (!e.starts_with("fuzz:")) std::abort();
    if (!t) continue;
    std::string warning;
    // Keys: each line of the input, and a few fixed ones.
    size_t n = 0;
    for (size_t pos = 0; pos < in.size() && n < 64; ++n) {
      size_t nl = in.find('\n', pos);
      std::string_view line = in.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
      (void)t->lookup(line, &warning);
      pos = nl == std::string_view::npos ? in.size() : nl + 1;
    }
    for (const char* k : {"", "Subject: test", "127.0.0.1", "::1", "192.0.2.7"}) (void)t->lookup(k, &warning);
  }
  return 0;
}
