// lib/milter/fuzz_milter_list.cc - libFuzzer target: arbitrary bytes as a value of
// smtpd_milter_maps. A list that parses is DISABLE (empty) or at most kMaxMilterList
// filters, each one parse_spec takes and none empty or holding a separator.
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "lib/milter/session.h"

using namespace postilion::milter;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto r = parse_milter_list(in);
  if (!r) {
    if (r.error().temporary() || r.error().str().size() > 400) __builtin_trap();
    return 0;
  }
  if (r->size() > kMaxMilterList || in.size() > 4000) __builtin_trap();
  for (const auto& spec : *r) {
    if (spec.empty() || spec.find_first_of(" \t\r\n,") != std::string::npos) __builtin_trap();
    sockaddr_storage ss;
    socklen_t len = 0;
    std::string why;
    if (!parse_spec(spec, &ss, &len, &why)) __builtin_trap();
  }
  return 0;
}
