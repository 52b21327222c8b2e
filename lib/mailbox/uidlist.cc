// lib/mailbox/uidlist.cc - dovecot-uidlist, courierimapuiddb and dovecot-keywords.
#include "lib/mailbox/uidlist.h"

#include "lib/base/strings.h"

namespace postilion::mailbox {
namespace {

constexpr size_t kMaxLine = 64 * 1024;

std::optional<uint32_t> parse_u32(std::string_view s) {
  auto v = str::parse_uint(s);
  if (!v || *v > UINT32_MAX) return std::nullopt;
  return static_cast<uint32_t>(*v);
}

// A Maildir key as a reader accepts it (see maildir.h valid_name), at most 1 KiB.
bool valid_key(std::string_view k) {
  if (k.empty() || k.size() > 1024 || k[0] == '.') return false;
  for (unsigned char c : k)
    if (c < 0x20 || c == 0x7f || c == '/' || c == ':') return false;
  return true;
}

// Splits text into lines (LF, an optional CR before it dropped).
std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> out;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    out.push_back(line);
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return out;
}

}  // namespace

std::optional<UidList> parse_uidlist(std::string_view text) {
  auto lines = lines_of(text);
  if (lines.empty()) return std::nullopt;
  UidList out;
  auto head = str::split(lines[0], " ");
  if (head.empty()) return std::nullopt;
  int version = 0;
  if (head[0] == "1" || head[0] == "2") {
    // "1 <uidvalidity> <nextuid>"
    if (head.size() < 3) return std::nullopt;
    auto v = parse_u32(head[1]);
    auto n = parse_u32(head[2]);
    if (!v || !n) return std::nullopt;
    out.uid_validity = *v;
    out.next_uid = *n;
    version = head[0] == "1" ? 1 : 2;
  } else if (head[0] == "3") {
    // "3 V<uidvalidity> N<nextuid> G<guid> ..."
    bool have_v = false, have_n = false;
    for (size_t i = 1; i < head.size(); ++i) {
      const std::string& f = head[i];
      if (f.size() < 2) continue;
      if (f[0] == 'V') {
        auto v = parse_u32(std::string_view(f).substr(1));
        if (!v) return std::nullopt;
        out.uid_validity = *v;
        have_v = true;
      } else if (f[0] == 'N') {
        auto n = parse_u32(std::string_view(f).substr(1));
        if (!n) return std::nullopt;
        out.next_uid = *n;
        have_n = true;
      }
    }
    if (!have_v || !have_n) return std::nullopt;
    version = 3;
  } else {
    return std::nullopt;
  }
  if (out.uid_validity == 0 || out.next_uid == 0) return std::nullopt;

  uint32_t last = 0;
  for (size_t i = 1; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    if (line.empty() || line.size() > kMaxLine) continue;
    size_t sp = line.find(' ');
    if (sp == std::string_view::npos) continue;
    auto uid = parse_u32(line.substr(0, sp));
    if (!uid || *uid == 0) continue;
    std::string_view rest = line.substr(sp + 1);
    std::string_view name;
    if (version == 3) {
      // "<uid> [<key><value> ...] :<filename>": the name follows the first " :".
      if (!rest.empty() && rest[0] == ':') {
        name = rest.substr(1);
      } else {
        size_t c = rest.find(" :");
        if (c == std::string_view::npos) continue;
        name = rest.substr(c + 2);
      }
    } else if (version == 2) {
      // "<uid> <flags> <filename>"
      size_t sp2 = rest.find(' ');
      if (sp2 == std::string_view::npos) continue;
      name = rest.substr(sp2 + 1);
    } else {
      name = rest;
    }
    std::string_view key = name.substr(0, name.find(':'));
    if (!valid_key(key)) continue;
    // UIDs ascend in every version; a row that does not is damage, not data.
    if (*uid <= last || *uid == UINT32_MAX) continue;
    last = *uid;
    out.entries.emplace_back(*uid, std::string(key));
  }
  // Dovecot appends rows without rewriting the header: its next UID may be older than
  // the rows below it.
  if (last >= out.next_uid) out.next_uid = last + 1;
  return out;
}

std::vector<std::string> parse_keywords(std::string_view text) {
  std::vector<std::string> names(26);
  for (std::string_view line : lines_of(text)) {
    if (line.size() > 1024) continue;
    size_t sp = line.find(' ');
    if (sp == std::string_view::npos) continue;
    auto idx = str::parse_uint(line.substr(0, sp));
    std::string_view name = line.substr(sp + 1);
    if (!idx || *idx >= 26 || name.empty() || name.size() > 255) continue;
    bool ok = true;
    // An IMAP atom: no space, control character, or atom-special.
    for (unsigned char c : name)
      if (c <= 0x20 || c >= 0x7f || c == '(' || c == ')' || c == '{' || c == '%' || c == '*' || c == '"' ||
          c == '\\' || c == ']')
        ok = false;
    if (!ok) continue;
    names[*idx] = std::string(name);
  }
  return names;
}

std::string format_keywords(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < 26; ++i)
    if (!names[i].empty()) out += std::to_string(i) + " " + names[i] + "\n";
  return out;
}

}  // namespace postilion::mailbox
