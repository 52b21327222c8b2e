// lib/imap/fetch.cc - FETCH attribute parsing and response names.
#include "lib/imap/fetch.h"

#include "lib/base/strings.h"

namespace postilion::imap {
namespace {

using Err = std::string;

std::optional<uint32_t> number(std::string_view s, bool allow_zero) {
  if (s.empty() || s.size() > 10) return std::nullopt;
  if (s.size() > 1 && s[0] == '0') return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + uint64_t(c - '0');
  }
  if (v > UINT32_MAX || (!allow_zero && v == 0)) return std::nullopt;
  return static_cast<uint32_t>(v);
}

bool header_name_char(char c) {
  return c > 32 && c < 127 && c != ':' && c != '(' && c != ')' && c != '"' && c != '[' &&
         c != ']';
}

// "(From To "X-Y")" -> names
std::optional<Err> parse_field_list(std::string_view s, std::vector<std::string>& out) {
  s = str::trim(s);
  if (s.size() < 2 || s.front() != '(' || s.back() != ')') return Err("Invalid header field list");
  s = s.substr(1, s.size() - 2);
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] == ' ') {
      ++i;
      continue;
    }
    std::string name;
    if (s[i] == '"') {
      ++i;
      while (i < s.size() && s[i] != '"') {
        if (s[i] == '\\' && i + 1 < s.size()) ++i;
        name += s[i++];
      }
      if (i >= s.size()) return Err("Invalid header field list");
      ++i;
    } else {
      while (i < s.size() && s[i] != ' ') name += s[i++];
    }
    if (name.empty()) return Err("Invalid header field name");
    for (char c : name)
      if (!header_name_char(c)) return Err("Invalid header field name");
    if (out.size() >= kMaxHeaderFieldNames) return Err("Too many header fields");
    out.push_back(std::move(name));
  }
  if (out.empty()) return Err("Empty header field list");
  return std::nullopt;
}

std::optional<Err> parse_section(std::string_view s, SectionSpec& sec, bool binary) {
  // section-part, then an optional text part.
  size_t i = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    size_t dot = s.find('.', i);
    size_t end = dot == std::string_view::npos ? s.size() : dot;
    auto n = number(s.substr(i, end - i), false);
    if (!n) return Err("Invalid section number");
    if (sec.part.size() >= kMaxSectionDepth) return Err("Section too deep");
    sec.part.push_back(*n);
    i = dot == std::string_view::npos ? s.size() : dot + 1;
    if (dot != std::string_view::npos && i == s.size()) return Err("Invalid section");
  }
  std::string_view text = s.substr(i);
  if (text.empty()) return std::nullopt;
  if (binary) return Err("Invalid BINARY section");
  size_t sp = text.find(' ');
  std::string word = str::upper(text.substr(0, sp));
  if (word == "HEADER") sec.text = SectionSpec::Text::Header;
  else if (word == "TEXT") sec.text = SectionSpec::Text::Text;
  else if (word == "MIME") sec.text = SectionSpec::Text::Mime;
  else if (word == "HEADER.FIELDS") sec.text = SectionSpec::Text::HeaderFields;
  else if (word == "HEADER.FIELDS.NOT") sec.text = SectionSpec::Text::HeaderFieldsNot;
  else return Err("Invalid section text");
  if (sec.text == SectionSpec::Text::Mime && sec.part.empty()) return Err("MIME needs a part number");
  bool fields = sec.text == SectionSpec::Text::HeaderFields ||
                sec.text == SectionSpec::Text::HeaderFieldsNot;
  if (!fields) {
    if (sp != std::string_view::npos) return Err("Invalid section");
    return std::nullopt;
  }
  if (sp == std::string_view::npos) return Err("Missing header field list");
  return parse_field_list(text.substr(sp + 1), sec.fields);
}

bool needs_quotes(std::string_view s) {
  if (s.empty()) return true;
  for (char c : s)
    if (!header_name_char(c) || c == '%' || c == '*' || c == '\\' || c == '{') return true;
  return false;
}

}  // namespace

std::string SectionSpec::str() const {
  std::string out;
  for (uint32_t n : part) {
    if (!out.empty()) out += '.';
    out += std::to_string(n);
  }
  const char* t = nullptr;
  switch (text) {
    case Text::Full: break;
    case Text::Header: t = "HEADER"; break;
    case Text::HeaderFields: t = "HEADER.FIELDS"; break;
    case Text::HeaderFieldsNot: t = "HEADER.FIELDS.NOT"; break;
    case Text::Text: t = "TEXT"; break;
    case Text::Mime: t = "MIME"; break;
  }
  if (t) {
    if (!out.empty()) out += '.';
    out += t;
  }
  if (!fields.empty()) {
    out += " (";
    for (size_t i = 0; i < fields.size(); ++i) {
      if (i) out += ' ';
      if (needs_quotes(fields[i])) out += "\"" + fields[i] + "\"";
      else out += str::upper(fields[i]);
    }
    out += ')';
  }
  return out;
}

bool FetchItem::sets_seen() const {
  switch (kind) {
    case Kind::Rfc822:
    case Kind::Rfc822Text: return true;
    case Kind::Section:
    case Kind::Binary: return !peek;
    default: return false;
  }
}

std::string FetchItem::response_name() const {
  switch (kind) {
    case Kind::Flags: return "FLAGS";
    case Kind::Uid: return "UID";
    case Kind::InternalDate: return "INTERNALDATE";
    case Kind::Rfc822: return "RFC822";
    case Kind::Rfc822Size: return "RFC822.SIZE";
    case Kind::Rfc822Header: return "RFC822.HEADER";
    case Kind::Rfc822Text: return "RFC822.TEXT";
    case Kind::Envelope: return "ENVELOPE";
    case Kind::Body: return "BODY";
    case Kind::BodyStructure: return "BODYSTRUCTURE";
    case Kind::ModSeq: return "MODSEQ";
    case Kind::Section:
    case Kind::Binary:
    case Kind::BinarySize: {
      std::string n = kind == Kind::Section ? "BODY[" : kind == Kind::Binary ? "BINARY[" : "BINARY.SIZE[";
      n += section.str() + "]";
      if (partial_offset) n += "<" + std::to_string(*partial_offset) + ">";
      return n;
    }
  }
  return "";
}

std::variant<FetchItem, std::string> parse_fetch_item(std::string_view atom) {
  FetchItem item;
  size_t bracket = atom.find('[');
  std::string name = str::upper(atom.substr(0, bracket));
  using K = FetchItem::Kind;
  if (bracket == std::string_view::npos) {
    static const struct { const char* name; K kind; } kSimple[] = {
        {"FLAGS", K::Flags}, {"UID", K::Uid}, {"INTERNALDATE", K::InternalDate},
        {"RFC822", K::Rfc822}, {"RFC822.SIZE", K::Rfc822Size}, {"RFC822.HEADER", K::Rfc822Header},
        {"RFC822.TEXT", K::Rfc822Text}, {"ENVELOPE", K::Envelope}, {"BODY", K::Body},
        {"BODYSTRUCTURE", K::BodyStructure}, {"MODSEQ", K::ModSeq}};
    for (const auto& s : kSimple)
      if (name == s.name) {
        item.kind = s.kind;
        return item;
      }
    return Err("Invalid fetch attribute");
  }
  bool binary = false;
  if (name == "BODY") {
    item.kind = K::Section;
  } else if (name == "BODY.PEEK") {
    item.kind = K::Section;
    item.peek = true;
  } else if (name == "BINARY") {
    item.kind = K::Binary;
    binary = true;
  } else if (name == "BINARY.PEEK") {
    item.kind = K::Binary;
    item.peek = true;
    binary = true;
  } else if (name == "BINARY.SIZE") {
    item.kind = K::BinarySize;
    binary = true;
  } else {
    return Err("Invalid fetch attribute");
  }
  size_t close = atom.find(']', bracket);
  // A quoted field name may hold ']': find the bracket outside quotes.
  bool quote = false;
  for (size_t i = bracket + 1; i < atom.size(); ++i) {
    if (atom[i] == '"') quote = !quote;
    if (atom[i] == ']' && !quote) {
      close = i;
      break;
    }
  }
  if (close == std::string_view::npos) return Err("Missing ']'");
  if (auto e = parse_section(atom.substr(bracket + 1, close - bracket - 1), item.section, binary)) return *e;
  std::string_view rest = atom.substr(close + 1);
  if (rest.empty()) return item;
  if (item.kind == K::BinarySize) return Err("Invalid fetch attribute");
  if (rest.front() != '<' || rest.back() != '>') return Err("Invalid partial");
  rest = rest.substr(1, rest.size() - 2);
  size_t dot = rest.find('.');
  if (dot == std::string_view::npos) return Err("Invalid partial");
  auto o = number(rest.substr(0, dot), true);
  auto n = number(rest.substr(dot + 1), false);
  if (!o || !n) return Err("Invalid partial");
  item.partial_offset = *o;
  item.partial_length = *n;
  return item;
}

std::variant<FetchRequest, std::string> parse_fetch(const std::vector<Arg>& args, size_t first) {
  FetchRequest req;
  if (first >= args.size()) return Err("Missing fetch attributes");
  const Arg& a = args[first];
  using K = FetchItem::Kind;
  auto add = [&](K k) {
    FetchItem it;
    it.kind = k;
    req.items.push_back(it);
  };
  if (a.is_atom()) {
    std::string m = str::upper(a.text);
    if (m == "ALL" || m == "FAST" || m == "FULL") {
      add(K::Flags);
      add(K::InternalDate);
      add(K::Rfc822Size);
      if (m != "FAST") add(K::Envelope);
      if (m == "FULL") add(K::Body);
    } else {
      auto it = parse_fetch_item(a.text);
      if (auto* e = std::get_if<std::string>(&it)) return *e;
      req.items.push_back(std::get<FetchItem>(it));
    }
  } else if (a.is_list()) {
    if (a.list.empty()) return Err("Empty fetch attribute list");
    for (const Arg& x : a.list) {
      if (!x.is_atom()) return Err("Invalid fetch attribute");
      auto it = parse_fetch_item(x.text);
      if (auto* e = std::get_if<std::string>(&it)) return *e;
      req.items.push_back(std::get<FetchItem>(it));
    }
  } else {
    return Err("Invalid fetch attribute");
  }
  if (first + 1 < args.size()) {
    const Arg& mods = args[first + 1];
    if (!mods.is_list() || first + 2 < args.size()) return Err("Invalid fetch modifiers");
    for (size_t i = 0; i < mods.list.size(); ++i) {
      const Arg& m = mods.list[i];
      std::string name = m.is_atom() ? str::upper(m.text) : "";
      if (name == "CHANGEDSINCE" && i + 1 < mods.list.size() && mods.list[i + 1].is_atom() &&
          !req.changedsince) {
        auto v = str::parse_uint(mods.list[i + 1].text);
        if (!v || *v == 0 || mods.list[i + 1].text[0] == '+') return Err("Invalid CHANGEDSINCE");
        req.changedsince = *v;
        ++i;
      } else if (name == "VANISHED" && !req.vanished) {
        req.vanished = true;
      } else {
        return Err("Unknown fetch modifier");
      }
    }
  }
  return req;
}

}  // namespace postilion::imap
