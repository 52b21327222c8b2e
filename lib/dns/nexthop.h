// lib/dns/nexthop.h - from DNS answers to the ordered list of next hops for a mail
// domain: MX sorted by preference with equal preferences shuffled, implicit MX when
// there is none (RFC 5321 5.1), null MX refused (RFC 7505), A/AAAA per host, and MX
// lists that lead back to this host pruned (hosts with preference >= our own are
// dropped, as Postfix does). Pure functions: the daemon does the queries.
#pragma once

#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "lib/dns/dns.h"

namespace postilion::dns {

// Most MX hosts looked at for one domain (the rest are ignored, lowest preference kept).
inline constexpr size_t kMaxMxHosts = 20;

// Sorts by preference; records of equal preference are shuffled with rng.
void sort_mx(std::vector<MxRecord>& mx, std::mt19937& rng);
// RFC 7505: a single MX record whose exchange is the root.
bool is_null_mx(const std::vector<MxRecord>& mx);

enum class PlanStatus { Ok, Temp, Perm };
const char* plan_status_name(PlanStatus s);

struct NextHop {
  std::string host;
  std::string address;
  int preference = 0;
  Security security = Security::Insecure;  // of the address answer
  bool operator==(const NextHop&) const = default;
};

struct Plan {
  PlanStatus status = PlanStatus::Temp;
  std::string dsn;   // X.Y.Z for Temp/Perm
  std::string text;  // human reason for Temp/Perm
  Security security = Security::Insecure;  // of the MX answer (bracketed: of the host's)
  std::vector<NextHop> hops;
};

// Stage 1: the MX answer for domain. On success, hosts holds the MX hosts in the order
// to try (or the domain itself with preference 0 when there is no MX record); else the
// plan says why (Perm: NXDOMAIN, null MX, malformed; Temp: SERVFAIL, timeout, bogus).
struct MxStage {
  Plan plan;
  std::vector<MxRecord> hosts;
  bool implicit = false;
};
MxStage plan_mx(std::string_view domain, const Answer& mx, std::mt19937& rng);

// This host, for loop detection: its names and the addresses it listens on.
struct Identity {
  std::vector<std::string> names;      // lowercase
  std::vector<std::string> addresses;  // presentation form
  bool is_me(const std::string& host, const std::string& address) const;
};

// Stage 2: each host with its address answers (a, aaaa; an answer not asked for has
// outcome NoData). Hosts are taken in the given order; addresses A first, then AAAA
// (the daemon orders per inet_protocols by what it asks).
struct HostAnswers {
  MxRecord mx;
  Answer a;
  Answer aaaa;
};
Plan plan_hops(std::string_view domain, const std::vector<HostAnswers>& hosts,
               const Identity& me, Security mx_security);

}  // namespace postilion::dns
