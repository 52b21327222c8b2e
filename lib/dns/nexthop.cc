// lib/dns/nexthop.cc - MX ordering, null MX, implicit MX and loop pruning.
#include "lib/dns/nexthop.h"

#include <algorithm>

#include "lib/base/strings.h"

namespace postilion::dns {

void sort_mx(std::vector<MxRecord>& mx, std::mt19937& rng) {
  // Shuffle first, then a stable sort by preference: equal preferences keep the
  // random order, so load spreads across equal MX hosts (RFC 5321 5.1).
  std::shuffle(mx.begin(), mx.end(), rng);
  std::stable_sort(mx.begin(), mx.end(),
                   [](const MxRecord& a, const MxRecord& b) { return a.preference < b.preference; });
}

bool is_null_mx(const std::vector<MxRecord>& mx) {
  return mx.size() == 1 && mx[0].host.empty();
}

const char* plan_status_name(PlanStatus s) {
  switch (s) {
    case PlanStatus::Ok: return "ok";
    case PlanStatus::Perm: return "perm";
    case PlanStatus::Temp: break;
  }
  return "temp";
}

namespace {
Plan fail(PlanStatus s, std::string dsn, std::string text, Security sec = Security::Insecure) {
  Plan p;
  p.status = s;
  p.dsn = std::move(dsn);
  p.text = std::move(text);
  p.security = sec;
  return p;
}

std::string dns_error(std::string_view name, const char* type, const Answer& a) {
  std::string t = str::format("Host or domain name not found. Name service error for name=%s type=%s: ",
                              str::printable(name, 255).c_str(), type);
  if (a.outcome == Outcome::TempFail) {
    t += "Host not found, try again";
    if (!a.why.empty()) t += " (" + str::printable(a.why, 200) + ")";
  } else {
    t += "Host not found";
  }
  return t;
}
}  // namespace

MxStage plan_mx(std::string_view domain, const Answer& mx, std::mt19937& rng) {
  MxStage st;
  st.plan.security = mx.security;
  switch (mx.outcome) {
    case Outcome::TempFail:
      st.plan = fail(PlanStatus::Temp, "4.4.3", dns_error(domain, "MX", mx), mx.security);
      return st;
    case Outcome::NxDomain:
      st.plan = fail(PlanStatus::Perm, "5.4.4", dns_error(domain, "MX", mx), mx.security);
      return st;
    case Outcome::NoData: {
      // RFC 5321 5.1: no MX at all - the domain itself is the implicit MX, preference 0.
      st.implicit = true;
      st.hosts.push_back({0, std::string(domain)});
      st.plan.status = PlanStatus::Ok;
      return st;
    }
    case Outcome::Ok: break;
  }
  std::vector<MxRecord> records;
  for (const auto& rd : mx.rdata) {
    auto r = decode_mx(rd);
    if (!r) {
      // One bad record poisons nothing else; skip it like a missing one.
      continue;
    }
    records.push_back(std::move(*r));
  }
  if (is_null_mx(records)) {
    st.plan = fail(PlanStatus::Perm, "5.1.10",
                   str::format("Domain %s does not accept mail (nullMX)", str::printable(domain, 255).c_str()),
                   mx.security);
    return st;
  }
  // A root exchange among other records is meaningless (RFC 7505 3.3): drop it.
  std::erase_if(records, [](const MxRecord& r) { return r.host.empty(); });
  if (records.empty()) {
    st.plan = fail(PlanStatus::Perm, "5.4.4",
                   str::format("Host or domain name not found. Name service error for name=%s type=MX: "
                               "malformed or empty MX answer", str::printable(domain, 255).c_str()),
                   mx.security);
    return st;
  }
  sort_mx(records, rng);
  // Duplicate hosts: keep the first (best preference) occurrence.
  std::vector<MxRecord> unique;
  for (auto& r : records)
    if (std::none_of(unique.begin(), unique.end(), [&](const MxRecord& u) { return u.host == r.host; }))
      unique.push_back(std::move(r));
  if (unique.size() > kMaxMxHosts) unique.resize(kMaxMxHosts);
  st.hosts = std::move(unique);
  st.plan.status = PlanStatus::Ok;
  return st;
}

bool Identity::is_me(const std::string& host, const std::string& address) const {
  for (const auto& n : names)
    if (!host.empty() && str::iequals(n, host)) return true;
  for (const auto& a : addresses)
    if (!address.empty() && a == address) return true;
  return false;
}

Plan plan_hops(std::string_view domain, const std::vector<HostAnswers>& hosts, const Identity& me,
               Security mx_security) {
  // Our own best preference: any host that is us by name or by one of its addresses.
  int self_pref = -1;
  for (const auto& h : hosts) {
    bool mine = me.is_me(h.mx.host, "");
    for (const Answer* a : {&h.a, &h.aaaa}) {
      if (a->outcome != Outcome::Ok) continue;
      for (const auto& rd : a->rdata) {
        auto addr = a == &h.a ? decode_a(rd) : decode_aaaa(rd);
        if (addr && me.is_me("", *addr)) mine = true;
      }
    }
    if (mine && (self_pref < 0 || h.mx.preference < self_pref)) self_pref = h.mx.preference;
  }

  Plan p;
  p.security = mx_security;
  bool temp = false;
  std::string first_error;
  for (const auto& h : hosts) {
    if (self_pref >= 0 && h.mx.preference >= self_pref) continue;
    bool any = false;
    for (const Answer* a : {&h.a, &h.aaaa}) {
      if (a->outcome == Outcome::Ok) {
        for (const auto& rd : a->rdata) {
          auto addr = a == &h.a ? decode_a(rd) : decode_aaaa(rd);
          if (!addr) continue;
          p.hops.push_back({h.mx.host, *addr, h.mx.preference, a->security});
          any = true;
        }
      }
    }
    if (any) continue;
    const Answer& bad = h.a.outcome == Outcome::TempFail ? h.a : h.aaaa.outcome == Outcome::TempFail ? h.aaaa : h.a;
    if (bad.outcome == Outcome::TempFail) temp = true;
    if (first_error.empty())
      first_error = dns_error(h.mx.host, &bad == &h.aaaa ? "AAAA" : "A", bad);
  }
  if (!p.hops.empty()) {
    p.status = PlanStatus::Ok;
    return p;
  }
  if (self_pref >= 0)
    return fail(PlanStatus::Perm, "5.4.6",
                str::format("mail for %s loops back to myself", str::printable(domain, 255).c_str()),
                mx_security);
  if (temp) return fail(PlanStatus::Temp, "4.4.3", first_error, mx_security);
  return fail(PlanStatus::Perm, "5.4.4",
              first_error.empty() ? "Host or domain name not found" : first_error, mx_security);
}

}  // namespace postilion::dns
