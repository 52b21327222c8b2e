// lib/mailbox/fuzz_uidlist.cc - libFuzzer target: arbitrary bytes as dovecot-uidlist /
// courierimapuiddb and dovecot-keywords text.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "lib/mailbox/uidlist.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace postilion::mailbox;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (auto l = parse_uidlist(in)) {
    uint32_t last = 0;
    for (const auto& [uid, key] : l->entries) {
      // UIDs ascend below the next UID; keys are plain Maildir names.
      if (uid <= last || uid >= l->next_uid || key.empty() || key[0] == '.' ||
          key.find_first_of("/:\n") != std::string::npos)
        __builtin_trap();
      last = uid;
    }
  }
  auto k = parse_keywords(in);
  if (k.size() != 26 || parse_keywords(format_keywords(k)) != k) __builtin_trap();
  return 0;
}
