// lib/mail/mime.cc - the MIME part tree: headers, parameters, boundaries, nesting.
#include "lib/mail/mime.h"

#include <algorithm>
#include <cstring>
#include <map>

#include "lib/base/strings.h"
#include "lib/mail/encoding.h"
#include "lib/mail/header.h"

namespace postilion::mail {
namespace {

constexpr size_t kMaxParams = 64;          // parameters kept per header
constexpr size_t kMaxParamSections = 128;  // RFC 2231 sections joined per parameter
constexpr size_t kMaxCommentDepth = 64;

bool tspecial(char c) { return std::strchr("()<>@,;:\\\"/[]?=", c) != nullptr && c != 0; }
// Also 8-bit bytes: tokens are US-ASCII (RFC 2045 5.1).
bool ctl_or_space(char c) { return static_cast<unsigned char>(c) <= 32 || static_cast<unsigned char>(c) >= 127; }

// A cursor over a structured header value (RFC 2045 tokens, quoted strings, comments).
struct Lexer {
  std::string_view s;
  size_t i = 0;

  bool done() const { return i >= s.size(); }
  char peek() const { return done() ? '\0' : s[i]; }

  void skip_cfws() {
    while (i < s.size()) {
      char c = s[i];
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        ++i;
      } else if (c == '(') {
        size_t depth = 0;
        while (i < s.size()) {
          char d = s[i++];
          if (d == '\\' && i < s.size()) ++i;
          else if (d == '(' && ++depth > kMaxCommentDepth) depth = kMaxCommentDepth;
          else if (d == ')' && --depth == 0) break;
        }
      } else {
        break;
      }
    }
  }

  std::string token() {
    size_t start = i;
    while (i < s.size() && !ctl_or_space(s[i]) && !tspecial(s[i])) ++i;
    return std::string(s.substr(start, i - start));
  }

  // After the opening quote: up to the closing one, backslash escapes removed.
  std::string quoted() {
    std::string out;
    ++i;
    while (i < s.size() && s[i] != '"') {
      if (s[i] == '\\' && i + 1 < s.size()) ++i;
      if (s[i] != '\r' && s[i] != '\n') out += s[i];
      ++i;
    }
    if (i < s.size()) ++i;
    return out;
  }

  // A parameter value: quoted, or (leniently) everything up to ';' or white space.
  std::string value() {
    if (peek() == '"') return quoted();
    size_t start = i;
    while (i < s.size() && s[i] != ';' && !ctl_or_space(s[i])) ++i;
    return std::string(s.substr(start, i - start));
  }
};

struct RawParam {
  std::string name;   // lowercase base name
  std::string written;  // the name as written
  int section = -1;   // RFC 2231 section, -1 when none
  bool encoded = false;
  std::string value;
};

void join_params(std::vector<RawParam>& raw, std::vector<MimeParam>& out) {
  // Plain parameters keep their order; sectioned ones are joined at the first one's place.
  std::vector<bool> used(raw.size(), false);
  for (size_t a = 0; a < raw.size() && out.size() < kMaxParams; ++a) {
    if (used[a]) continue;
    const RawParam& first = raw[a];
    MimeParam p;
    p.name = first.name;
    if (first.section < 0 && !first.encoded) {
      used[a] = true;
      bool dup = std::any_of(out.begin(), out.end(),
                             [&](const MimeParam& o) { return !o.extended && o.name == p.name; });
      if (dup) continue;
      p.value = first.value;
      p.name_as_written = first.written;
      out.push_back(std::move(p));
      continue;
    }
    // All sections of this name, by section number (name* alone is section 0).
    std::map<int, size_t> sections;
    for (size_t b = a; b < raw.size(); ++b) {
      if (used[b] || raw[b].name != first.name) continue;
      if (raw[b].section < 0 && !raw[b].encoded) continue;  // a plain one of the same name
      used[b] = true;
      int n = raw[b].section < 0 ? 0 : raw[b].section;
      if (sections.size() < kMaxParamSections) sections.emplace(n, b);
    }
    bool dup = std::any_of(out.begin(), out.end(),
                           [&](const MimeParam& o) { return o.extended && o.name == p.name; });
    if (dup) continue;
    int expect = 0;
    for (auto& [n, idx] : sections) {
      if (n != expect++) break;  // a gap ends the value (RFC 2231 3)
      const RawParam& r = raw[idx];
      std::string_view v = r.value;
      if (r.encoded) {
        if (n == 0) {
          size_t q1 = v.find('\'');
          size_t q2 = q1 == std::string_view::npos ? q1 : v.find('\'', q1 + 1);
          if (q2 != std::string_view::npos) {
            p.charset = str::lower(v.substr(0, q1));
            p.language = std::string(v.substr(q1 + 1, q2 - q1 - 1));
            v = v.substr(q2 + 1);
          }
        }
        p.extended = true;
        p.value += percent_decode(v);
      } else {
        p.value += v;
      }
    }
    if (!p.extended && sections.size() > 0) {
      // name*0="a" name*1="b": a continued plain value; named as a plain parameter.
      bool plain_dup = std::any_of(out.begin(), out.end(),
                                   [&](const MimeParam& o) { return !o.extended && o.name == p.name; });
      if (plain_dup) continue;
    }
    out.push_back(std::move(p));
  }
}

void parse_param_list(Lexer& lx, std::vector<MimeParam>& params) {
  std::vector<RawParam> raw;
  while (true) {
    lx.skip_cfws();
    if (lx.done()) break;
    if (lx.peek() != ';') {
      // Junk between parameters: skip to the next ';'.
      size_t semi = lx.s.find(';', lx.i);
      if (semi == std::string_view::npos) break;
      lx.i = semi;
    }
    ++lx.i;
    lx.skip_cfws();
    std::string written = lx.token();
    std::string name = str::lower(written);
    lx.skip_cfws();
    if (lx.peek() != '=') continue;
    ++lx.i;
    lx.skip_cfws();
    std::string value = lx.value();
    if (name.empty() || raw.size() >= kMaxParams * 4) continue;
    RawParam r;
    r.value = std::move(value);
    r.written = std::move(written);
    size_t star = name.find('*');
    if (star == std::string::npos) {
      r.name = std::move(name);
    } else {
      r.name = name.substr(0, star);
      std::string_view rest = std::string_view(name).substr(star + 1);
      if (!rest.empty() && rest.back() == '*') {
        r.encoded = true;
        rest.remove_suffix(1);
      } else if (rest.empty()) {
        r.encoded = true;  // "name*=" is an extended single value
      }
      if (!rest.empty()) {
        if (rest.back() == '*') rest.remove_suffix(1);
        auto n = str::parse_uint(rest);
        if (!n || *n > 100000) continue;
        r.section = static_cast<int>(*n);
      }
      if (r.name.empty()) continue;
    }
    raw.push_back(std::move(r));
  }
  join_params(raw, params);
}

// Line ends in [from, to).
size_t count_lines(std::string_view m, size_t from, size_t to) {
  return static_cast<size_t>(std::count(m.begin() + from, m.begin() + to, '\n'));
}

struct Delimiter {
  size_t line_start = std::string_view::npos;  // npos: none found
  size_t next = 0;                             // after the delimiter line
  bool final = false;
};

// The first line in [from, limit) that is "--boundary" or "--boundary--", optionally
// followed by white space (RFC 2046 5.1.1), at the start of a line.
Delimiter find_delimiter(std::string_view m, size_t from, size_t limit, const std::string& boundary) {
  std::string dash = "--" + boundary;
  size_t pos = from;
  while (pos < limit) {
    size_t hit = m.substr(0, limit).find(dash, pos);
    if (hit == std::string_view::npos) break;
    pos = hit + 1;
    if (hit != from && m[hit - 1] != '\n') continue;
    size_t k = hit + dash.size();
    bool final = false;
    if (k + 2 <= limit && m[k] == '-' && m[k + 1] == '-') {
      final = true;
      k += 2;
    }
    while (k < limit && (m[k] == ' ' || m[k] == '\t' || m[k] == '\r')) ++k;
    if (k < limit && m[k] != '\n') continue;
    Delimiter d;
    d.line_start = hit;
    d.next = k < limit ? k + 1 : limit;
    d.final = final;
    return d;
  }
  return {};
}

class Parser {
 public:
  Parser(std::string_view m, const MimeLimits& limits, MimeTree& tree)
      : m_(m), limits_(limits), tree_(tree) {}

  // Parses the part in [start, limit) and returns its index.
  size_t part(size_t start, size_t limit, size_t depth, size_t parent, bool digest_child) {
    size_t idx = tree_.parts.size();
    tree_.parts.emplace_back();
    {
      MimePart& p = tree_.parts[idx];
      p.parent = parent;
      p.depth = depth;
      p.header_start = start;
      p.end = limit;
      if (digest_child) {
        p.type = "message";
        p.subtype = "rfc822";
      }
      read_header(p, start, limit);
      p.body_lines = count_lines(m_, p.body_start, p.end);
    }
    MimePart& p = tree_.parts[idx];
    bool leaf_by_limit = depth + 1 > limits_.max_depth;
    if (p.is_multipart() && !p.boundary.empty()) {
      if (leaf_by_limit) {
        tree_.truncated = true;
        return idx;
      }
      multipart(idx, depth);
    } else if (p.type == "message" && (p.subtype == "rfc822" || p.subtype == "global") &&
               (p.encoding.empty() || p.encoding == "7bit" || p.encoding == "8bit" ||
                p.encoding == "binary")) {
      if (leaf_by_limit || tree_.parts.size() >= limits_.max_parts) {
        tree_.truncated = true;
        return idx;
      }
      size_t body_start = p.body_start, end = p.end;
      size_t child = part(body_start, end, depth + 1, idx, false);
      tree_.parts[idx].children.push_back(child);
    }
    return idx;
  }

 private:
  void read_header(MimePart& p, size_t start, size_t limit) {
    Headers h = parse_headers(m_.substr(start, limit - start));
    p.body_start = start + h.body_offset;
    p.header_complete = h.complete;
    for (const HeaderField& f : h.fields) {
      const std::string& n = f.name;
      if (!str::istarts_with(n, "content-")) continue;
      std::string v = f.value();
      if (str::iequals(n, "Content-Type")) {
        if (!p.content_type_given) parse_content_type(v, p);
      } else if (str::iequals(n, "Content-Transfer-Encoding")) {
        Lexer lx{v};
        lx.skip_cfws();
        p.encoding_as_written = lx.token();
        p.encoding = str::lower(p.encoding_as_written);
      } else if (str::iequals(n, "Content-Disposition")) {
        if (!p.disposition) {
          std::string t = parse_params(v, p.disposition_params, &p.disposition_as_written);
          if (!t.empty()) p.disposition = t;
          else p.disposition_params.clear();
        }
      } else if (str::iequals(n, "Content-ID")) {
        if (!p.id) p.id = v;
      } else if (str::iequals(n, "Content-Description")) {
        if (!p.description) p.description = v;
      } else if (str::iequals(n, "Content-MD5")) {
        if (!p.md5) p.md5 = v;
      } else if (str::iequals(n, "Content-Location")) {
        if (!p.location) p.location = v;
      } else if (str::iequals(n, "Content-Language")) {
        if (p.languages.empty())
          for (const auto& l : str::split(v, ", \t"))
            if (p.languages.size() < kMaxParams) p.languages.push_back(l);
      }
    }
    if (p.is_multipart())
      if (const MimeParam* b = p.param("boundary"); b && !b->extended && b->value.size() <= 200)
        p.boundary = b->value;
  }

  void multipart(size_t idx, size_t depth) {
    const std::string boundary = tree_.parts[idx].boundary;
    const size_t limit = tree_.parts[idx].end;
    const bool digest = tree_.parts[idx].subtype == "digest";
    Delimiter d = find_delimiter(m_, tree_.parts[idx].body_start, limit, boundary);
    while (d.line_start != std::string_view::npos && !d.final) {
      size_t child_start = d.next;
      Delimiter next = find_delimiter(m_, child_start, limit, boundary);
      size_t child_end = limit;
      if (next.line_start != std::string_view::npos) {
        // The line end before a delimiter belongs to the delimiter.
        child_end = next.line_start;
        if (child_end > child_start && m_[child_end - 1] == '\n') --child_end;
        if (child_end > child_start && m_[child_end - 1] == '\r') --child_end;
      }
      if (tree_.parts.size() >= limits_.max_parts) {
        tree_.truncated = true;
        return;
      }
      size_t child = part(child_start, child_end, depth + 1, idx, digest);
      tree_.parts[idx].children.push_back(child);
      d = next;
    }
    if (d.line_start != std::string_view::npos && d.final) tree_.parts[idx].final_boundary_seen = true;
  }

  std::string_view m_;
  const MimeLimits& limits_;
  MimeTree& tree_;
};

}  // namespace

std::string MimeParam::utf8() const {
  if (extended) {
    if (auto u = to_utf8(value, charset)) return *u;
    return sanitize_utf8(value);
  }
  return decode_rfc2047(value);
}

const MimeParam* MimePart::param(std::string_view name) const {
  const MimeParam* plain = nullptr;
  for (const auto& p : params) {
    if (p.name != name) continue;
    if (p.extended) return &p;
    if (!plain) plain = &p;
  }
  return plain;
}

std::string parse_params(std::string_view value, std::vector<MimeParam>& params,
                         std::string* as_written) {
  Lexer lx{value};
  lx.skip_cfws();
  std::string written = lx.token();
  parse_param_list(lx, params);
  if (as_written) *as_written = written;
  return str::lower(written);
}

void parse_content_type(std::string_view value, MimePart& part) {
  Lexer lx{value};
  lx.skip_cfws();
  std::string type = lx.token();
  lx.skip_cfws();
  if (type.empty() || lx.peek() != '/') return;
  ++lx.i;
  lx.skip_cfws();
  std::string subtype = lx.token();
  if (subtype.empty()) return;
  part.type = str::lower(type);
  part.subtype = str::lower(subtype);
  part.type_as_written = std::move(type);
  part.subtype_as_written = std::move(subtype);
  part.content_type_given = true;
  part.params.clear();
  parse_param_list(lx, part.params);
}

MimeTree parse_mime(std::string_view message, const MimeLimits& limits) {
  MimeTree tree;
  tree.parts.reserve(std::min<size_t>(limits.max_parts, 16));
  Parser parser(message, limits, tree);
  parser.part(0, message.size(), 0, SIZE_MAX, false);
  return tree;
}

}  // namespace postilion::mail
