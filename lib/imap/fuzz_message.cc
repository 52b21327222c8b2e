// lib/imap/fuzz_message.cc - libFuzzer target: arbitrary bytes as a stored message,
// through what a FETCH and a SEARCH do with it: MIME tree, ENVELOPE, BODY and
// BODYSTRUCTURE, every section of every part, and the text search keys.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "lib/imap/bodystructure.h"
#include "lib/imap/envelope.h"
#include "lib/imap/fetch.h"
#include "lib/imap/search.h"
#include "lib/imap/section.h"
#include "lib/mail/mime.h"

namespace {

using namespace postilion;

struct View : imap::MessageView {
  std::string_view m;
  uint32_t seq() const override { return 1; }
  uint32_t uid() const override { return 1; }
  bool has_flag(std::string_view) const override { return false; }
  bool recent() const override { return false; }
  uint64_t size() const override { return m.size(); }
  int64_t internal_date() const override { return 0; }
  std::string_view message() override { return m; }
};

// Balanced parentheses outside quoted strings and literals: a FETCH value clients can read.
bool balanced(std::string_view s) {
  long depth = 0;
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (c == '"') {
      for (++i; i < s.size() && s[i] != '"'; ++i)
        if (s[i] == '\\') ++i;
    } else if (c == '{') {
      size_t close = s.find('}', i);
      if (close == std::string_view::npos) return false;
      size_t n = std::stoul(std::string(s.substr(i + 1, close - i - 1)));
      i = close + 2 + n;  // "}\r\n" then n bytes
    } else if (c == '(') {
      ++depth;
    } else if (c == ')' && --depth < 0) {
      return false;
    }
    ++i;
  }
  return depth == 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view m(reinterpret_cast<const char*>(data), size);
  mail::MimeTree tree = mail::parse_mime(m, mail::MimeLimits{.max_depth = 20, .max_parts = 300});
  std::string bs = imap::body_structure(tree, m, true);
  if (!balanced(bs) || !balanced(imap::body_structure(tree, m, false))) __builtin_trap();
  if (!balanced(imap::envelope(m))) __builtin_trap();
  const char* items[] = {"BODY[]", "BODY[HEADER]", "BODY[TEXT]", "BODY[1]", "BODY[1.MIME]",
                         "BODY[1.1]", "BODY[2.HEADER]", "BODY[2.TEXT]", "BODY[1.2.3]",
                         "BODY[HEADER.FIELDS (From To Subject)]", "BODY[HEADER.FIELDS.NOT (Received)]",
                         "BODY[1]<3.10>", "BINARY[1]", "BINARY.SIZE[2]", "BINARY[1.1]<0.5>"};
  for (const char* it : items) {
    auto item = std::get<imap::FetchItem>(imap::parse_fetch_item(it));
    (void)imap::fetch_value(tree, m, item);
    auto s = imap::extract_section(tree, m, item.section);
    if (s && item.section.text != imap::SectionSpec::Text::HeaderFields &&
        item.section.text != imap::SectionSpec::Text::HeaderFieldsNot && s->size() > m.size())
      __builtin_trap();
  }
  // The index's cached header value answers the header FETCHes it claims to, byte for byte.
  if (!tree.parts.empty()) {
    const auto& root = tree.root();
    std::string cached = imap::cached_header_value(m.substr(root.header_start, root.body_start - root.header_start));
    auto item = std::get<imap::FetchItem>(imap::parse_fetch_item("BODY[HEADER.FIELDS (From Subject Date x-tuid)]"));
    if (!imap::answered_from_cached_headers(item.section) ||
        imap::extract_section(tree, m, item.section) != imap::header_fields(cached, item.section.fields, false))
      __builtin_trap();
  }
  View v;
  v.m = m;
  imap::SearchKey text;
  text.op = imap::SearchKey::Op::Text;
  text.value = "needle";
  imap::SearchKey sent;
  sent.op = imap::SearchKey::Op::SentBefore;
  sent.number = 20000;
  imap::SearchContext ctx;
  (void)imap::match(text, v, ctx);
  (void)imap::match(sent, v, ctx);
  return 0;
}
