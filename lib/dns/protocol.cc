// lib/dns/protocol.cc - private/resolver message encoders and strict decoders.
#include "lib/dns/protocol.h"

#include "lib/base/strings.h"

namespace postilion::dns::proto {

ipc::Message nexthops_request(std::string_view domain, bool mx) {
  ipc::Message m;
  m.set("cmd", "nexthops").set("domain", std::string(domain)).set("mx", mx ? "yes" : "no");
  return m;
}

ipc::Message query_request(std::string_view name, RrType type) {
  ipc::Message m;
  m.set("cmd", "query").set("name", std::string(name)).set("type", rrtype_name(type));
  return m;
}

ipc::Message encode_plan(const Plan& p) {
  ipc::Message m;
  m.set("status", plan_status_name(p.status));
  if (p.status != PlanStatus::Ok) m.set("dsn", p.dsn).set("text", p.text);
  m.set("secure", security_name(p.security));
  for (const auto& h : p.hops) {
    m.set("host", h.host).set("addr", h.address).set("pref", int64_t(h.preference));
    m.set("hsecure", security_name(h.security));
  }
  return m;
}

namespace {
bool dsn_ok(std::string_view d, char cls) {
  auto parts = str::split_exact(d, '.');
  if (parts.size() != 3 || parts[0].size() != 1 || parts[0][0] != cls) return false;
  for (const auto& p : parts)
    if (p.empty() || p.size() > 3 || !str::parse_uint(p)) return false;
  return true;
}
}  // namespace

Parsed<Plan> decode_plan(const ipc::Message& m) {
  Plan p;
  auto st = m.get("status");
  if (!st) return Parsed<Plan>::bad("missing status");
  if (*st == "ok") p.status = PlanStatus::Ok;
  else if (*st == "temp") p.status = PlanStatus::Temp;
  else if (*st == "perm") p.status = PlanStatus::Perm;
  else return Parsed<Plan>::bad("bad status " + str::printable(*st, 40));
  auto sec = parse_security(m.get_or("secure", ""));
  if (!sec) return Parsed<Plan>::bad("bad secure attribute");
  p.security = *sec;
  if (p.status != PlanStatus::Ok) {
    p.dsn = m.get_or("dsn", "");
    p.text = str::printable(m.get_or("text", ""), 500);
    if (!dsn_ok(p.dsn, p.status == PlanStatus::Perm ? '5' : '4'))
      return Parsed<Plan>::bad("bad dsn " + str::printable(p.dsn, 40));
  }
  auto hosts = m.get_all("host"), addrs = m.get_all("addr"), prefs = m.get_all("pref"),
       secs = m.get_all("hsecure");
  if (hosts.size() != addrs.size() || hosts.size() != prefs.size() || hosts.size() != secs.size())
    return Parsed<Plan>::bad("hop attributes do not pair up");
  if (hosts.size() > kMaxHops) return Parsed<Plan>::bad("too many hops");
  if (p.status == PlanStatus::Ok && hosts.empty()) return Parsed<Plan>::bad("ok without hops");
  for (size_t i = 0; i < hosts.size(); ++i) {
    NextHop h;
    auto host = normalize_name(hosts[i]);
    auto pref = str::parse_uint(prefs[i]);
    auto hs = parse_security(secs[i]);
    if (!host || !pref || *pref > 65535 || !hs) return Parsed<Plan>::bad("bad hop " + std::to_string(i));
    std::string addr(addrs[i]);
    // Only an address in presentation form: it goes to inet_pton later, and logs.
    if (addr.empty() || addr.size() > 45 ||
        addr.find_first_not_of("0123456789abcdefABCDEF.:") != std::string::npos)
      return Parsed<Plan>::bad("bad hop address " + str::printable(addr, 60));
    h.host = *host;
    h.address = addr;
    h.preference = static_cast<int>(*pref);
    h.security = *hs;
    p.hops.push_back(std::move(h));
  }
  return p;
}

ipc::Message encode_query_reply(const QueryReply& r) {
  ipc::Message m;
  m.set("status", outcome_name(r.outcome)).set("secure", security_name(r.security));
  m.set("ttl", int64_t(r.ttl));
  if (!r.canonical.empty()) m.set("canon", r.canonical);
  if (!r.text.empty()) m.set("text", r.text);
  for (const auto& rr : r.records) m.set("rr", rr);
  return m;
}

Parsed<QueryReply> decode_query_reply(const ipc::Message& m) {
  QueryReply r;
  auto o = parse_outcome(m.get_or("status", ""));
  if (!o) return Parsed<QueryReply>::bad("bad status");
  auto s = parse_security(m.get_or("secure", ""));
  if (!s) return Parsed<QueryReply>::bad("bad secure attribute");
  auto ttl = m.get_int("ttl");
  if (!ttl || *ttl < 0 || *ttl > 0x7fffffff) return Parsed<QueryReply>::bad("bad ttl");
  r.outcome = *o;
  r.security = *s;
  r.ttl = static_cast<uint32_t>(*ttl);
  r.canonical = m.get_or("canon", "");
  r.text = str::printable(m.get_or("text", ""), 500);
  auto rrs = m.get_all("rr");
  if (rrs.size() > kMaxRecords) return Parsed<QueryReply>::bad("too many records");
  if (r.outcome == Outcome::Ok && rrs.empty()) return Parsed<QueryReply>::bad("ok without records");
  for (auto v : rrs) r.records.emplace_back(v);
  return r;
}

const char* client_name_status(ClientName::Status s) {
  switch (s) {
    case ClientName::Status::Ok: return "ok";
    case ClientName::Status::Unconfirmed: return "unconfirmed";
    case ClientName::Status::NoData: return "nodata";
    case ClientName::Status::NxDomain: return "nxdomain";
    case ClientName::Status::TempFail: break;
  }
  return "temp";
}

ipc::Message ptr_request(std::string_view ip) {
  ipc::Message m;
  m.set("cmd", "ptr").set("addr", std::string(ip));
  return m;
}

ipc::Message encode_client_name(const ClientName& c) {
  ipc::Message m;
  m.set("status", client_name_status(c.status));
  if (!c.name.empty()) m.set("name", c.name);
  if (!c.text.empty()) m.set("text", c.text);
  return m;
}

Parsed<ClientName> decode_client_name(const ipc::Message& m) {
  ClientName c;
  std::string st = m.get_or("status", "");
  bool found = false;
  for (auto s : {ClientName::Status::Ok, ClientName::Status::Unconfirmed, ClientName::Status::NoData,
                 ClientName::Status::NxDomain, ClientName::Status::TempFail})
    if (st == client_name_status(s)) c.status = s, found = true;
  if (!found) return Parsed<ClientName>::bad("bad status " + str::printable(st, 40));
  if (c.status == ClientName::Status::Ok || c.status == ClientName::Status::Unconfirmed) {
    // The name goes into logs and the Received: header: host name syntax only.
    auto n = normalize_name(m.get_or("name", ""));
    if (!n) return Parsed<ClientName>::bad("bad name " + str::printable(m.get_or("name", ""), 60));
    c.name = *n;
  }
  c.text = str::printable(m.get_or("text", ""), 200);
  return c;
}

}  // namespace postilion::dns::proto
