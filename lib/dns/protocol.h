// lib/dns/protocol.h - the messages of private/resolver (see resolver(8)), with the
// encoders and strict decoders both sides use: resolver(8), and its clients smtp(8)
// (next hops, TLSA) and smtpd(8) (client names; plain queries for DNS lists and sender
// domains).
//
// next hops:   cmd=nexthops, domain=D [, mx=yes|no]   (mx=no: D is a bracketed host,
//              addresses only, no MX lookup)
//   reply:     status=ok|temp|perm, [dsn=X.Y.Z, text=...], secure=secure|insecure|bogus,
//              then per hop in order: host=NAME, addr=IP, pref=N, hsecure=...
// plain query: cmd=query, name=N, type=MX|A|AAAA|TLSA|TXT
//   reply:     status=ok|nodata|nxdomain|temp, secure=..., ttl=N, [canon=NAME],
//              [text=why], then one rr=VALUE per record in presentation form
//              (MX "10 mx.b.tst", A "192.0.2.1", TLSA "3 1 1 HEX", TXT text)
// client name: cmd=ptr, addr=IP   (smtpd: the client's host name, RFC 1912 2.1 style)
//   reply:     status=ok, name=NAME           a PTR name of IP whose A/AAAA hold IP
//              status=unconfirmed, name=NAME  a PTR name, but its addresses do not hold IP
//              status=nodata|nxdomain|temp, [text=why]   no usable name
// A request the resolver cannot parse gets status=error, text=... and the connection
// is closed. Several requests may follow each other on one connection.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/base/parsed.h"
#include "lib/ipc/message.h"
#include "lib/dns/dns.h"
#include "lib/dns/nexthop.h"

namespace postilion::dns::proto {

inline constexpr size_t kMaxHops = 200;
inline constexpr size_t kMaxRecords = 500;

ipc::Message nexthops_request(std::string_view domain, bool mx);
ipc::Message query_request(std::string_view name, RrType type);

ipc::Message encode_plan(const Plan& p);
// nullopt + why when the message is not a well-formed nexthops reply.
Parsed<Plan> decode_plan(const ipc::Message& m);

struct QueryReply {
  Outcome outcome = Outcome::TempFail;
  Security security = Security::Insecure;
  uint32_t ttl = 0;
  std::string canonical;
  std::string text;
  std::vector<std::string> records;  // presentation form
};
ipc::Message encode_query_reply(const QueryReply& r);
Parsed<QueryReply> decode_query_reply(const ipc::Message& m);

// The forward-confirmed name of a client address.
struct ClientName {
  enum class Status { Ok, Unconfirmed, NoData, NxDomain, TempFail };
  Status status = Status::TempFail;
  std::string name;  // Ok and Unconfirmed: lowercase, no trailing dot
  std::string text;
};
const char* client_name_status(ClientName::Status s);
ipc::Message ptr_request(std::string_view ip);
ipc::Message encode_client_name(const ClientName& c);
Parsed<ClientName> decode_client_name(const ipc::Message& m);

}  // namespace postilion::dns::proto
