// lib/mail/header.cc - header section parsing and rewriting.
#include "lib/mail/header.h"

#include "lib/base/strings.h"

namespace postilion::mail {
namespace {

// End of the line starting at pos (index after '\n', or size).
size_t line_end(std::string_view s, size_t pos) {
  size_t nl = s.find('\n', pos);
  return nl == std::string_view::npos ? s.size() : nl + 1;
}

bool is_blank_line(std::string_view line) { return line == "\n" || line == "\r\n"; }

bool valid_field_name(std::string_view name) {
  if (name.empty()) return false;
  for (unsigned char c : name)
    if (c <= 32 || c >= 127 || c == ':') return false;
  return true;
}

}  // namespace

std::string HeaderField::value() const {
  size_t colon = raw.find(':');
  std::string v;
  for (size_t i = colon + 1; i < raw.size(); ++i) {
    if (raw[i] == '\r' || raw[i] == '\n') continue;
    v += raw[i];
  }
  return std::string(str::trim(v));
}

std::optional<std::string> Headers::get(std::string_view name) const {
  for (const auto& f : fields)
    if (str::iequals(f.name, name)) return f.value();
  return std::nullopt;
}

std::vector<std::string> Headers::get_all(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& f : fields)
    if (str::iequals(f.name, name)) out.push_back(f.value());
  return out;
}

Headers parse_headers(std::string_view m) {
  Headers h;
  size_t pos = 0;
  while (pos < m.size()) {
    size_t end = line_end(m, pos);
    std::string_view line = m.substr(pos, end - pos);
    if (is_blank_line(line)) {
      h.complete = true;
      h.body_offset = end;
      return h;
    }
    if ((line[0] == ' ' || line[0] == '\t') && !h.fields.empty()) {
      h.fields.back().raw.append(line);
      pos = end;
      continue;
    }
    size_t colon = line.find(':');
    std::string_view name = colon == std::string_view::npos ? "" : str::trim(line.substr(0, colon));
    if (!valid_field_name(name) || h.fields.size() >= kMaxHeaderFields) break;
    h.fields.push_back({std::string(name), std::string(line)});
    pos = end;
  }
  h.body_offset = pos;
  return h;
}

std::string remove_fields(std::string_view message, const std::vector<std::string>& names) {
  Headers h = parse_headers(message);
  std::string out;
  for (const auto& f : h.fields) {
    bool drop = false;
    for (const auto& n : names) drop = drop || str::iequals(f.name, n);
    if (!drop) out += f.raw;
  }
  // Everything from the end of the last field on (blank line and body) is kept.
  size_t fields_end = 0;
  for (const auto& f : h.fields) fields_end += f.raw.size();
  out.append(message.substr(fields_end));
  return out;
}

std::string fold(std::string_view name, std::string_view value) {
  std::string out = std::string(name) + ":";
  size_t col = out.size();
  for (const auto& word : str::split(value, " \t")) {
    if (col + 1 + word.size() > 78 && col > name.size() + 1) {
      out += "\n\t";
      col = 8;
    } else {
      out += ' ';
      ++col;
    }
    out += word;
    col += word.size();
  }
  return out + "\n";
}

std::string to_crlf(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 32);
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) out += '\r';
    out += text[i];
  }
  return out;
}

std::string to_lf(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') continue;
    out += text[i];
  }
  return out;
}

}  // namespace postilion::mail
