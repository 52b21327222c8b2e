// lib/imap/bodystructure.h - BODY and BODYSTRUCTURE (RFC 3501 7.4.2) from the MIME tree
// of lib/mail/mime.h, extension data included for BODYSTRUCTURE.
//
// Contract: the tree must have been parsed from `message` (the same bytes, CRLF form
// for IMAP sizes). The result is one IMAP value; strings that cannot be quoted go out
// as literals. A multipart without any part is written with one empty text/plain part,
// as the grammar needs at least one. Never throws.
#pragma once

#include <string>
#include <string_view>

#include "lib/mail/mime.h"

namespace postilion::imap {

std::string body_structure(const mail::MimeTree& tree, std::string_view message, bool extended);
// The structure of one part (an index into tree.parts).
std::string body_structure(const mail::MimeTree& tree, std::string_view message, size_t part,
                           bool extended);

}  // namespace postilion::imap
