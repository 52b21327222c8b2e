// postscreen/dnsbl_sites.h - postscreen_dnsbl_sites: the DNS lists postscreen(8) asks
// about each new client, each with a reply filter and a weight, as Postfix writes them:
//   zen.spamhaus.org*3  bl.example=127.0.0.[2..11]*2  list.dnswl.example=127.0.[0..255].[1..3]*-2
// A site without *weight weighs 1; a negative weight makes it an allowlist. The
// combined score of a client is the sum of the weights of the sites that list it.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/base/parsed.h"
#include "lib/config/restrictions.h"

namespace postilion::postscreen {

struct DnsblSite {
  std::string domain;                         // lowercase, no trailing dot
  std::optional<config::DnsblFilter> filter;  // none: any A record lists
  int weight = 1;
  std::string text;                           // as written, without the weight ("bl.example=127.0.0.2")
};

inline constexpr size_t kMaxSites = 64;
inline constexpr int kMaxWeight = 1000000;

// One site spec; why when it is malformed (empty domain, bad filter, bad weight).
Parsed<DnsblSite> parse_dnsbl_site(std::string_view spec);
// The whole parameter value (items separated by commas and/or white space).
Parsed<std::vector<DnsblSite>> parse_dnsbl_sites(std::string_view value);

// Whether one answer (the A records of the query, dotted quads) lists the client on site.
bool site_lists(const DnsblSite& site, const std::vector<std::string>& a_records);

}  // namespace postilion::postscreen
