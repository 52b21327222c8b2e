// lib/imap/section.h - the bytes of BODY[section]<o.n> (RFC 3501 6.4.5) cut from a
// message and its MIME tree, without parsing again.
//
// Contract: `tree` was parsed from `message`. A section that names no part (a number
// past the last part, HEADER of a part that is no message/rfc822) is nullopt: the
// caller answers with an empty string, as RFC 3501 allows and Dovecot does. Part 1 of
// a leaf part is that part, as in Dovecot. HEADER.FIELDS matches names
// case-insensitively, keeps continuation lines and ends with the blank line (also
// when nothing matched: "\r\n"). Never throws.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "lib/imap/fetch.h"
#include "lib/mail/mime.h"

namespace postilion::imap {

// The part a section's numbers name: its index in tree.parts and whether the numbers
// stopped on a message (the top level, or the body of a message/rfc822 part), where
// HEADER and TEXT apply. nullopt when there is no such part.
struct SectionTarget {
  size_t part = 0;
  bool message = true;
};
std::optional<SectionTarget> find_section(const mail::MimeTree& tree, const std::vector<uint32_t>& numbers);

// The section's bytes (before <o.n>).
std::optional<std::string> extract_section(const mail::MimeTree& tree, std::string_view message,
                                           const SectionSpec& spec);

// The header fields of header (a header section, blank line included) that are in
// names (or not in them, when exclude), in order, then "\r\n".
std::string header_fields(std::string_view header, const std::vector<std::string>& names, bool exclude);

// The header fields the mailbox index caches per message, lower case: what mail clients
// ask for to list a folder (Thunderbird, K-9, Apple Mail, mutt, mbsync's X-TUID), so a
// header FETCH of a large mailbox reads the index, not every message file.
const std::vector<std::string>& cached_header_names();
// The value cached for a message: its header fields named in cached_header_names(), in
// order, then "\r\n" (header_fields(header, cached_header_names(), false)).
std::string cached_header_value(std::string_view header);
// Whether spec is answered from that value: HEADER.FIELDS of the message itself (no
// part numbers) naming only cached names. header_fields(value, spec.fields, false) is
// then exactly what header_fields(header, spec.fields, false) gives.
bool answered_from_cached_headers(const SectionSpec& spec);

// Applies <offset.length>: the bytes from offset (empty past the end), at most length.
std::string_view partial(std::string_view data, uint32_t offset, uint32_t length);

// The value of a BODY[...], BINARY[...] or BINARY.SIZE[...] item as it goes into a FETCH
// response after the item name: a literal of the section's bytes after <o.n> (empty when
// the section names nothing); for BINARY the part's content decoded from its transfer
// encoding (RFC 3516), as literal8 when it holds a NUL, and BINARY.SIZE its size. nullopt
// for BINARY of a part in an unknown transfer encoding: the caller answers NO
// [UNKNOWN-CTE].
std::optional<std::string> fetch_value(const mail::MimeTree& tree, std::string_view message,
                                       const FetchItem& item);

}  // namespace postilion::imap
