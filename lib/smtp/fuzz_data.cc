// lib/smtp/fuzz_data.cc - libFuzzer target: arbitrary bytes as DATA content, fed
// whole and in small pieces; both must agree on content, error and where it ends.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "lib/smtp/data_reader.h"

using postilion::smtp::DataReader;

static size_t feed(std::string_view in, size_t step, std::string* out, DataReader* r) {
  size_t pos = 0;
  while (pos < in.size()) {
    size_t len = in.size() - pos < step ? in.size() - pos : step;
    size_t used = 0;
    auto st = r->feed(in.substr(pos, len), out, &used);
    if (used > len) __builtin_trap();
    pos += used;
    if (st == DataReader::Status::End) return pos;
    if (used != len) __builtin_trap();
  }
  return pos;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t step = size ? 1 + data[0] % 13 : 1;
  DataReader whole(4096), pieces(4096);
  std::string a, b;
  size_t end_a = feed(in, in.size() + 1, &a, &whole);
  size_t end_b = feed(in, step, &b, &pieces);
  if (end_a != end_b || a != b || whole.error() != pieces.error() ||
      whole.done() != pieces.done())
    __builtin_trap();
  // The end is only ever right after CRLF.CRLF, and clean content has only CRLF ends.
  if (whole.done() && (end_a < 3 || in.substr(end_a - 3, 3) != ".\r\n")) __builtin_trap();
  if (whole.error() == postilion::smtp::DataError::None) {
    for (size_t i = 0; i < a.size(); ++i) {
      if (a[i] == '\n' && (i == 0 || a[i - 1] != '\r')) __builtin_trap();
      if (a[i] == '\0') __builtin_trap();
    }
    if (a.size() > 4096) __builtin_trap();
  }
  return 0;
}
