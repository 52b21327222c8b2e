// qmgr/fuzz_feedback.cc - libFuzzer target: arbitrary text as a
// *_destination_concurrency_positive/negative_feedback value. The parser must end,
// and anything it accepts is an amount from 0 to 1 that moves a window by at most 1.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "qmgr/scheduler.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace postilion;
  auto f = qmgr::parse_feedback(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!f) return 0;
  if (!(f->value >= 0 && f->value <= 1)) __builtin_trap();
  for (int window : {0, 1, 2, 1000})
    if (!(f->at(window) >= 0 && f->at(window) <= 1)) __builtin_trap();
  return 0;
}
