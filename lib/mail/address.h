// lib/mail/address.h - mail addresses: RFC 5321 paths, local part and domain, the
// recipient delimiter (user+ext), and the address lists of RFC 5322 header fields.
// Pure functions over strings; malformed input is a std::nullopt or an empty list.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postilion::mail {

constexpr size_t kMaxAddressLength = 998;

// "user@Example.ORG" -> local "user", domain "example.org" (domain lowercased).
// An address without '@' has an empty domain.
struct Address {
  std::string local;
  std::string domain;
  // local@domain (or just local), with the local part quoted when it needs it.
  std::string str() const;
  bool empty() const { return local.empty() && domain.empty(); }
};

// Splits on the last '@'. Returns nullopt for control characters, a bare "@",
// an empty local part with a domain, or an address over kMaxAddressLength.
std::optional<Address> parse_address(std::string_view addr);

// An SMTP path "<a@b>" (or "<>" for the null sender); source routes are dropped
// ("<@x,@y:a@b>" -> a@b). Returns the bare address ("" for <>), nullopt when malformed.
std::optional<std::string> parse_path(std::string_view path);

// Quotes a local part per RFC 5321 when it is not a dot-string.
std::string quote_local(std::string_view local);
// Removes the quotes and backslash escapes of a quoted local part.
std::string unquote_local(std::string_view local);

// user+ext with delimiters "+": {user, ext}. Only the first delimiter counts; an
// empty delimiter list or a leading delimiter gives {local, ""}.
struct LocalParts {
  std::string user;
  std::string extension;
  char delimiter = 0;
};
LocalParts split_extension(std::string_view local, std::string_view delimiters);

// The keys a virtual table (virtual_alias_maps, virtual_mailbox_maps) is searched with
// for an address, in Postfix's order: user+ext@domain, then user@domain when the local
// part has an extension after one of the delimiters, then the catch-all @domain.
// Empty for an address without a local part or a domain. smtpd, qmgr and virtual(8)
// all decide with these keys, so an address that smtpd accepts is one that qmgr routes
// and virtual(8) delivers (accepting and then bouncing would be backscatter).
std::vector<std::string> virtual_lookup_keys(std::string_view address, std::string_view delimiters);

// True when the domain matches one of the names (case-insensitive).
bool domain_in(std::string_view domain, const std::vector<std::string>& names);

// The addresses of an RFC 5322 address list (To:, Cc:, Bcc:): "A <a@b>, c@d,
// group: e@f;" -> {"a@b", "c@d", "e@f"}. Comments and display names are skipped.
std::vector<std::string> parse_address_list(std::string_view value);

}  // namespace postilion::mail
