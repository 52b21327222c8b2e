// qmgr/route.h - where a recipient goes: virtual alias rewriting, transport_maps
// overrides, then the address class of its domain as Postfix has it: local
// (mydestination -> local_transport), virtual mailbox (virtual_mailbox_domains ->
// virtual_transport), relay (relay_domains -> relay_transport), else default_transport;
// or an error. Pure logic: the tables are passed in as lookup functions, so the
// decisions are tested without files.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postilion::qmgr {

// A table lookup: key -> value, nullopt when absent. Lookup errors are the caller's
// business (it defers the whole message before routing).
using Lookup = std::function<std::optional<std::string>(std::string_view key)>;

struct RouteConfig {
  std::string myhostname = "localhost";
  std::vector<std::string> mydestination{"localhost"};
  std::vector<std::string> virtual_alias_domains;
  std::vector<std::string> virtual_mailbox_domains;
  std::vector<std::string> relay_domains;
  std::string local_transport = "local";
  // Each transport may carry a nexthop ("relay:[gw.example]"); "" = the class default:
  // virtual: the recipient domain; relay and default: relayhost, else the domain.
  std::string virtual_transport = "virtual";
  std::string virtual_nexthop;
  std::string relay_transport = "relay";
  std::string relay_nexthop;
  std::string default_transport = "smtp";
  std::string default_nexthop;
  std::string relayhost;           // "" = deliver by MX; else "[host]:port" or a domain
  Lookup transport_map;            // may be empty
  Lookup virtual_alias_map;        // may be empty
  Lookup virtual_mailbox_map;      // may be empty: then every address of the domains exists
  std::string recipient_delimiter; // user+ext: virtual tables are also searched for user@domain
  int max_alias_depth = 20;
  size_t max_expansion = 1000;
  // The nexthop of a content filter that names none (default_filter_nexthop); "" = the
  // recipient domain.
  std::string default_filter_nexthop;
};

struct Route {
  // Discard: accepted and dropped (transport_maps "discard:"), reported as sent.
  enum class Kind { Deliver, Bounce, Defer, Discard };
  Kind kind = Kind::Deliver;
  std::string address;    // the (possibly rewritten) recipient
  std::string transport;  // Deliver: e.g. "local", "smtp"
  std::string nexthop;    // Deliver: smtp domain or [host]:port; local ""
  std::string dsn;        // Bounce/Defer: X.Y.Z
  std::string reason;     // Bounce/Defer/Discard: human text
};

// Resolves one envelope recipient to one or more routes: more than one when virtual
// aliases expand it. Loops and over-deep or over-wide expansions bounce.
std::vector<Route> resolve(const RouteConfig& cfg, std::string_view recipient);

// A message with an after-queue content filter (its queue file's content_filter,
// "transport:nexthop" or "transport:") goes, every recipient of it, to that transport
// and nexthop instead of its own route, as Postfix's qmgr does with a FILTER record:
// no virtual alias expansion, no transport_maps, no address class; the mail comes back
// through the filter's re-injection listener and is routed then. An empty nexthop is
// default_filter_nexthop, else the recipient domain (an unqualified address gets
// myhostname, as resolve() does). A value that does not parse is a Defer: the message
// waits rather than going round its filter.
Route filter_route(const RouteConfig& cfg, std::string_view filter, std::string_view recipient);

// transport_maps value "transport:nexthop", "transport:", ":nexthop", "error:text" or
// "discard:text".
struct TransportEntry {
  std::string transport;
  std::string nexthop;
};
std::optional<TransportEntry> parse_transport_entry(std::string_view value);

}  // namespace postilion::qmgr
