// lib/mail/mime.h - MIME structure of a message held in memory (RFC 2045-2047, 2183,
// 2231, 2387): a tree of parts with byte-exact offsets, so any IMAP section (BODY[1.2],
// [1.2.MIME], [1.2.HEADER], [1.2.TEXT], partial <o.n>) is a substring of the message.
//
// Contract: parse_mime() never throws and never reads outside `message`. Offsets index
// the bytes passed in: give it the message as clients see it (CRLF line ends for IMAP)
// and the offsets are those of the wire form. Broken input gives a best-effort tree
// (missing boundaries end the part at the end of its parent, unknown types are leaves).
// Memory is bounded: at most MimeLimits::max_parts parts and max_depth nesting; past a
// limit a part becomes a leaf and `MimeTree::truncated` is set. The tree holds copies of
// the few header values it parses, never views into the message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postilion::mail {

struct MimeLimits {
  size_t max_depth = 40;     // nesting of multipart and message/rfc822
  size_t max_parts = 5000;   // parts in the whole tree
};

// One Content-Type or Content-Disposition parameter. RFC 2231 sections (name*0,
// name*1*, ...) are joined into one; an extended value is percent-decoded into `value`
// with its charset and language kept.
struct MimeParam {
  std::string name;      // lowercase, without section numbers or '*'
  std::string name_as_written;  // a plain parameter's name in its case ("" if joined)
  std::string value;     // unquoted (and for an extended value, percent-decoded bytes)
  bool extended = false; // written in RFC 2231 charset'language'%XX form
  std::string charset;   // of an extended value
  std::string language;

  // The value as UTF-8: an extended value converted from its charset, a plain one with
  // RFC 2047 encoded-words decoded (as many clients send file names).
  std::string utf8() const;
};

struct MimePart {
  // [header_start, body_start) is the header including its blank line (BODY[n.MIME],
  // or [HEADER] of an embedded message); [body_start, end) the body. A multipart child
  // ends before the line end that precedes its boundary delimiter.
  size_t header_start = 0;
  size_t body_start = 0;
  size_t end = 0;
  size_t body_lines = 0;  // line ends in the body (RFC 3501 body-fld-lines)
  bool header_complete = false;  // a blank line ended the header

  std::string type = "text";     // lowercase
  std::string subtype = "plain"; // lowercase
  std::vector<MimeParam> params;
  bool content_type_given = false;
  std::string type_as_written, subtype_as_written;  // for BODYSTRUCTURE; "" when defaulted
  std::string encoding;  // Content-Transfer-Encoding, lowercase; "" when absent
  std::string encoding_as_written;
  std::optional<std::string> id, description, md5, location;  // values as written, unfolded
  std::optional<std::string> disposition;  // lowercase type, e.g. "attachment"
  std::string disposition_as_written;
  std::vector<MimeParam> disposition_params;
  std::vector<std::string> languages;      // Content-Language, comma separated
  std::string boundary;                    // of a multipart ("" when it has none)
  bool final_boundary_seen = false;        // a multipart's "--boundary--" was found

  // Parts below this one: a multipart's body parts in order; for message/rfc822 and
  // message/global exactly one, the embedded message (whose header is this part's body
  // start). Indexes into MimeTree::parts.
  std::vector<size_t> children;
  size_t parent = SIZE_MAX;  // SIZE_MAX for the message itself
  size_t depth = 0;

  size_t header_size() const { return body_start - header_start; }
  size_t body_size() const { return end - body_start; }
  bool is_multipart() const { return type == "multipart"; }
  // message/rfc822 or message/global with a parsed embedded message.
  bool is_message() const {
    return type == "message" && (subtype == "rfc822" || subtype == "global") && !children.empty();
  }
  // The parameter's value, or nullptr (name in lowercase).
  const MimeParam* param(std::string_view name) const;
};

struct MimeTree {
  std::vector<MimePart> parts;  // parts[0] is the message itself
  bool truncated = false;       // a limit cut the tree short

  const MimePart& root() const { return parts.front(); }
};

MimeTree parse_mime(std::string_view message, const MimeLimits& limits = {});

// Parses a Content-Type value ("text/plain; charset=utf-8") into part's type, subtype
// and params; an unparsable value leaves text/plain. Exposed for tests.
void parse_content_type(std::string_view value, MimePart& part);
// Parses a structured value "token *(; param)" (Content-Disposition and Content-Type
// after the type): the leading token lowercased and the parameters, RFC 2231 joined.
// *as_written, when given, receives the token in its case.
std::string parse_params(std::string_view value, std::vector<MimeParam>& params,
                         std::string* as_written = nullptr);

}  // namespace postilion::mail
