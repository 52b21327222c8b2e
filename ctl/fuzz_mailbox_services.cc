// ctl/fuzz_mailbox_services.cc - libFuzzer target for install's master.conf edit
// (mailbox_services_in_step): any text, with imapd, pop3d, both or neither installed.
// It may not crash; with no change reported the text comes back as it was; and a second
// pass over its own output changes nothing (install is safe to re-run).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "ctl/instance.h"

namespace {

const char* const kTemplate =
    "25      inet  n  -  n  -  -  smtpd\n"
    "143     inet  n  n  n  -  -  imapd\n"
    "993     inet  n  n  n  -  -  imapd -o imapd_tls_wrappermode=yes\n"
    "110     inet  n  n  n  -  -  pop3d\n"
    "qmgr    unix  -  -  n  60 1  qmgr\n";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  for (int mask = 0; mask < 4; ++mask) {
    auto installed = [mask](const std::string& p) {
      return (p == "imapd" && (mask & 1)) || (p == "pop3d" && (mask & 2));
    };
    std::vector<std::string> changes;
    std::string once = postilion::ctl::mailbox_services_in_step(text, kTemplate, installed, &changes);
    if (changes.empty() && once != text) std::abort();
    std::vector<std::string> again;
    std::string twice = postilion::ctl::mailbox_services_in_step(once, kTemplate, installed, &again);
    if (!again.empty() || twice != once) std::abort();
  }
  return 0;
}
