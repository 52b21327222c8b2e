// local/fuzz_targets.cc - libFuzzer target: arbitrary bytes as an alias value, .forward
// or :include: file, and as a message whose Delivered-To lines are checked.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "lib/mail/address.h"
#include "local/expand.h"
#include "local/mbox.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace postilion;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> errors;
  for (const auto& t : local::parse_targets(in, &errors)) {
    // Every target is non-empty and free of line breaks (they end up in commands and paths).
    if (t.value.empty() || t.value.find_first_of("\r\n") != std::string::npos) __builtin_trap();
    if (t.kind == local::Target::Kind::Include && t.value[0] != '/') __builtin_trap();
  }
  (void)local::has_delivered_to(in, "user@example.org");
  // An mbox entry never holds a line starting with "From " except its first.
  std::string e = local::mbox_entry("a@b", 0, in);
  if (e.find("\nFrom ") != std::string::npos) __builtin_trap();
  return 0;
}
