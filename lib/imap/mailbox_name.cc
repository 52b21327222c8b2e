// lib/imap/mailbox_name.cc - modified UTF-7, name validation, Maildir++ mapping, LIST
// patterns.
#include "lib/imap/mailbox_name.h"

#include <vector>

#include "lib/base/strings.h"

namespace postilion::imap {
namespace {

const char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

int b64(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == ',') return 63;
  return -1;
}

void put_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

// Next code point of UTF-8 text at s[i]; invalid bytes give U+FFFD and *ok = false.
uint32_t next_cp(std::string_view s, size_t& i, bool* ok) {
  unsigned char c = s[i];
  if (c < 0x80) {
    ++i;
    return c;
  }
  size_t n = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
  uint32_t cp = n == 4 ? c & 7 : n == 3 ? c & 15 : c & 31;
  if (n == 0 || i + n > s.size()) {
    ++i;
    *ok = false;
    return 0xFFFD;
  }
  for (size_t k = 1; k < n; ++k) {
    unsigned char d = s[i + k];
    if ((d & 0xC0) != 0x80) {
      ++i;
      *ok = false;
      return 0xFFFD;
    }
    cp = (cp << 6) | (d & 0x3F);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
      (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++i;
    *ok = false;
    return 0xFFFD;
  }
  i += n;
  return cp;
}

std::optional<std::string> decode(std::string_view s, bool strict) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = s[i];
    if (c < 0x20 || c > 0x7e) return std::nullopt;
    if (c != '&') {
      out += char(c);
      ++i;
      continue;
    }
    size_t end = s.find('-', i + 1);
    if (end == std::string_view::npos) return std::nullopt;
    if (end == i + 1) {  // "&-"
      out += '&';
      i = end + 1;
      continue;
    }
    uint32_t acc = 0;
    int bits = 0;
    std::vector<uint16_t> units;
    for (size_t k = i + 1; k < end; ++k) {
      int v = b64(s[k]);
      if (v < 0) return std::nullopt;
      acc = (acc << 6) | uint32_t(v);
      bits += 6;
      if (bits >= 16) {
        bits -= 16;
        units.push_back(uint16_t((acc >> bits) & 0xFFFF));
      }
    }
    if (bits >= 6 || (acc & ((1u << bits) - 1)) != 0) return std::nullopt;  // padding
    if (units.empty()) return std::nullopt;
    for (size_t k = 0; k < units.size(); ++k) {
      uint32_t u = units[k];
      if (u >= 0xD800 && u <= 0xDBFF) {
        if (k + 1 >= units.size() || units[k + 1] < 0xDC00 || units[k + 1] > 0xDFFF) return std::nullopt;
        u = 0x10000 + ((u - 0xD800) << 10) + (units[k + 1] - 0xDC00);
        ++k;
      } else if (u >= 0xDC00 && u <= 0xDFFF) {
        return std::nullopt;
      }
      if (strict && u >= 0x20 && u <= 0x7e) return std::nullopt;  // must be written directly
      if (u == 0) return std::nullopt;
      put_utf8(out, u);
    }
    i = end + 1;
  }
  return out;
}

std::vector<std::string_view> components(std::string_view name) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (true) {
    size_t sl = name.find(kSeparator, pos);
    out.push_back(name.substr(pos, sl == std::string_view::npos ? name.npos : sl - pos));
    if (sl == std::string_view::npos) break;
    pos = sl + 1;
  }
  return out;
}

}  // namespace

std::optional<std::string> mutf7_decode(std::string_view s) { return decode(s, true); }

std::string mutf7_encode(std::string_view utf8) {
  std::string out;
  size_t i = 0;
  while (i < utf8.size()) {
    unsigned char c = utf8[i];
    if (c >= 0x20 && c <= 0x7e) {
      out += char(c);
      if (c == '&') out += '-';
      ++i;
      continue;
    }
    // A run of characters outside printable ASCII, as base64 of UTF-16.
    std::vector<uint16_t> units;
    while (i < utf8.size() && !(static_cast<unsigned char>(utf8[i]) >= 0x20 &&
                                static_cast<unsigned char>(utf8[i]) <= 0x7e)) {
      bool ok = true;
      uint32_t cp = next_cp(utf8, i, &ok);
      if (cp >= 0x10000) {
        cp -= 0x10000;
        units.push_back(uint16_t(0xD800 + (cp >> 10)));
        units.push_back(uint16_t(0xDC00 + (cp & 0x3FF)));
      } else {
        units.push_back(uint16_t(cp));
      }
    }
    out += '&';
    uint32_t acc = 0;
    int bits = 0;
    for (uint16_t u : units) {
      acc = (acc << 16) | u;
      bits += 16;
      while (bits >= 6) {
        bits -= 6;
        out += kB64[(acc >> bits) & 63];
      }
      acc &= (1u << bits) - 1;
    }
    if (bits > 0) out += kB64[(acc << (6 - bits)) & 63];
    out += '-';
  }
  return out;
}

std::string normalize_inbox(std::string_view name) {
  size_t sl = name.find(kSeparator);
  std::string_view first = name.substr(0, sl);
  if (!str::iequals(first, "INBOX")) return std::string(name);
  return "INBOX" + std::string(sl == std::string_view::npos ? "" : name.substr(sl));
}

std::optional<std::string> validate_name(std::string_view name, bool for_create) {
  if (name.empty()) return "Empty mailbox name";
  if (name.size() > kMaxMailboxName) return "Mailbox name too long";
  size_t i = 0;
  while (i < name.size()) {
    bool ok = true;
    uint32_t cp = next_cp(name, i, &ok);
    if (!ok) return "Mailbox name is not valid UTF-8";
    if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xA0)) return "Control characters in mailbox name";
    if (for_create && (cp == '*' || cp == '%')) return "Wildcards in mailbox name";
  }
  if (name.front() == kSeparator) return "Mailbox name starts with a separator";
  if (name.back() == kSeparator) return "Mailbox name ends with a separator";
  for (std::string_view c : components(name)) {
    if (c.empty()) return "Empty component in mailbox name";
    if (c == "." || c == "..") return "Invalid component in mailbox name";
  }
  if (to_maildir(name).size() > kMaxMaildirName) return "Mailbox name too long";
  return std::nullopt;
}

std::optional<std::string> wire_to_name(std::string_view wire, bool utf8_accept, bool for_create,
                                        std::string* error) {
  std::string name;
  if (utf8_accept) {
    name = std::string(wire);
  } else {
    auto d = mutf7_decode(wire);
    if (!d) {
      if (error) *error = "Invalid modified UTF-7 in mailbox name";
      return std::nullopt;
    }
    name = std::move(*d);
  }
  if (for_create && name.size() > 1 && name.back() == kSeparator) name.pop_back();  // RFC 3501 6.3.3
  name = normalize_inbox(name);
  if (auto e = validate_name(name, for_create)) {
    if (error) *error = *e;
    return std::nullopt;
  }
  return name;
}

std::string to_maildir(std::string_view name) {
  std::string n = normalize_inbox(name);
  if (n == "INBOX") return "";
  std::string out;
  for (std::string_view c : components(n)) {
    out += '.';
    for (char ch : mutf7_encode(c)) {
      if (ch == '.') out += "&AC4-";
      else out += ch;
    }
  }
  return out;
}

std::optional<std::string> from_maildir(std::string_view dir) {
  if (dir.empty() || dir == ".") return std::string("INBOX");
  if (dir.front() != '.' || dir.size() < 2) return std::nullopt;
  std::string name;
  std::string_view rest = dir.substr(1);
  size_t pos = 0;
  while (true) {
    size_t dot = rest.find('.', pos);
    std::string_view c = rest.substr(pos, dot == std::string_view::npos ? rest.npos : dot - pos);
    if (c.empty()) return std::nullopt;
    auto d = decode(c, false);
    if (!d || d->find(kSeparator) != std::string::npos) return std::nullopt;
    if (!name.empty()) name += kSeparator;
    name += *d;
    if (dot == std::string_view::npos) break;
    pos = dot + 1;
  }
  name = normalize_inbox(name);
  if (name == "INBOX" || validate_name(name, false)) return std::nullopt;
  if (to_maildir(name) != dir) return std::nullopt;  // only the one spelling maps back
  return name;
}

bool list_match(std::string_view pattern, std::string_view name) {
  const size_t p = pattern.size();
  std::vector<char> cur(p + 1, 0), next(p + 1, 0);
  auto close = [&](std::vector<char>& s) {
    for (size_t k = 0; k < p; ++k)
      if (s[k] && (pattern[k] == '*' || pattern[k] == '%')) s[k + 1] = 1;
  };
  cur[0] = 1;
  close(cur);
  for (char c : name) {
    std::fill(next.begin(), next.end(), 0);
    bool any = false;
    for (size_t k = 0; k < p; ++k) {
      if (!cur[k]) continue;
      char pc = pattern[k];
      if (pc == '*' || (pc == '%' && c != kSeparator)) next[k] = 1, any = true;
      else if (pc == c) next[k + 1] = 1, any = true;
    }
    if (!any) return false;
    close(next);
    cur.swap(next);
  }
  return cur[p] != 0;
}

std::string list_join(std::string_view reference, std::string_view pattern) {
  if (!pattern.empty() && pattern.front() == kSeparator) return std::string(pattern.substr(1));
  return std::string(reference) + std::string(pattern);
}

}  // namespace postilion::imap
