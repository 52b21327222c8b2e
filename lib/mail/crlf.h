// lib/mail/crlf.h - the size of a message on the wire, where every line ends in CRLF
// (RFC 5322 2.1): what POP3's LIST and IMAP's RFC822.SIZE report for a stored message
// whose line ends may be bare LF.
#pragma once

#include <cstdint>
#include <string_view>

namespace postilion::mail {

// The size of raw with every line end counted as CRLF, and a line end added after a
// last line that has none (before any dot-stuffing a protocol applies).
uint64_t crlf_size(std::string_view raw);

}  // namespace postilion::mail
