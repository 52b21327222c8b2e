// smtpd/content_checks.cc - header and body checks over the arriving message (see
// content_checks.h).
#include "smtpd/content_checks.h"

#include "lib/base/strings.h"
#include "lib/mail/mime.h"

namespace postilion::smtpd {
namespace {

struct ActionName {
  const char* word;
  ContentAction action;
  bool needs_text;
};
constexpr ActionName kActions[] = {
    {"DUNNO", ContentAction::Dunno, false},     {"OK", ContentAction::Ok, false},
    {"REJECT", ContentAction::Reject, false},   {"DISCARD", ContentAction::Discard, false},
    {"HOLD", ContentAction::Hold, false},       {"WARN", ContentAction::Warn, false},
    {"IGNORE", ContentAction::Ignore, false},   {"REPLACE", ContentAction::Replace, true},
    {"PREPEND", ContentAction::Prepend, true},  {"REDIRECT", ContentAction::Redirect, true},
};

bool is_wsp(char c) { return c == ' ' || c == '\t'; }

// A header field's name: printable ASCII but ':' (RFC 5322 2.2), then ':'.
size_t header_name_length(std::string_view line) {
  size_t i = 0;
  while (i < line.size() && line[i] > ' ' && line[i] < 0x7f && line[i] != ':') ++i;
  // Postfix also takes "Name :" (space before the colon) for a header.
  size_t j = i;
  while (j < line.size() && is_wsp(line[j])) ++j;
  return i > 0 && j < line.size() && line[j] == ':' ? i : 0;
}

std::string_view strip_eol(std::string_view s) {
  if (!s.empty() && s.back() == '\n') s.remove_suffix(1);
  if (!s.empty() && s.back() == '\r') s.remove_suffix(1);
  return s;
}

// The header unfolded: line breaks removed, the whitespace after them kept.
std::string unfold(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  for (char c : raw)
    if (c != '\r' && c != '\n') out += c;
  return out;
}

bool mime_header(std::string_view name) {
  return str::istarts_with(name, "Content-") || str::iequals(name, "MIME-Version");
}

// "4.7.1 text" or "5.7.1 text" at the start of text: the status code to use.
bool has_dsn(std::string_view text) {
  return text.size() >= 5 && (text[0] == '4' || text[0] == '5') && text[1] == '.' &&
         text.find_first_not_of("0123456789.") >= 5 && (text.size() == 5 || text.find(' ') != std::string_view::npos);
}

}  // namespace

Parsed<ContentRule> parse_content_action(std::string_view value) {
  std::string_view v = str::trim(value);
  size_t sp = v.find_first_of(" \t");
  std::string_view word = v.substr(0, sp);
  std::string_view text = sp == std::string_view::npos ? std::string_view() : str::trim(v.substr(sp));
  for (const ActionName& a : kActions) {
    if (!str::iequals(word, a.word)) continue;
    if (a.needs_text && text.empty()) return Parsed<ContentRule>::bad(std::string(a.word) + " needs its text");
    return ContentRule{a.action, std::string(text)};
  }
  if (str::iequals(word, "FILTER")) return Parsed<ContentRule>::bad("FILTER is not supported by smtpd");
  return Parsed<ContentRule>::bad("unknown action \"" + str::printable(word, 40) + "\"");
}

void ContentInspector::feed(std::string_view in, std::string* out) {
  // Bounded: each round takes one line (or kMaxLine octets) off the input.
  while (!in.empty()) {
    size_t nl = in.find('\n');
    size_t room = kMaxLine - pending_.size();
    if (nl == std::string_view::npos && in.size() < room) {
      pending_.append(in);
      return;
    }
    size_t take = nl == std::string_view::npos ? room : std::min(nl + 1, room);
    pending_.append(in.substr(0, take));
    in.remove_prefix(take);
    std::string l = std::move(pending_);
    pending_.clear();
    line(l, out);
  }
}

void ContentInspector::finish(std::string* out) {
  if (!pending_.empty()) {
    std::string l = std::move(pending_);
    pending_.clear();
    line(l, out);
  }
  if (section_ == Section::Header) end_header(out);
}

void ContentInspector::pass(std::string_view lines, std::string* out) {
  if (section_ == Section::Header && pending_.empty()) end_header(out);
  out->append(lines);
}

void ContentInspector::line(std::string_view raw, std::string* out) {
  std::string_view text = strip_eol(raw);
  if (section_ == Section::Header) {
    if ((!header_.empty() || header_overflow_) && !text.empty() && is_wsp(text[0])) {
      if (header_overflow_) {
        out->append(raw);
        return;
      }
      header_.append(raw);
      if (header_.size() > kMaxHeader) {  // passed on without a lookup
        out->append(header_);
        header_.clear();
        header_overflow_ = true;
      }
      return;
    }
    end_header(out);
    if (text.empty()) {  // the blank line ends the header block
      out->append(raw);
      start_body();
      return;
    }
    if (header_name_length(text) > 0) {
      header_.assign(raw);
      return;
    }
    // Not a header: the header block ends here and this line is body (as in Postfix).
    start_body();
  }
  if (boundary(text)) {
    out->append(raw);
    return;
  }
  if (t_.body && !stopped_ && (t_.body_size_limit == 0 || body_seen_ < t_.body_size_limit)) {
    body_seen_ += raw.size();
    if (!check(t_.body, "body_checks", "body", text, out)) return;
  }
  out->append(raw);
}

void ContentInspector::end_header(std::string* out) {
  header_overflow_ = false;
  if (header_.empty()) return;
  std::string raw = std::move(header_);
  header_.clear();
  std::string_view name = std::string_view(raw).substr(0, header_name_length(raw));
  std::string logical = unfold(raw);
  if (str::iequals(name, "Content-Type") && logical.size() <= kMaxHeader)
    content_type_ = str::trim(std::string_view(logical).substr(logical.find(':') + 1));
  maps::MapList* table = nullptr;
  const char* table_name = "";
  if (kind_ == HeaderKind::Part || mime_header(name)) {
    table = t_.mime_header;
    table_name = "mime_header_checks";
  } else if (kind_ == HeaderKind::Nested) {
    table = t_.nested_header;
    table_name = "nested_header_checks";
  } else {
    table = t_.header;
    table_name = "header_checks";
  }
  if (!stopped_ && table && logical.size() <= kMaxHeader && !check(table, table_name, "header", logical, out)) return;
  out->append(raw);
}

void ContentInspector::start_body() {
  section_ = Section::Body;
  body_seen_ = 0;
  std::string ct = std::move(content_type_);
  content_type_.clear();
  if (ct.empty()) return;
  mail::MimePart part;
  mail::parse_content_type(ct, part);
  if (part.is_multipart()) {
    const mail::MimeParam* b = part.param("boundary");
    if (b && !b->value.empty() && boundaries_.size() < kMaxDepth) boundaries_.push_back(b->value);
    return;
  }
  // An attached message: its header block follows at once.
  if (part.type == "message" && (part.subtype == "rfc822" || part.subtype == "global") &&
      boundaries_.size() < kMaxDepth) {
    section_ = Section::Header;
    kind_ = HeaderKind::Nested;
  }
}

bool ContentInspector::boundary(std::string_view text) {
  if (boundaries_.empty() || !text.starts_with("--")) return false;
  std::string_view rest = text.substr(2);
  // The innermost boundary first; a line with an outer one closes the inner parts too.
  for (size_t i = boundaries_.size(); i-- > 0;) {
    const std::string& b = boundaries_[i];
    if (!rest.starts_with(b)) continue;
    std::string_view after = rest.substr(b.size());
    if (after.starts_with("--")) {
      boundaries_.resize(i);
      section_ = Section::Body;
      body_seen_ = 0;
      return true;
    }
    if (!str::trim(after).empty()) continue;
    boundaries_.resize(i + 1);
    section_ = Section::Header;
    kind_ = HeaderKind::Part;
    content_type_.clear();
    return true;
  }
  return false;
}

bool ContentInspector::check(maps::MapList* table, const char* table_name, const char* where, std::string_view key,
                             std::string* out) {
  if (table->empty()) return true;
  auto found = table->lookup(key);
  if (!found) {
    // Postfix defers the message when a table cannot be read.
    warnings_.push_back(std::string(table_name) + ": table lookup failed: " + found.error().str());
    reject_status_ = 451;
    reject_text_ = "4.3.0 Error: " + std::string(table_name) + " lookup failure";
    stopped_ = true;
    return true;
  }
  if (!found->has_value()) return true;
  auto rule = parse_content_action(**found);
  if (!rule) {
    warnings_.push_back(std::string(table_name) + ": " + rule.error() + " in \"" + str::printable(**found, 100) +
                        "\" (taken as DUNNO)");
    return true;
  }
  std::string line = str::printable(key, 200);
  auto event = [&](const char* action, std::string text) {
    events_.push_back({action, where, line, std::move(text)});
  };
  const std::string& text = rule->text;
  switch (rule->action) {
    case ContentAction::Dunno:
    case ContentAction::Ok:
      return true;
    case ContentAction::Reject:
      reject_status_ = 550;
      if (text.empty()) reject_text_ = "5.7.1 Message content rejected";
      else if (has_dsn(text)) reject_text_ = text;
      else reject_text_ = "5.7.1 " + text;
      if (reject_text_[0] == '4') reject_status_ = 450;
      event("reject", reject_text_);
      stopped_ = true;
      return true;
    case ContentAction::Discard:
      discarded_ = true;
      stopped_ = true;
      event("discard", text);
      return true;
    case ContentAction::Hold:
      held_ = true;
      event("hold", text);
      return true;
    case ContentAction::Warn:
      event("warning", text);
      return true;
    case ContentAction::Ignore:
      return false;
    case ContentAction::Replace:
      event("replace", text);
      out->append(str::header_text(text, kMaxLine));
      out->append("\r\n");
      return false;
    case ContentAction::Prepend:
      event("prepend", text);
      out->append(str::header_text(text, kMaxLine));
      out->append("\r\n");
      return true;
    case ContentAction::Redirect:
      redirect_ = text;
      event("redirect", text);
      return true;
  }
  return true;
}

}  // namespace postilion::smtpd
