// lib/imap/envelope.h - ENVELOPE (RFC 3501 7.4.2) from a message's header section, and
// the RFC 5322 address lists it is made of (display names kept as written, groups
// kept). Pure functions of bytes in memory: malformed addresses give a best-effort
// list, never an exception.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/mail/header.h"

namespace postilion::imap {

constexpr size_t kMaxEnvelopeAddresses = 1000;  // per field; the rest is dropped

struct EnvelopeAddress {
  std::optional<std::string> name;     // display name, quotes removed, encoded-words kept
  std::optional<std::string> route;    // obsolete source route "@a,@b"
  std::optional<std::string> mailbox;  // local part; for a group start, the group name
  std::optional<std::string> host;     // nullopt marks a group start or end
};

std::vector<EnvelopeAddress> parse_envelope_addresses(std::string_view value);

// "(date subject from sender reply-to to cc bcc in-reply-to message-id)" for the header
// section given (the whole message may be passed; only its header is read).
std::string envelope(std::string_view header);
std::string envelope(const mail::Headers& headers);

// The address list in ENVELOPE syntax: "((name adl mailbox host) ...)" or NIL.
std::string envelope_address_list(const std::vector<EnvelopeAddress>& list);

}  // namespace postilion::imap
