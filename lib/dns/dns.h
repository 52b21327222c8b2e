// lib/dns/dns.h - DNS answers as the resolver keeps them, and the rdata decoders
// (MX, A, AAAA, TLSA, TXT, PTR) that turn libunbound's uncompressed wire rdata into values.
// Decoders take untrusted bytes and return nullopt on anything malformed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postilion::dns {

// DNSSEC status of an answer (RFC 4035): secure, insecure (no chain of trust), bogus.
enum class Security { Insecure, Secure, Bogus };
const char* security_name(Security s);
std::optional<Security> parse_security(std::string_view s);

// What one query came back with.
enum class Outcome {
  Ok,        // records of that type exist
  NoData,    // the name exists, no records of that type
  NxDomain,  // the name does not exist (permanent)
  TempFail,  // SERVFAIL, timeout, bogus, network error (temporary)
};
const char* outcome_name(Outcome o);
std::optional<Outcome> parse_outcome(std::string_view s);

enum class RrType : uint16_t { A = 1, CNAME = 5, PTR = 12, MX = 15, TXT = 16, AAAA = 28, TLSA = 52 };
std::optional<RrType> parse_rrtype(std::string_view s);
const char* rrtype_name(RrType t);

struct Answer {
  Outcome outcome = Outcome::TempFail;
  Security security = Security::Insecure;
  uint32_t ttl = 0;
  std::string canonical;            // the name after CNAMEs, lowercase, no trailing dot
  std::vector<std::string> rdata;   // raw rdata, one per record
  std::string why;                  // TempFail/NxDomain: human text
};

struct MxRecord {
  int preference = 0;
  std::string host;  // lowercase, no trailing dot; "" is the root (null MX)
  bool operator==(const MxRecord&) const = default;
};

struct TlsaRecord {
  uint8_t usage = 0;
  uint8_t selector = 0;
  uint8_t mtype = 0;
  std::string data;  // binary association data
  bool operator==(const TlsaRecord&) const = default;
};

// A domain name in uncompressed wire form starting at *pos; advances *pos. Returns
// lowercase presentation form without the trailing dot ("" for the root). Labels with
// bytes outside [A-Za-z0-9_-] are refused: they could not be a host to connect to.
std::optional<std::string> decode_name(std::string_view wire, size_t* pos);
std::optional<MxRecord> decode_mx(std::string_view rdata);
std::optional<std::string> decode_a(std::string_view rdata);     // "192.0.2.1"
std::optional<std::string> decode_aaaa(std::string_view rdata);  // "2001:db8::1"
std::optional<TlsaRecord> decode_tlsa(std::string_view rdata);
std::optional<std::string> decode_txt(std::string_view rdata);   // strings concatenated

// Presentation form of one record of type t, as the resolver protocol sends it
// ("10 mx.b.tst", "192.0.2.1", "3 1 1 ABCD...", TXT text); nullopt when malformed.
std::optional<std::string> present(RrType t, std::string_view rdata);
// Parses the presentation forms back (client side).
std::optional<MxRecord> parse_mx_text(std::string_view s);
std::optional<TlsaRecord> parse_tlsa_text(std::string_view s);

// Host name syntax check for names the resolver is asked about (LDH labels, '_' allowed
// for TLSA/SRV owner names, 1..253 chars, labels 1..63); lowercases, strips one final dot.
std::optional<std::string> normalize_name(std::string_view name);

std::string hex(std::string_view bin);

// The reverse-lookup name of an address: "7.2.0.192.in-addr.arpa" for 192.0.2.7, the
// nibble form under ip6.arpa for IPv6 (RFC 3596 2.5); nullopt when ip is not an address.
std::optional<std::string> reverse_name(std::string_view ip);
// The name a DNS list is asked for about ip: the reversed address (IPv4 by octets,
// IPv6 by nibbles) before the list's domain, "7.2.0.192.bl.example" for 192.0.2.7;
// nullopt when ip is not an address. For smtpd's reject_rbl_client and postscreen.
std::optional<std::string> dnsbl_query_name(std::string_view ip, std::string_view domain);
// True when a and b are the same address in any presentation form ("::ffff:1.2.3.4"
// is not 1.2.3.4: families must match).
bool same_address(std::string_view a, std::string_view b);

}  // namespace postilion::dns
