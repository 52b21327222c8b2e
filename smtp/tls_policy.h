// smtp/tls_policy.h - smtp_tls_security_level and smtp_tls_policy_maps values, and
// what each level demands of a session (Postfix's levels):
//   none     never STARTTLS           may      STARTTLS when offered, unverified
//   encrypt  TLS required, unverified dane     RFC 7672: verified against DNSSEC TLSA
//   verify   TLS + CA-verified cert matching the MX host name
//   secure   TLS + CA-verified cert matching the next-hop domain (or its MX host)
// dane falls back to may when the host's address answer or its TLSA answer is not
// DNSSEC-secure, or there are no usable TLSA records; with usable secure TLSA records
// the peer's certificate must match one of them, or the host is not used.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace postilion::smtp_client {

enum class TlsLevel { None, May, Encrypt, Dane, Verify, Secure };
std::optional<TlsLevel> parse_tls_level(std::string_view s);
const char* tls_level_name(TlsLevel l);
inline bool tls_required(TlsLevel l) { return l >= TlsLevel::Encrypt && l != TlsLevel::Dane; }

// A smtp_tls_policy_maps value: "encrypt", "dane", "verify match=...", ... The first
// word is the level; attributes after it are ignored. nullopt when malformed.
std::optional<TlsLevel> parse_policy_value(std::string_view v);

}  // namespace postilion::smtp_client
