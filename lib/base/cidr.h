// lib/base/cidr.h - one IPv4 or IPv6 network ("127.0.0.0/8", "[::1]/128", "192.0.2.7")
// and lists of them, as in mynetworks and the connection limit exceptions.
// Parsing is strict: a malformed network is no value, never a network matching all.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/base/parsed.h"

namespace postilion {

struct Cidr {
  int family = 0;
  unsigned char addr[16] = {};
  int bits = 0;
  static std::optional<Cidr> parse(std::string_view text);
  // ip_text: an address as inet_ntop writes it; anything else is contained in nothing.
  bool contains(std::string_view ip_text) const;
};

// Every entry of a list parameter; nullopt and *bad = the first malformed entry.
Parsed<std::vector<Cidr>> parse_cidr_list(const std::vector<std::string>& items);
bool cidr_list_contains(const std::vector<Cidr>& list, std::string_view ip_text);

}  // namespace postilion
