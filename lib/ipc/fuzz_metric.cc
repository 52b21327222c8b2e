// lib/ipc/fuzz_metric.cc - libFuzzer target for metrics(8)'s event handling: an
// attribute body from a publisher on private/metrics through the schema check, the
// table and the exposition text.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "lib/ipc/message.h"
#include "lib/ipc/metrics.h"

using namespace postilion;
using namespace postilion::ipc;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto m = Message::decode_body(in);
  if (!m) return 0;
  auto e = parse_metric(*m);
  if (!e) {
    if (e.error().empty()) __builtin_trap();  // a refusal always says why
    return 0;
  }
  auto again = parse_metric(encode_metric(*e));
  if (!again || again->name != e->name || again->labels != e->labels) __builtin_trap();
  MetricsTable t;
  if (!t.apply(1, *e) || !t.apply(2, *e)) __builtin_trap();
  std::string text = t.render();
  // Every line is a comment or "series value"; nothing a publisher sent breaks a line.
  size_t lines = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) __builtin_trap();
    std::string_view line(text.data() + pos, eol - pos);
    if (line.empty() || (line[0] != '#' && line.find(' ') == std::string_view::npos)) __builtin_trap();
    if (line.find('"') != std::string_view::npos && line.find("=\"") == std::string_view::npos) __builtin_trap();
    ++lines;
    pos = eol + 1;
  }
  if (lines < 3) __builtin_trap();
  t.drop_link(1);
  t.drop_link(2);
  (void)t.render();
  return 0;
}
