// smtp/destination.cc - next-hop parsing.
#include "smtp/destination.h"

#include <arpa/inet.h>

#include "lib/base/strings.h"
#include "lib/dns/dns.h"

namespace postilion::smtp_client {

std::string Destination::label() const {
  std::string h = literal && host.find(':') != std::string::npos ? "ipv6:" + host : host;
  std::string s = mx ? h : "[" + h + "]";
  if (port) s += ":" + std::to_string(port);
  return s;
}

std::optional<Destination> parse_destination(std::string_view in) {
  std::string_view s = str::trim(in);
  // Optional "smtp:" / "relay:" transport prefix (not for "[...": brackets come first).
  if (!s.empty() && s[0] != '[') {
    size_t colon = s.find(':');
    if (colon != std::string_view::npos) {
      std::string_view t = s.substr(0, colon);
      if (t == "smtp" || t == "relay" || t == "lmtp") s = s.substr(colon + 1);
    }
  }
  Destination d;
  std::string_view host, port;
  if (!s.empty() && s[0] == '[') {
    size_t close = s.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = s.substr(1, close - 1);
    std::string_view rest = s.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return std::nullopt;
      port = rest.substr(1);
      if (port.empty()) return std::nullopt;
    }
    d.mx = false;
  } else {
    size_t colon = s.rfind(':');
    if (colon != std::string_view::npos) {
      host = s.substr(0, colon);
      port = s.substr(colon + 1);
      if (port.empty()) return std::nullopt;
    } else {
      host = s;
    }
  }
  if (!port.empty()) {
    if (port == "smtp") {
      d.port = 25;
    } else if (port == "submission") {
      d.port = 587;
    } else {
      auto p = str::parse_uint(port);
      if (!p || *p == 0 || *p > 65535) return std::nullopt;
      d.port = static_cast<uint16_t>(*p);
    }
  }
  if (host.empty()) return std::nullopt;
  std::string h(host);
  if (!d.mx && str::istarts_with(h, "ipv6:")) h = h.substr(5);
  in6_addr buf;
  if (!d.mx && (inet_pton(AF_INET, h.c_str(), &buf) == 1 || inet_pton(AF_INET6, h.c_str(), &buf) == 1)) {
    d.literal = true;
    d.host = h;
    return d;
  }
  auto n = dns::normalize_name(h);
  if (!n) return std::nullopt;
  // An unbracketed all-numeric "host" is a typo of a literal, not a domain.
  if (d.mx && n->find_first_not_of("0123456789.") == std::string::npos) return std::nullopt;
  d.host = *n;
  return d;
}

}  // namespace postilion::smtp_client
