// lib/imap/mailbox_name.h - mailbox names: modified UTF-7 on the wire (RFC 3501 5.1.3),
// UTF-8 inside Postilion, '/' as the hierarchy separator, Maildir++ folder names on disk
// ("Lists/postfix" <-> ".Lists.postfix", INBOX is the Maildir itself), and LIST
// pattern matching with '*' and '%'.
//
// Contract: pure functions; invalid input is nullopt or an error text, never an
// exception. A name that passes validate_name() maps to a single safe directory name
// (no '/', no "." or "..", at most 255 bytes) and back to the same name.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace postilion::imap {

constexpr char kSeparator = '/';
constexpr size_t kMaxMailboxName = 400;  // bytes of UTF-8
constexpr size_t kMaxMaildirName = 255;  // NAME_MAX of the folder on disk

// Modified UTF-7 -> UTF-8; nullopt for an invalid encoding (bad base64, unterminated
// '&', encoded printable ASCII, bad UTF-16, non-zero padding bits).
std::optional<std::string> mutf7_decode(std::string_view s);
// UTF-8 -> modified UTF-7 (invalid UTF-8 bytes become U+FFFD).
std::string mutf7_encode(std::string_view utf8);

// "INBOX" in any case (alone or as the first component) becomes "INBOX".
std::string normalize_inbox(std::string_view utf8);

// A UTF-8 name's problem, or nullopt when it is valid. for_create also refuses the
// LIST wildcards '*' and '%'.
std::optional<std::string> validate_name(std::string_view utf8, bool for_create);

// The wire name (modified UTF-7, or UTF-8 once UTF8=ACCEPT is enabled) to a normalized,
// validated UTF-8 name; nullopt with *error set otherwise.
std::optional<std::string> wire_to_name(std::string_view wire, bool utf8_accept, bool for_create,
                                        std::string* error);

// Maildir++ folder name of a valid mailbox name: "" for INBOX (the Maildir root),
// ".Lists.postfix" for "Lists/postfix". Each component is modified UTF-7 (as Dovecot
// and Courier store them); a '.' inside a component is written "&AC4-", which decodes
// back to '.'.
std::string to_maildir(std::string_view utf8_name);
// The reverse: "" or "." -> "INBOX", ".Lists.postfix" -> "Lists/postfix"; nullopt for
// a directory that is no Maildir++ folder (no leading '.', empty components, bad
// encoding).
std::optional<std::string> from_maildir(std::string_view dir);

// LIST matching (RFC 3501 6.3.8): '*' matches anything, '%' anything but the separator.
// Both arguments in the same form (UTF-8). Bounded: O(pattern * name) steps.
bool list_match(std::string_view pattern, std::string_view name);

// Joins LIST's reference and pattern ("Lists/" + "p%" -> "Lists/p%").
std::string list_join(std::string_view reference, std::string_view pattern);

}  // namespace postilion::imap
