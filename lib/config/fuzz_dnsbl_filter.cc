// lib/config/fuzz_dnsbl_filter.cc - libFuzzer target for DNSBL reply filters
// ("127.0.0.[2..11]"), alone and inside a restriction list. Either may be refused;
// neither may crash, an accepted filter keeps its text, and a filter without brackets
// (one address) matches that address.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "lib/config/restrictions.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace postilion::config;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto f = DnsblFilter::parse(in);
  if (f) {
    if (f->text() != in) std::abort();
    if (in.find('[') == std::string_view::npos && !f->matches(in)) std::abort();
    for (std::string_view a : {"127.0.0.2", "127.0.0.11", "0.0.0.0", "255.255.255.255", "", "1.2.3", "::1"})
      (void)f->matches(a);
    (void)f->matches(in);
  } else if (f.error().empty()) {
    std::abort();
  }
  // The same text as the argument of a DNS list in main.conf.
  std::string list = "permit_mynetworks, reject_rbl_client bl.example=" + std::string(in) + ", reject";
  auto steps = parse_restriction_list(list);
  if (!steps && steps.error().empty()) std::abort();
  return 0;
}
