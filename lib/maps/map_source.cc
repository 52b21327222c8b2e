// lib/maps/map_source.cc - text lookup table parser (see map_source.h).
#include "lib/maps/map_source.h"

#include <algorithm>
#include <unordered_map>
#include <utility>

#include "lib/base/strings.h"

namespace postilion::maps {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t'; }

// A logical line into a key and a value, as the syntax says; entries in file order, the
// first of duplicate keys wins.
class SourceParser {
 public:
  SourceParser(Syntax syntax, std::string_view file) : syntax_(syntax), file_(file) {}

  MapSource run(std::string_view text) {
    auto lines = logical_lines(text, [this](size_t line, const std::string& why) { error(line, why); });
    for (const LogicalLine& l : lines)
      if (!l.broken && !l.text.empty()) entry(l.text, l.line);
    // The line errors and the entry errors, in the order of the lines they name.
    std::stable_sort(errors_.begin(), errors_.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& e : errors_) out_.errors.push_back(std::move(e.second));
    return std::move(out_);
  }

 private:
  std::string where(size_t line) const { return std::string(file_) + ":" + std::to_string(line) + ": "; }
  void error(size_t line, const std::string& text) { errors_.emplace_back(line, where(line) + text); }

  void entry(std::string_view l, size_t line) {
    std::string key, value;
    if (syntax_ == Syntax::Postmap) {
      size_t sp = l.find_first_of(" \t");
      if (sp == std::string_view::npos || str::trim(l.substr(sp)).empty())
        return error(line, "expected format: key whitespace value");
      key = fold_key(l.substr(0, sp));
      value = str::trim(l.substr(sp));
    } else {
      size_t colon = l.find(':');
      std::string_view k = colon == std::string_view::npos ? std::string_view() : str::trim(l.substr(0, colon));
      if (colon == std::string_view::npos || k.empty() || k.find_first_of(" \t") != std::string_view::npos)
        return error(line, "expected format: name: value");
      value = str::trim(l.substr(colon + 1));
      if (value.empty()) return error(line, "alias " + str::printable(k) + " has no value");
      key = fold_key(k);
    }
    auto [it, fresh] = seen_.emplace(key, line);
    if (!fresh) {
      out_.warnings.push_back(where(line) + "duplicate entry \"" + str::printable(key) +
                              "\" ignored (first at line " + std::to_string(it->second) + ")");
      return;
    }
    out_.entries.push_back({std::move(key), std::move(value), line});
  }

  Syntax syntax_;
  std::string_view file_;
  MapSource out_;
  std::vector<std::pair<size_t, std::string>> errors_;
  std::unordered_map<std::string, size_t> seen_;
};

// A physical line's problem, or "" when it has none.
std::string problem(std::string_view line) {
  if (line.size() > kMaxLineLength)
    return str::format("line too long (%zu bytes, limit %zu)", line.size(), kMaxLineLength);
  for (char c : line)
    if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f)
      return str::format("control character 0x%02x in line", static_cast<unsigned char>(c));
  return {};
}

}  // namespace

std::vector<LogicalLine> logical_lines(std::string_view text,
                                       const std::function<void(size_t line, const std::string& why)>& error) {
  std::vector<LogicalLine> out;
  size_t pos = 0, lineno = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    bool continuation = !line.empty() && is_space(line[0]);
    if (std::string why = problem(line); !why.empty()) {
      error(lineno, why);
      // The whole logical line it belongs to is dropped, continuations included.
      if (continuation && !out.empty()) out.back().broken = true;
      else out.push_back({lineno, "", true});
      continue;
    }
    std::string_view t = str::trim(line);
    if (t.empty() || t[0] == '#') continue;  // blank and comment lines do not end a logical line
    if (!continuation) {
      out.push_back({lineno, std::string(t), false});
      continue;
    }
    if (out.empty()) {
      error(lineno, "continuation line without a preceding line");
      continue;
    }
    LogicalLine& l = out.back();
    if (l.broken) continue;
    if (l.text.size() + 1 + t.size() > kMaxLineLength) {
      error(lineno, str::format("logical line too long (limit %zu)", kMaxLineLength));
      l.broken = true;
      continue;
    }
    l.text += ' ';
    l.text += t;
  }
  return out;
}

std::string fold_key(std::string_view key) { return str::lower(key); }

MapSource parse_map_source(std::string_view text, Syntax syntax, std::string_view file_name) {
  return SourceParser(syntax, file_name).run(text);
}

}  // namespace postilion::maps
