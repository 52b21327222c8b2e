// lib/imap/bodystructure.h - BODY and BODYSTRUCTURE (RFC 3501 7.4.2) from the MIME tree
// of lib/mail/mime.h, extension data included for BODYSTRUCTURE.
//
// Contract: the tree must have been parsed from `message` (the same bytes, CRLF form
// for IMAP sizes). The result is one IMAP value; strings that cannot be quoted go out
// as literals. A multipart without any part is written with one empty text/plain part,
// as the grammar needs at least one. Types, subtypes, parameter names and encodings go
// out in the case they were written in, as Dovecot sends them. Never throws.
#pragma once

#include <string>
#include <string_view>

#include "lib/mail/mime.h"

namespace postilion::imap {

// rev2: IMAP4rev2 (RFC 9051) writes message/global like message/rfc822, with envelope.
std::string body_structure(const mail::MimeTree& tree, std::string_view message, bool extended,
                           bool rev2 = false);
// The structure of one part (an index into tree.parts).
std::string body_structure(const mail::MimeTree& tree, std::string_view message, size_t part,
                           bool extended, bool rev2 = false);

}  // namespace postilion::imap
