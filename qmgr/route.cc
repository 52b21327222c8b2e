// qmgr/route.cc - recipient resolution for the queue manager.
#include "qmgr/route.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "lib/base/strings.h"
#include "lib/mail/address.h"

namespace postilion::qmgr {
namespace {

Route bounce(std::string address, const char* dsn, std::string reason) {
  Route r;
  r.kind = Route::Kind::Bounce;
  r.address = std::move(address);
  r.dsn = dsn;
  r.reason = std::move(reason);
  return r;
}

// transport_maps: the full address, then the domain, then each parent ".domain".
std::optional<std::string> lookup_transport(const RouteConfig& cfg, const std::string& address,
                                            const std::string& domain) {
  if (!cfg.transport_map) return std::nullopt;
  if (auto v = cfg.transport_map(address)) return v;
  if (auto v = cfg.transport_map(domain)) return v;
  for (size_t dot = domain.find('.'); dot != std::string::npos; dot = domain.find('.', dot + 1))
    if (auto v = cfg.transport_map(domain.substr(dot))) return v;
  return std::nullopt;
}

// Each address of a virtual alias value with the extension (delimiter included) added
// to its local part; an address that has no local part or already has the extension
// after its local part stays as it is.
std::string with_extension(std::string_view value, std::string_view extension) {
  std::string out;
  for (const auto& t : str::split(value, ", \t")) {
    auto a = mail::parse_address(t);
    std::string target = t;
    if (a && !a->local.empty() && !a->local.ends_with(extension)) {
      a->local += extension;
      target = a->str();
    }
    if (!out.empty()) out += ", ";
    out += target;
  }
  return out;
}

enum class AddressClass { Local, Virtual, Relay, Default };

AddressClass address_class(const RouteConfig& cfg, const std::string& domain) {
  if (mail::domain_in(domain, cfg.mydestination)) return AddressClass::Local;
  if (mail::domain_in(domain, cfg.virtual_mailbox_domains)) return AddressClass::Virtual;
  if (mail::domain_in(domain, cfg.relay_domains)) return AddressClass::Relay;
  return AddressClass::Default;
}

// The class's transport and nexthop, in Postfix's order of precedence: the nexthop
// written in the *_transport parameter, then relayhost (relay and default classes),
// then the recipient domain.
TransportEntry class_route(const RouteConfig& cfg, AddressClass c, const std::string& domain) {
  auto hop = [&](const std::string& own, bool use_relayhost) {
    if (!own.empty()) return own;
    if (use_relayhost && !cfg.relayhost.empty()) return cfg.relayhost;
    return domain;
  };
  switch (c) {
    case AddressClass::Local: return {cfg.local_transport, ""};
    case AddressClass::Virtual: return {cfg.virtual_transport, hop(cfg.virtual_nexthop, false)};
    case AddressClass::Relay: return {cfg.relay_transport, hop(cfg.relay_nexthop, true)};
    case AddressClass::Default: break;
  }
  return {cfg.default_transport, hop(cfg.default_nexthop, true)};
}

Route route_one(const RouteConfig& cfg, const mail::Address& a) {
  std::string address = a.str();
  AddressClass cls = address_class(cfg, a.domain);
  // A virtual mailbox domain has only the addresses its table lists (the full address,
  // or an "@domain" catch-all); the rest bounce here, as Postfix's resolver does.
  if (cls == AddressClass::Virtual && cfg.virtual_mailbox_map) {
    const auto keys = mail::virtual_lookup_keys(address, cfg.recipient_delimiter);
    if (std::none_of(keys.begin(), keys.end(), [&](const std::string& k) { return cfg.virtual_mailbox_map(k).has_value(); }))
      return bounce(address, "5.1.1", "user unknown in virtual mailbox table");
  }
  TransportEntry dflt = class_route(cfg, cls, a.domain);
  if (auto t = lookup_transport(cfg, address, a.domain)) {
    auto e = parse_transport_entry(*t);
    if (!e) return bounce(address, "5.3.5", "bad transport_maps entry: " + str::printable(*t, 100));
    if (e->transport == "error") return bounce(address, "5.0.0", e->nexthop.empty() ? "mail for this address is refused" : e->nexthop);
    if (e->transport == "discard") {
      Route d;
      d.kind = Route::Kind::Discard;
      d.address = address;
      d.dsn = "2.0.0";
      d.reason = e->nexthop.empty() ? a.domain : e->nexthop;
      return d;
    }
    Route r;
    r.address = address;
    // ":nexthop" keeps the class's transport; "transport:" keeps the class's nexthop
    // when the transport is the class's own, else the domain (local: none).
    r.transport = e->transport.empty() ? dflt.transport : e->transport;
    if (!e->nexthop.empty()) r.nexthop = e->nexthop;
    else if (r.transport == cfg.local_transport) r.nexthop = "";
    else r.nexthop = a.domain;
    return r;
  }
  Route r;
  r.address = address;
  r.transport = dflt.transport;
  r.nexthop = dflt.nexthop;
  return r;
}

void expand(const RouteConfig& cfg, const std::string& recipient, int depth,
            std::set<std::string>& seen, std::vector<Route>& out) {
  auto parsed = mail::parse_address(recipient);
  if (!parsed || parsed->local.empty()) {
    out.push_back(bounce(recipient, "5.1.3", "bad address syntax"));
    return;
  }
  mail::Address a = *parsed;
  if (a.domain.empty()) a.domain = str::lower(cfg.myhostname);
  std::string address = a.str();
  if (out.size() >= cfg.max_expansion) {
    out.push_back(bounce(address, "5.7.0", "virtual alias expansion too large"));
    return;
  }
  bool virtual_domain = mail::domain_in(a.domain, cfg.virtual_alias_domains);
  std::optional<std::string> alias;
  // Matched as user@domain for user+ext@domain: the extension goes on to the targets
  // (Postfix's propagate_unmatched_extensions), so user+ext@domain -> bob+ext@example.org.
  std::string extension;
  if (cfg.virtual_alias_map) {
    const auto keys = mail::virtual_lookup_keys(address, cfg.recipient_delimiter);
    for (size_t i = 0; i < keys.size() && !alias; ++i) {
      alias = cfg.virtual_alias_map(keys[i]);
      if (alias && i == 1 && keys.size() == 3) {
        auto parts = mail::split_extension(a.local, cfg.recipient_delimiter);
        extension = std::string(1, parts.delimiter) + parts.extension;
      }
    }
  }
  if (alias && !extension.empty()) alias = with_extension(*alias, extension);
  // An alias that names itself ends the expansion (a catch-all keeping the original).
  if (alias && !(alias && str::iequals(str::trim(*alias), address))) {
    if (depth >= cfg.max_alias_depth) {
      out.push_back(bounce(address, "5.4.6", "virtual alias expansion too deep"));
      return;
    }
    if (!seen.insert(str::lower(address)).second) {
      out.push_back(bounce(address, "5.4.6", "virtual alias loop"));
      return;
    }
    auto targets = str::split(*alias, ", \t");
    if (targets.empty()) out.push_back(bounce(address, "5.1.1", "virtual alias with no targets"));
    for (const auto& t : targets) expand(cfg, t, depth + 1, seen, out);
    seen.erase(str::lower(address));
    return;
  }
  if (virtual_domain) {
    out.push_back(bounce(address, "5.1.1", "user unknown in virtual alias table"));
    return;
  }
  out.push_back(route_one(cfg, a));
}

}  // namespace

std::optional<TransportEntry> parse_transport_entry(std::string_view value) {
  value = str::trim(value);
  size_t colon = value.find(':');
  TransportEntry e;
  if (colon == std::string_view::npos) {
    e.transport = std::string(value);
  } else {
    e.transport = std::string(str::trim(value.substr(0, colon)));
    e.nexthop = std::string(str::trim(value.substr(colon + 1)));
  }
  for (char c : e.transport)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) return std::nullopt;
  for (unsigned char c : e.nexthop)
    if (c < 0x20 || c == 0x7f) return std::nullopt;
  if (e.transport.empty() && e.nexthop.empty()) return std::nullopt;
  return e;
}

Route filter_route(const RouteConfig& cfg, std::string_view filter, std::string_view recipient) {
  Route r;
  auto e = filter.find(':') == std::string_view::npos ? std::nullopt : parse_transport_entry(filter);
  if (!e || e->transport.empty() || e->transport == "error" || e->transport == "discard") {
    r.kind = Route::Kind::Defer;
    r.address = std::string(recipient);
    r.dsn = "4.3.5";
    r.reason = "bad content filter: " + str::printable(filter, 100);
    return r;
  }
  auto a = mail::parse_address(recipient);
  std::string domain;
  r.address = std::string(recipient);
  if (a && !a->local.empty()) {
    if (a->domain.empty()) a->domain = str::lower(cfg.myhostname);
    r.address = a->str();
    domain = a->domain;
  }
  r.transport = e->transport;
  r.nexthop = !e->nexthop.empty() ? e->nexthop : !cfg.default_filter_nexthop.empty() ? cfg.default_filter_nexthop : domain;
  return r;
}

std::vector<Route> resolve(const RouteConfig& cfg, std::string_view recipient) {
  std::vector<Route> out;
  std::set<std::string> seen;
  expand(cfg, std::string(recipient), 0, seen, out);
  return out;
}

}  // namespace postilion::qmgr
