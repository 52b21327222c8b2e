// lib/config/restrictions.h - the words of smtpd's restriction lists
// (smtpd_client_restrictions, smtpd_helo_restrictions, smtpd_sender_restrictions,
// smtpd_relay_restrictions, smtpd_recipient_restrictions, smtpd_data_restrictions):
// which words exist, which take an argument, and DNSBL reply filters
// ("bl.example=127.0.0.[2..11]"). Config loading parses every such list with this, so a
// word smtpd does not know stops `postilionctl check` and smtpd's start with file:line
// instead of being skipped at run time.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/base/parsed.h"

namespace postilion::config {

enum class Restriction {
  Permit,
  Reject,
  PermitMynetworks,
  PermitSaslAuthenticated,
  RejectRblClient,       // DNS list of client addresses
  RejectRhsblClient,     // DNS list of domains: the client's host name
  RejectRhsblSender,     // DNS list of domains: the sender's domain
  PermitDnswlClient,     // DNS allowlist of client addresses
  RejectInvalidHeloHostname,
  RejectNonFqdnHeloHostname,
  RejectNonFqdnSender,
  RejectUnknownSenderDomain,
  RejectSenderLoginMismatch,               // smtpd_sender_login_maps, any client
  RejectAuthenticatedSenderLoginMismatch,  // smtpd_sender_login_maps, authenticated clients
  Defer,
  RejectUnauthDestination,       // the relay rule: 554 Relay access denied
  DeferUnauthDestination,        // the same with 454
  RejectUnlistedRecipient,       // local, virtual alias and virtual mailbox recipient tables
  RejectNonFqdnRecipient,
  RejectUnknownRecipientDomain,  // MX, A, AAAA of the recipient's domain
  CheckClientAccess,             // access(5) tables named in the list
  CheckHeloAccess,
  CheckSenderAccess,
  CheckRecipientAccess,
  RejectUnauthPipelining,        // commands sent ahead without PIPELINING, or before the greeting
  CheckPolicyService,            // a policy server (Postfix's policy delegation protocol)
  RejectUnknownReverseClientHostname,  // the client address has no PTR name
  RejectUnknownClientHostname,         // ... or no forward-confirmed one
};

// The name of a restriction as written in main.conf ("permit_mynetworks").
const char* restriction_name(Restriction r);

// A DNSBL reply filter, Postfix's "d.d.d.d" where each d is a number (0-255) or a
// bracketed list of numbers and ranges: "127.0.0.2", "127.0.0.[2..11]",
// "127.0.[0..255].[2;4;10..12]". An answer is listed when one of its A records matches.
class DnsblFilter {
 public:
  static constexpr size_t kMaxText = 256;
  // nullopt with *why set when text is not such a filter.
  static Parsed<DnsblFilter> parse(std::string_view text);
  // Whether a dotted-quad IPv4 address matches; anything else never does.
  bool matches(std::string_view ipv4) const;
  const std::string& text() const { return text_; }

 private:
  struct Range {
    uint8_t lo, hi;
  };
  std::array<std::vector<Range>, 4> octets_;
  std::string text_;
};

// One step of a restriction list, with its argument when it takes one.
struct RestrictionStep {
  Restriction what = Restriction::Permit;
  // The DNS lists: "bl.example" of "bl.example=127.0.0.[2..11]" (lowercase, no
  // trailing dot), and the filter when one is given (none: any A record lists).
  std::string domain;
  std::optional<DnsblFilter> filter;
  // The check_*_access tables: "hash:/etc/postilion/access" as written; for
  // check_policy_service the server, "inet:127.0.0.1:10023" or "unix:/path".
  std::string table;
};

// Whether a restriction takes a DNS list domain as its argument.
bool takes_dns_list(Restriction r);
// Whether a restriction takes a lookup table ("type:name") as its argument.
bool takes_table(Restriction r);
// The parameter a restriction cannot work without ("smtpd_sender_login_maps"), or nullptr.
const char* restriction_needs(Restriction r);

// Parses one restriction list value (words separated by commas and/or white space).
// Returns nullopt with *why set ("unknown restriction \"x\"", "reject_rbl_client needs a
// DNS list domain") when the list holds anything smtpd would not run.
Parsed<std::vector<RestrictionStep>> parse_restriction_list(std::string_view value);

// Whether a list can refuse a recipient the server does not relay for: it holds
// reject_unauth_destination, defer_unauth_destination, reject or defer (Postfix's test
// of smtpd_relay_restrictions and smtpd_recipient_restrictions, one of which must).
bool stops_open_relay(const std::vector<RestrictionStep>& steps);

}  // namespace postilion::config
