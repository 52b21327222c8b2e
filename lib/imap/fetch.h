// lib/imap/fetch.h - FETCH attributes (RFC 3501 6.4.5, RFC 3516 BINARY, RFC 7162
// CHANGEDSINCE/MODSEQ): the macros ALL/FAST/FULL, FLAGS, UID, INTERNALDATE, RFC822*,
// ENVELOPE, BODY, BODYSTRUCTURE, BODY[section]<o.n>, BODY.PEEK[...], BINARY[...].
// Parsing is of untrusted input: an invalid attribute is an error text for a tagged BAD.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "lib/imap/command.h"

namespace postilion::imap {

constexpr size_t kMaxSectionDepth = 64;   // numbers in a section part "1.2.3..."
constexpr size_t kMaxHeaderFieldNames = 256;

struct SectionSpec {
  enum class Text { Full, Header, HeaderFields, HeaderFieldsNot, Text, Mime };
  std::vector<uint32_t> part;  // "1.2" -> {1, 2}; empty: the whole message
  Text text = Text::Full;
  std::vector<std::string> fields;  // HEADER.FIELDS (.NOT) names as written

  // The section as it goes back in a FETCH response: "1.2.HEADER.FIELDS (FROM TO)".
  std::string str() const;
};

struct FetchItem {
  enum class Kind {
    Flags, Uid, InternalDate, Rfc822, Rfc822Size, Rfc822Header, Rfc822Text, Envelope,
    Body,           // BODY without a section: the non-extensible BODYSTRUCTURE
    BodyStructure,
    Section,        // BODY[...] / BODY.PEEK[...]
    Binary,         // BINARY[...] / BINARY.PEEK[...] (RFC 3516)
    BinarySize,     // BINARY.SIZE[...]
    ModSeq,         // RFC 7162
  };
  Kind kind = Kind::Flags;
  SectionSpec section;
  bool peek = false;                     // BODY.PEEK / BINARY.PEEK: \Seen not set
  std::optional<uint32_t> partial_offset;  // <o.n>
  uint32_t partial_length = 0;

  // Whether fetching this sets \Seen (RFC822, RFC822.TEXT, BODY[...], BINARY[...]).
  bool sets_seen() const;
  // The item name in the response: "BODY[HEADER]<0>", "RFC822.SIZE", ...
  std::string response_name() const;
};

struct FetchRequest {
  std::vector<FetchItem> items;
  std::optional<uint64_t> changedsince;  // (CHANGEDSINCE n)
  bool vanished = false;                 // (VANISHED), UID FETCH with QRESYNC
};

// Parses FETCH's arguments after the sequence set: one attribute, a macro or a list,
// then optional modifiers. Returns the request or an error text.
std::variant<FetchRequest, std::string> parse_fetch(const std::vector<Arg>& args, size_t first);

// Parses one attribute atom ("BODY.PEEK[1.HEADER.FIELDS (From)]<0.10>").
std::variant<FetchItem, std::string> parse_fetch_item(std::string_view atom);

}  // namespace postilion::imap
