// lib/milter/headers.h - the header section of a message as milters see and change it:
// a list of fields that SMFIR_ADDHEADER, SMFIR_INSHEADER and SMFIR_CHGHEADER edit, and
// the split of the message into that section and the body.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace postilion::milter {

// Largest header section kept as fields; what lies beyond counts as body (as a line
// that is no header field does).
inline constexpr size_t kMaxHeaderSection = 1024 * 1024;

class HeaderList {
 public:
  struct Field {
    std::string name;  // as written
    std::string raw;   // the whole field, "Name: value\r\n" with its continuation lines
  };

  // Parses the start of a message (CRLF lines). *header_end is the number of bytes of
  // msg the fields take, *body_start where the body begins (after the empty line, if
  // there is one). With complete false, msg may stop inside the header section: then
  // the result is only final when *body_start != npos.
  static HeaderList parse(std::string_view msg, size_t* body_start, bool complete = true);

  const std::vector<Field>& fields() const { return fields_; }
  // The value as a filter gets it in SMFIC_HEADER: after the colon, leading blanks
  // removed unless lead_space, folds as a bare LF, no trailing CRLF.
  static std::string value_for_filter(const Field& f, bool lead_space);

  // Edits as milters ask for them. value uses LF (or CRLF) between folded lines;
  // lead_space: the value keeps its own leading blank (SMFIP_HDR_LEADSPC), else one
  // space is put after the colon.
  void add(std::string_view name, std::string_view value, bool lead_space);
  // Before the field at index (0: first); past the end: at the end.
  void insert(size_t index, std::string_view name, std::string_view value, bool lead_space);
  // The index-th field of that name (case-insensitive; 1 is the first, 0 counts as 1).
  // An empty value deletes it; a missing one is added with a non-empty value.
  void change(std::string_view name, size_t index, std::string_view value, bool lead_space);

  // The fields as they go into the message (without the empty line).
  std::string text() const;

 private:
  static Field make(std::string_view name, std::string_view value, bool lead_space);
  std::vector<Field> fields_;
};

}  // namespace postilion::milter
