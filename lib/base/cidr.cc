// lib/base/cidr.cc - IPv4/IPv6 networks: parsing and membership.
#include "lib/base/cidr.h"

#include <arpa/inet.h>

#include <cstring>

#include "lib/base/strings.h"

namespace postilion {

std::optional<Cidr> Cidr::parse(std::string_view text) {
  std::string t(str::trim(text));
  int bits = -1;
  size_t slash = t.find('/');
  if (slash != std::string::npos) {
    auto b = str::parse_uint(std::string_view(t).substr(slash + 1));
    if (!b) return std::nullopt;
    bits = static_cast<int>(*b);
    t = t.substr(0, slash);
  }
  if (t.size() >= 2 && t.front() == '[' && t.back() == ']') t = t.substr(1, t.size() - 2);
  Cidr c;
  if (inet_pton(AF_INET, t.c_str(), c.addr) == 1) {
    c.family = AF_INET;
    c.bits = bits < 0 ? 32 : bits;
    if (c.bits > 32) return std::nullopt;
  } else if (inet_pton(AF_INET6, t.c_str(), c.addr) == 1) {
    c.family = AF_INET6;
    c.bits = bits < 0 ? 128 : bits;
    if (c.bits > 128) return std::nullopt;
  } else {
    return std::nullopt;
  }
  return c;
}

bool Cidr::contains(std::string_view ip_text) const {
  std::string ip(ip_text);
  unsigned char a[16];
  int fam = inet_pton(AF_INET, ip.c_str(), a) == 1 ? AF_INET
            : inet_pton(AF_INET6, ip.c_str(), a) == 1 ? AF_INET6 : 0;
  if (fam != family) return false;
  int full = bits / 8, rest = bits % 8;
  if (std::memcmp(a, addr, full) != 0) return false;
  if (rest == 0) return true;
  unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (a[full] & mask) == (addr[full] & mask);
}

Parsed<std::vector<Cidr>> parse_cidr_list(const std::vector<std::string>& items) {
  std::vector<Cidr> out;
  for (const auto& i : items) {
    auto c = Cidr::parse(i);
    if (!c) return Parsed<std::vector<Cidr>>::bad(i);
    out.push_back(*c);
  }
  return out;
}

bool cidr_list_contains(const std::vector<Cidr>& list, std::string_view ip_text) {
  for (const auto& c : list)
    if (c.contains(ip_text)) return true;
  return false;
}

}  // namespace postilion
