// lib/mail/fuzz_mime.cc - libFuzzer target: arbitrary bytes as a message, through the
// MIME parser and every decoder a part's body and header values go through.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "lib/mail/encoding.h"
#include "lib/mail/mime.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace postilion::mail;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  MimeTree t = parse_mime(in, MimeLimits{.max_depth = 20, .max_parts = 500});
  if (t.parts.empty() || t.parts.size() > 500) __builtin_trap();
  for (const MimePart& p : t.parts) {
    if (p.header_start > p.body_start || p.body_start > p.end || p.end > in.size()) __builtin_trap();
    for (size_t c : p.children) {
      const MimePart& k = t.parts[c];
      // A child lies inside its parent's body.
      if (k.header_start < p.body_start || k.end > p.end) __builtin_trap();
    }
    std::string_view body = in.substr(p.body_start, p.end - p.body_start);
    (void)decode_transfer(body, p.encoding);
    for (const auto& prm : p.params) (void)prm.utf8();
    if (p.description) (void)decode_rfc2047(*p.description);
  }
  (void)decode_rfc2047(in.substr(0, 4096));
  return 0;
}
