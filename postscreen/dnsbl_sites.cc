// postscreen/dnsbl_sites.cc - parsing postscreen_dnsbl_sites and scoring answers.
#include "postscreen/dnsbl_sites.h"

#include <charconv>

#include "lib/base/strings.h"
#include "lib/dns/dns.h"

namespace postilion::postscreen {

Parsed<DnsblSite> parse_dnsbl_site(std::string_view spec) {
  if (spec.size() > 512) return Parsed<DnsblSite>::bad("DNS list spec too long");
  DnsblSite s;
  std::string_view rest = spec;
  // The weight comes last: "*N" or "*-N". A filter never holds '*'.
  if (auto star = rest.rfind('*'); star != std::string_view::npos) {
    std::string_view w = rest.substr(star + 1);
    int v = 0;
    auto [p, ec] = std::from_chars(w.data(), w.data() + w.size(), v);
    if (w.empty() || ec != std::errc() || p != w.data() + w.size() || v < -kMaxWeight || v > kMaxWeight)
      return Parsed<DnsblSite>::bad("\"" + str::printable(spec, 80) + "\": bad weight \"" + str::printable(w, 20) + "\"");
    s.weight = v;
    rest = rest.substr(0, star);
  }
  s.text = std::string(rest);
  std::string_view domain = rest;
  if (auto eq = rest.find('='); eq != std::string_view::npos) {
    domain = rest.substr(0, eq);
    auto f = config::DnsblFilter::parse(rest.substr(eq + 1));
    if (!f) return Parsed<DnsblSite>::bad("\"" + str::printable(spec, 80) + "\": " + f.error());
    s.filter = std::move(*f);
  }
  auto n = dns::normalize_name(domain);
  if (domain.empty() || !n || n->empty())
    return Parsed<DnsblSite>::bad("\"" + str::printable(spec, 80) + "\": bad DNS list domain");
  s.domain = *n;
  return s;
}

Parsed<std::vector<DnsblSite>> parse_dnsbl_sites(std::string_view value) {
  std::vector<DnsblSite> out;
  for (const auto& item : str::split(value, ", \t\r\n")) {
    if (item.empty()) continue;
    if (out.size() >= kMaxSites)
      return Parsed<std::vector<DnsblSite>>::bad("more than " + std::to_string(kMaxSites) + " DNS lists");
    auto s = parse_dnsbl_site(item);
    if (!s) return Parsed<std::vector<DnsblSite>>::bad(s.error());
    out.push_back(std::move(*s));
  }
  return out;
}

bool site_lists(const DnsblSite& site, const std::vector<std::string>& a_records) {
  for (const auto& a : a_records) {
    if (!site.filter) {
      // Any address lists, as Postfix's default; a record that is not one does not.
      if (dns::reverse_name(a) && a.find(':') == std::string::npos) return true;
    } else if (site.filter->matches(a)) {
      return true;
    }
  }
  return false;
}

}  // namespace postilion::postscreen
