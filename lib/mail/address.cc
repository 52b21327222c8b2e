// lib/mail/address.cc - parsing and formatting of mail addresses.
#include "lib/mail/address.h"

#include "lib/base/strings.h"

namespace postilion::mail {
namespace {

bool is_atext(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

bool has_control(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return true;
  return false;
}

// Position of the '@' that separates local part and domain: the last one outside quotes.
size_t find_at(std::string_view s) {
  bool quoted = false;
  size_t at = std::string_view::npos;
  for (size_t i = 0; i < s.size(); ++i) {
    if (quoted && s[i] == '\\') {
      ++i;
      continue;
    }
    if (s[i] == '"') quoted = !quoted;
    else if (!quoted && s[i] == '@') at = i;
  }
  return at;
}

// A raw local part is a quoted string with nothing after the closing quote, or
// text without quotes, whitespace or specials.
bool valid_raw_local(std::string_view l) {
  if (!l.empty() && l.front() == '"') {
    for (size_t i = 1; i < l.size(); ++i) {
      if (l[i] == '\\') {
        ++i;
        continue;
      }
      if (l[i] == '"') return i == l.size() - 1;
    }
    return false;
  }
  return l.find_first_of(" \t\"<>(),;:[]\\") == std::string_view::npos;
}

}  // namespace

std::string quote_local(std::string_view local) {
  bool dot_string = !local.empty() && local.front() != '.' && local.back() != '.';
  for (size_t i = 0; dot_string && i < local.size(); ++i) {
    char c = local[i];
    if (c == '.') {
      if (i + 1 < local.size() && local[i + 1] == '.') dot_string = false;
    } else if (!is_atext(c)) {
      dot_string = false;
    }
  }
  if (dot_string) return std::string(local);
  std::string out = "\"";
  for (char c : local) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string unquote_local(std::string_view local) {
  if (local.size() < 2 || local.front() != '"' || local.back() != '"') return std::string(local);
  std::string out;
  for (size_t i = 1; i + 1 < local.size(); ++i) {
    if (local[i] == '\\' && i + 2 < local.size()) ++i;
    out += local[i];
  }
  return out;
}

std::string Address::str() const {
  std::string l = quote_local(local);
  if (local.empty()) l.clear();
  return domain.empty() ? l : l + "@" + domain;
}

std::optional<Address> parse_address(std::string_view addr) {
  if (addr.size() > kMaxAddressLength || has_control(addr)) return std::nullopt;
  if (addr.empty()) return Address{};
  Address out;
  size_t at = find_at(addr);
  if (!valid_raw_local(addr.substr(0, at == std::string_view::npos ? addr.size() : at)))
    return std::nullopt;
  if (at == std::string_view::npos) {
    out.local = unquote_local(addr);
    return out;
  }
  out.local = unquote_local(addr.substr(0, at));
  out.domain = str::lower(addr.substr(at + 1));
  if (out.local.empty() || out.domain.empty()) return std::nullopt;
  if (out.domain.find_first_of(" \t\"<>()[],;:@\\") != std::string::npos &&
      !(out.domain.front() == '[' && out.domain.back() == ']'))
    return std::nullopt;
  return out;
}

std::optional<std::string> parse_path(std::string_view path) {
  path = str::trim(path);
  if (path.size() < 2 || path.front() != '<' || path.back() != '>') return std::nullopt;
  std::string_view inner = path.substr(1, path.size() - 2);
  if (inner.empty()) return std::string();
  if (inner.front() == '@') {  // source route: @a,@b:user@domain
    size_t colon = inner.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    inner = inner.substr(colon + 1);
  }
  if (inner.find_first_of("<>") != std::string_view::npos) return std::nullopt;
  auto a = parse_address(inner);
  if (!a || a->local.empty()) return std::nullopt;
  return a->str();
}

LocalParts split_extension(std::string_view local, std::string_view delimiters) {
  LocalParts out;
  size_t pos = delimiters.empty() ? std::string_view::npos : local.find_first_of(delimiters);
  if (pos == std::string_view::npos || pos == 0) {
    out.user = std::string(local);
    return out;
  }
  out.user = std::string(local.substr(0, pos));
  out.extension = std::string(local.substr(pos + 1));
  out.delimiter = local[pos];
  return out;
}

std::vector<std::string> virtual_lookup_keys(std::string_view address, std::string_view delimiters) {
  auto a = parse_address(address);
  if (!a || a->local.empty() || a->domain.empty()) return {};
  std::vector<std::string> keys{a->str()};
  auto parts = split_extension(a->local, delimiters);
  if (!parts.extension.empty()) keys.push_back(Address{parts.user, a->domain}.str());
  keys.push_back("@" + a->domain);
  return keys;
}

bool domain_in(std::string_view domain, const std::vector<std::string>& names) {
  for (const auto& n : names)
    if (str::iequals(domain, n)) return true;
  return false;
}

std::vector<std::string> parse_address_list(std::string_view v) {
  // A small tokenizer: quoted strings, comments, <angle addresses>, and bare words
  // separated by ',' ';' ':' (group syntax). A word list directly before '<' is a
  // display name and is dropped.
  std::vector<std::string> out;
  std::string current;      // bare address text collected so far
  bool saw_angle = false;
  auto flush = [&] {
    std::string a(str::trim(current));
    if (!saw_angle && !a.empty() && a.find(' ') == std::string::npos) {
      if (auto p = parse_address(a); p && !p->local.empty()) out.push_back(p->str());
    }
    current.clear();
    saw_angle = false;
  };
  for (size_t i = 0; i < v.size(); ++i) {
    char c = v[i];
    if (c == '(') {  // comment, may nest
      int depth = 1;
      for (++i; i < v.size() && depth > 0; ++i) {
        if (v[i] == '\\') ++i;
        else if (v[i] == '(') ++depth;
        else if (v[i] == ')') --depth;
      }
      --i;
      current += ' ';
    } else if (c == '"') {
      current += c;
      for (++i; i < v.size() && v[i] != '"'; ++i) {
        if (v[i] == '\\' && i + 1 < v.size()) current += v[i++];
        current += v[i];
      }
      current += '"';
    } else if (c == '<') {
      size_t end = v.find('>', i);
      if (end == std::string_view::npos) break;
      std::string_view inner = v.substr(i + 1, end - i - 1);
      if (auto p = parse_path(std::string("<") + std::string(inner) + ">"); p && !p->empty())
        out.push_back(*p);
      saw_angle = true;
      current.clear();
      i = end;
    } else if (c == ',' || c == ';') {
      flush();
    } else if (c == ':') {
      current.clear();  // group name
      saw_angle = false;
    } else if (c == '\r' || c == '\n') {
      current += ' ';
    } else {
      current += c;
    }
  }
  flush();
  return out;
}

}  // namespace postilion::mail
