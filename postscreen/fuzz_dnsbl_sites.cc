// postscreen/fuzz_dnsbl_sites.cc - libFuzzer target for postscreen_dnsbl_sites values
// ("bl.example=127.0.0.[2..11]*2, wl.example*-3"): any text is taken or refused with a
// reason, never a crash; what is taken has at most kMaxSites sites with bounded weights,
// and scoring answers against it stays within bounds.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "lib/dns/dns.h"
#include "postscreen/dnsbl_sites.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace postilion::postscreen;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto sites = parse_dnsbl_sites(in);
  if (!sites) {
    if (sites.error().empty()) std::abort();
  } else {
    if (sites->size() > kMaxSites) std::abort();
    for (const auto& s : *sites) {
      if (s.domain.empty() || s.weight < -kMaxWeight || s.weight > kMaxWeight) std::abort();
      (void)site_lists(s, {"127.0.0.2", "127.0.0.11", "garbage", "", "::1"});
      (void)postilion::dns::dnsbl_query_name("192.0.2.7", s.domain);
    }
  }
  auto one = parse_dnsbl_site(in);
  if (!one && one.error().empty()) std::abort();
  (void)postilion::dns::dnsbl_query_name(in, "bl.example");
  return 0;
}
