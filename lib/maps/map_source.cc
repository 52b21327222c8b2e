// lib/maps/map_source.cc - text lookup table parser (see map_source.h).
#include "lib/maps/map_source.h"

#include <unordered_map>

#include "lib/base/strings.h"

namespace postilion::maps {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t'; }

class SourceParser {
 public:
  SourceParser(Syntax syntax, std::string_view file) : syntax_(syntax), file_(file) {}

  MapSource run(std::string_view text) {
    size_t pos = 0, lineno = 0;
    while (pos < text.size()) {
      size_t nl = text.find('\n', pos);
      std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
      pos = nl == std::string_view::npos ? text.size() : nl + 1;
      ++lineno;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      physical(line, lineno);
    }
    finish_logical();
    return std::move(out_);
  }

 private:
  std::string where(size_t line) const { return std::string(file_) + ":" + std::to_string(line) + ": "; }
  void error(size_t line, const std::string& text) { out_.errors.push_back(where(line) + text); }

  static std::string problem(std::string_view line) {
    if (line.size() > kMaxLineLength)
      return str::format("line too long (%zu bytes, limit %zu)", line.size(), kMaxLineLength);
    for (char c : line)
      if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f)
        return str::format("control character 0x%02x in line", static_cast<unsigned char>(c));
    return {};
  }

  void physical(std::string_view line, size_t lineno) {
    bool continuation = !line.empty() && is_space(line[0]);
    if (std::string why = problem(line); !why.empty()) {
      error(lineno, why);
      // The whole logical line it belongs to is dropped, continuations included.
      if (!continuation) {
        finish_logical();
        logical_.clear();
        logical_line_ = lineno;
        have_logical_ = true;
      }
      broken_ = true;
      return;
    }
    std::string_view t = str::trim(line);
    if (t.empty() || t[0] == '#') return;  // blank and comment lines do not end a logical line
    if (continuation) {
      if (!have_logical_) {
        error(lineno, "continuation line without a preceding line");
        return;
      }
      if (broken_) return;
      if (logical_.size() + 1 + t.size() > kMaxLineLength) {
        error(lineno, str::format("logical line too long (limit %zu)", kMaxLineLength));
        broken_ = true;
        return;
      }
      logical_ += ' ';
      logical_ += t;
      return;
    }
    finish_logical();
    logical_.assign(t);
    logical_line_ = lineno;
    have_logical_ = true;
    broken_ = false;
  }

  void finish_logical() {
    if (!have_logical_ || broken_ || logical_.empty()) return;
    std::string_view l = logical_;
    std::string key, value;
    if (syntax_ == Syntax::Postmap) {
      size_t sp = l.find_first_of(" \t");
      if (sp == std::string_view::npos || str::trim(l.substr(sp)).empty()) {
        error(logical_line_, "expected format: key whitespace value");
        logical_.clear();
        return;
      }
      key = fold_key(l.substr(0, sp));
      value = str::trim(l.substr(sp));
    } else {
      size_t colon = l.find(':');
      std::string_view k = colon == std::string_view::npos ? std::string_view() : str::trim(l.substr(0, colon));
      if (colon == std::string_view::npos || k.empty() || k.find_first_of(" \t") != std::string_view::npos) {
        error(logical_line_, "expected format: name: value");
        logical_.clear();
        return;
      }
      value = str::trim(l.substr(colon + 1));
      if (value.empty()) {
        error(logical_line_, "alias " + str::printable(k) + " has no value");
        logical_.clear();
        return;
      }
      key = fold_key(k);
    }
    logical_.clear();
    auto [it, fresh] = seen_.emplace(key, logical_line_);
    if (!fresh) {
      out_.warnings.push_back(where(logical_line_) + "duplicate entry \"" + str::printable(key) +
                              "\" ignored (first at line " + std::to_string(it->second) + ")");
      return;
    }
    out_.entries.push_back({std::move(key), std::move(value), logical_line_});
  }

  Syntax syntax_;
  std::string_view file_;
  MapSource out_;
  std::string logical_;
  size_t logical_line_ = 0;
  bool have_logical_ = false;
  bool broken_ = false;
  std::unordered_map<std::string, size_t> seen_;
};

}  // namespace

std::string fold_key(std::string_view key) { return str::lower(key); }

MapSource parse_map_source(std::string_view text, Syntax syntax, std::string_view file_name) {
  return SourceParser(syntax, file_name).run(text);
}

}  // namespace postilion::maps
