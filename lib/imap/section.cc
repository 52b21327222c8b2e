// lib/imap/section.cc - section extraction.
#include "lib/imap/section.h"

#include "lib/base/strings.h"
#include "lib/imap/response.h"
#include "lib/mail/encoding.h"
#include "lib/mail/header.h"

namespace postilion::imap {

std::optional<SectionTarget> find_section(const mail::MimeTree& tree,
                                          const std::vector<uint32_t>& numbers) {
  if (tree.parts.empty()) return std::nullopt;
  SectionTarget t{0, true};
  bool stayed = false;  // a "1" already named the part it was applied to
  for (uint32_t n : numbers) {
    const mail::MimePart* p = &tree.parts[t.part];
    if (!t.message && p->is_message()) {
      // The numbers go on into the embedded message.
      t.part = p->children[0];
      p = &tree.parts[t.part];
      t.message = true;
      stayed = false;
    }
    if (p->is_multipart()) {
      if (n == 0 || n > p->children.size()) return std::nullopt;
      t.part = p->children[n - 1];
      stayed = false;
    } else if (n != 1 || stayed) {
      // A single-part message has one part, 1: its body. A leaf part's 1 is the part
      // itself, once, as Dovecot answers (clients ask "2.1" for a single-part attachment).
      return std::nullopt;
    } else {
      stayed = true;
    }
    t.message = false;
  }
  return t;
}

std::string header_fields(std::string_view header, const std::vector<std::string>& names, bool exclude) {
  mail::Headers h = mail::parse_headers(header);
  std::string out;
  for (const auto& f : h.fields) {
    bool listed = false;
    for (const auto& n : names) listed = listed || str::iequals(f.name, n);
    if (listed != exclude) {
      out += f.raw;
      // A last field cut off without a line end still ends its line.
      if (!f.raw.empty() && f.raw.back() != '\n') out += "\r\n";
    }
  }
  return out + "\r\n";
}

const std::vector<std::string>& cached_header_names() {
  static const std::vector<std::string> kNames = {
      "from", "to", "cc", "bcc", "subject", "date", "message-id", "in-reply-to", "references",
      "reply-to", "sender", "content-type", "content-transfer-encoding", "mime-version",
      "priority", "x-priority", "importance", "newsgroups", "list-id", "list-post", "list-unsubscribe",
      "x-tuid", "delivered-to", "x-original-to", "return-path", "disposition-notification-to",
      "x-spam-flag", "x-spam-status", "x-mailer", "user-agent", "x-mailing-list", "x-label",
      "x-keywords", "x-uid", "status", "x-status", "followup-to", "mail-followup-to",
      "autocrypt", "content-language"};
  return kNames;
}

std::string cached_header_value(std::string_view header) {
  return header_fields(header, cached_header_names(), false);
}

bool answered_from_cached_headers(const SectionSpec& spec) {
  if (spec.text != SectionSpec::Text::HeaderFields || !spec.part.empty()) return false;
  const auto& names = cached_header_names();
  for (const auto& f : spec.fields) {
    bool found = false;
    for (const auto& n : names) found = found || str::iequals(f, n);
    if (!found) return false;
  }
  return true;
}

std::optional<std::string> extract_section(const mail::MimeTree& tree, std::string_view m,
                                           const SectionSpec& spec) {
  auto t = find_section(tree, spec.part);
  if (!t) return std::nullopt;
  const mail::MimePart* p = &tree.parts[t->part];
  using T = SectionSpec::Text;
  auto bytes = [&](size_t from, size_t to) { return std::string(m.substr(from, to - from)); };
  switch (spec.text) {
    case T::Full:
      if (t->message && spec.part.empty()) return std::string(m);
      return bytes(p->body_start, p->end);
    case T::Mime:
      return bytes(p->header_start, p->body_start);
    case T::Header:
    case T::HeaderFields:
    case T::HeaderFieldsNot:
    case T::Text: {
      if (!t->message) {
        // HEADER/TEXT of a part apply to an embedded message only.
        if (!p->is_message()) return std::nullopt;
        p = &tree.parts[p->children[0]];
      }
      if (spec.text == T::Text) return bytes(p->body_start, p->end);
      std::string_view header = m.substr(p->header_start, p->body_start - p->header_start);
      if (spec.text == T::Header) return std::string(header);
      return header_fields(header, spec.fields, spec.text == T::HeaderFieldsNot);
    }
  }
  return std::nullopt;
}

std::string_view partial(std::string_view data, uint32_t offset, uint32_t length) {
  if (offset >= data.size()) return {};
  return data.substr(offset, length);
}

std::optional<std::string> fetch_value(const mail::MimeTree& tree, std::string_view m,
                                       const FetchItem& item) {
  std::string out;
  if (item.kind == FetchItem::Kind::Section) {
    auto s = extract_section(tree, m, item.section);
    std::string_view v = s ? std::string_view(*s) : std::string_view();
    if (item.partial_offset) v = partial(v, *item.partial_offset, item.partial_length);
    append_literal(out, v);
    return out;
  }
  // BINARY: the part's body, decoded.
  auto t = find_section(tree, item.section.part);
  std::string decoded;
  if (t) {
    const mail::MimePart& p = tree.parts[t->part];
    std::string_view body = m.substr(p.body_start, p.end - p.body_start);
    if (t->message && item.section.part.empty()) body = m;
    const std::string& e = p.encoding;
    if (!(e.empty() || e == "7bit" || e == "8bit" || e == "binary" || e == "base64" ||
          e == "quoted-printable"))
      return std::nullopt;
    decoded = mail::decode_transfer(body, e);
  }
  if (item.kind == FetchItem::Kind::BinarySize) return std::to_string(decoded.size());
  std::string_view v = decoded;
  if (item.partial_offset) v = partial(v, *item.partial_offset, item.partial_length);
  append_literal(out, v, v.find('\0') != std::string_view::npos);
  return out;
}

}  // namespace postilion::imap
