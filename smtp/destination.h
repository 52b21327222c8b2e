// smtp/destination.h - the next hop of a delivery request as qmgr writes it
// (lib/ipc/protocols.h: a domain, or [host]:port from relayhost / transport_maps):
//   example.tst            MX lookup for example.tst, default port
//   example.tst:2525       MX lookup, port 2525
//   [mx.ispa.tst]          no MX lookup: the addresses of mx.ispa.tst
//   [mx.ispa.tst]:587      the same on port 587
//   [127.0.2.1]:2525       an address literal, no DNS at all
//   [ipv6:::1]  [::1]:25   IPv6 literals
// A leading "transport:" (smtp:, relay:) as written in relayhost or a transport_maps
// value is accepted and dropped.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace postilion::smtp_client {

struct Destination {
  std::string host;      // lowercase domain/host name, or the address of a literal
  uint16_t port = 0;     // 0: the default (smtp_destination_port)
  bool mx = true;        // false: bracketed, no MX lookup
  bool literal = false;  // host is an IPv4/IPv6 address
  // "[host]:port" / "host" as written (for logs, connection cache keys, map lookups).
  std::string label() const;
};

// nullopt for anything malformed (bad port, empty host, bad characters).
std::optional<Destination> parse_destination(std::string_view nexthop);

}  // namespace postilion::smtp_client
