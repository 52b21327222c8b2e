// lib/maps/pattern_table.cc - regexp:, pcre: and cidr: tables (see pattern_table.h).
#include "lib/maps/pattern_table.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <regex.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>

#include "lib/base/cidr.h"
#include "lib/base/strings.h"
#include "lib/maps/map_source.h"

namespace postilion::maps {
namespace {

// Bounds on one PCRE match, so a hostile key cannot make a lookup run for minutes.
constexpr uint32_t kPcreMatchLimit = 200000;
constexpr uint32_t kPcreDepthLimit = 10000;
constexpr int kMaxGroup = 9;

struct RegexFree {
  void operator()(regex_t* r) const {
    regfree(r);
    delete r;
  }
};
struct PcreFree {
  void operator()(pcre2_code* c) const { pcre2_code_free(c); }
};
struct MatchDataFree {
  void operator()(pcre2_match_data* m) const { pcre2_match_data_free(m); }
};
struct MatchContextFree {
  void operator()(pcre2_match_context* m) const { pcre2_match_context_free(m); }
};

pcre2_match_context* match_context() {
  // Made once; only read afterwards (pcre2_match does not change it).
  static const std::unique_ptr<pcre2_match_context, MatchContextFree> ctx = [] {
    std::unique_ptr<pcre2_match_context, MatchContextFree> c(pcre2_match_context_create(nullptr));
    if (c) {
      pcre2_set_match_limit(c.get(), kPcreMatchLimit);
      pcre2_set_depth_limit(c.get(), kPcreDepthLimit);
    }
    return c;
  }();
  return ctx.get();
}

bool is_space(char c) { return c == ' ' || c == '\t'; }

}  // namespace

struct PatternTable::Rule {
  enum class Type { Match, If };
  Type type = Type::Match;
  bool negated = false;
  size_t end = 0;  // If: the index of the first rule after its endif
  std::string result;
  std::unique_ptr<regex_t, RegexFree> regex;
  std::unique_ptr<pcre2_code, PcreFree> pcre;
  Cidr cidr;
};

namespace {

// The pattern of a regexp/pcre line: "!/pat/flags" at the start of s. On success
// *rest is what follows the flags.
struct Pattern {
  bool negated = false;
  std::string body;
  std::string flags;
};

std::optional<Pattern> split_pattern(std::string_view s, std::string_view* rest, std::string* why) {
  Pattern p;
  size_t i = 0;
  if (i < s.size() && s[i] == '!') {
    p.negated = true;
    ++i;
    while (i < s.size() && is_space(s[i])) ++i;
  }
  if (i >= s.size()) {
    *why = "missing pattern";
    return std::nullopt;
  }
  char delim = s[i];
  if (std::isalnum(static_cast<unsigned char>(delim)) || delim == '\\' || is_space(delim)) {
    *why = str::format("pattern must start with a delimiter such as /, not \"%c\"", delim);
    return std::nullopt;
  }
  ++i;
  size_t start = i;
  for (; i < s.size() && s[i] != delim; ++i)
    if (s[i] == '\\' && i + 1 < s.size()) ++i;
  if (i >= s.size()) {
    *why = str::format("missing closing %c of the pattern", delim);
    return std::nullopt;
  }
  p.body.assign(s.substr(start, i - start));
  ++i;
  size_t flags_start = i;
  while (i < s.size() && !is_space(s[i])) ++i;
  p.flags.assign(s.substr(flags_start, i - flags_start));
  *rest = str::trim(s.substr(i));
  return p;
}

// Checks the $ references of result against the number of groups; "" when good.
std::string check_result(std::string_view result, int groups, bool negated) {
  for (size_t i = 0; i < result.size(); ++i) {
    if (result[i] != '$') continue;
    if (i + 1 >= result.size()) return "\"$\" at the end of the result (write $$ for a dollar sign)";
    char c = result[i + 1];
    if (c == '$') {
      ++i;
      continue;
    }
    int n = -1;
    if (c >= '0' && c <= '9') {
      n = c - '0';
      i += 1;
    } else if (c == '{' && i + 3 < result.size() && result[i + 2] >= '0' && result[i + 2] <= '9' &&
               result[i + 3] == '}') {
      n = result[i + 2] - '0';
      i += 3;
    } else {
      return "bad \"$\" in the result: only $1..$9, ${1}..${9} and $$ are allowed";
    }
    if (negated) return "$" + std::to_string(n) + " in the result of a negated pattern";
    if (n < 1 || n > kMaxGroup) return "$" + std::to_string(n) + " in the result: groups are $1..$9";
    if (n > groups)
      return "$" + std::to_string(n) + " in the result, but the pattern has " + std::to_string(groups) + " group" +
             (groups == 1 ? "" : "s");
  }
  return {};
}

std::string compile_regexp(PatternTable::Rule& r, const Pattern& p, int* groups) {
  int cflags = REG_ICASE | REG_EXTENDED;
  for (char f : p.flags) {
    if (f == 'i') cflags ^= REG_ICASE;
    else if (f == 'x') cflags ^= REG_EXTENDED;
    else if (f == 'm') cflags ^= REG_NEWLINE;
    else return str::format("unknown regexp flag \"%c\" (i, x, m)", f);
  }
  std::unique_ptr<regex_t, RegexFree> re(new regex_t);
  if (int rc = regcomp(re.get(), p.body.c_str(), cflags); rc != 0) {
    char buf[256];
    regerror(rc, re.get(), buf, sizeof buf);
    delete re.release();  // regcomp failed: nothing to regfree
    return "bad regular expression: " + std::string(buf);
  }
  *groups = static_cast<int>(re->re_nsub);
  r.regex = std::move(re);
  return {};
}

std::string compile_pcre(PatternTable::Rule& r, const Pattern& p, int* groups) {
  uint32_t options = PCRE2_CASELESS;
  for (char f : p.flags) {
    switch (f) {
      case 'i': options ^= PCRE2_CASELESS; break;
      case 'm': options ^= PCRE2_MULTILINE; break;
      case 's': options ^= PCRE2_DOTALL; break;
      case 'x': options ^= PCRE2_EXTENDED; break;
      case 'A': options ^= PCRE2_ANCHORED; break;
      case 'E': options ^= PCRE2_DOLLAR_ENDONLY; break;
      case 'U': options ^= PCRE2_UNGREEDY; break;
      case 'X': break;  // PCRE_EXTRA of PCRE1: PCRE2 always behaves so
      default: return str::format("unknown pcre flag \"%c\" (i, m, s, x, A, E, U, X)", f);
    }
  }
  int err = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(p.body.data()), p.body.size(), options, &err,
                                   &offset, nullptr);
  if (!code) {
    PCRE2_UCHAR buf[256];
    pcre2_get_error_message(err, buf, sizeof buf);
    return str::format("bad regular expression at offset %zu: %s", static_cast<size_t>(offset),
                       reinterpret_cast<const char*>(buf));
  }
  r.pcre.reset(code);
  uint32_t count = 0;
  pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &count);
  *groups = static_cast<int>(count);
  return {};
}

std::string parse_cidr(PatternTable::Rule& r, std::string_view word) {
  std::string w(word);
  if (w.starts_with("!")) {
    r.negated = true;
    w.erase(0, 1);
  }
  auto c = Cidr::parse(w);
  if (!c) return "bad network \"" + str::printable(w, 80) + "\" (expected address/prefix)";
  int len = c->family == AF_INET ? 4 : 16;
  for (int bit = c->bits; bit < len * 8; ++bit)
    if (c->addr[bit / 8] & (0x80 >> (bit % 8)))
      return "network \"" + str::printable(w, 80) + "\" has host bits set beyond /" + std::to_string(c->bits);
  r.cidr = *c;
  return {};
}

// Appends result to out with $n replaced by the groups of a match (offsets into key).
void substitute(std::string_view result, std::string_view key, const size_t* starts, const size_t* ends, int groups,
                std::string* out) {
  for (size_t i = 0; i < result.size(); ++i) {
    char c = result[i];
    if (c != '$' || i + 1 >= result.size()) {
      *out += c;
      continue;
    }
    char d = result[i + 1];
    if (d == '$') {
      *out += '$';
      ++i;
      continue;
    }
    int n = 0;
    if (d >= '0' && d <= '9') {
      n = d - '0';
      i += 1;
    } else if (d == '{' && i + 3 < result.size()) {
      n = result[i + 2] - '0';
      i += 3;
    }
    // Checked when loaded; an unset group is empty.
    if (n >= 1 && n <= groups && starts[n] != SIZE_MAX && ends[n] >= starts[n] && ends[n] <= key.size())
      out->append(key.substr(starts[n], ends[n] - starts[n]));
  }
}

}  // namespace

PatternTable::PatternTable() = default;
PatternTable::~PatternTable() = default;

size_t PatternTable::rules() const { return rules_.size(); }

std::unique_ptr<PatternTable> PatternTable::parse(std::string_view text, PatternKind kind, std::string_view file,
                                                  std::vector<std::string>* errors) {
  size_t first_error = errors->size();
  std::unique_ptr<PatternTable> t(new PatternTable);
  t->kind_ = kind;
  auto error = [&](size_t line, const std::string& why) {
    errors->push_back(std::string(file) + ":" + std::to_string(line) + ": " + why);
  };
  if (text.size() > kMaxPatternTableSize) {
    error(1, str::format("table too big (%zu bytes, limit %zu)", text.size(), kMaxPatternTableSize));
    return nullptr;
  }
  struct Open {
    size_t rule;
    size_t line;
  };
  std::vector<Open> open_ifs;
  for (LogicalLine& l : logical_lines(text, error)) {
    if (l.broken) continue;
    std::string_view s = l.text;
    std::string_view first = s.substr(0, s.find_first_of(" \t"));
    if (first == "endif") {
      if (!str::trim(s.substr(first.size())).empty()) error(l.line, "text after endif");
      if (open_ifs.empty()) {
        error(l.line, "endif without if");
        continue;
      }
      t->rules_[open_ifs.back().rule].end = t->rules_.size();
      open_ifs.pop_back();
      continue;
    }
    Rule r;
    bool is_if = first == "if";
    if (is_if) {
      r.type = Rule::Type::If;
      s = str::trim(s.substr(2));
      if (open_ifs.size() >= kMaxIfDepth) {
        error(l.line, str::format("if nested deeper than %zu", kMaxIfDepth));
        return nullptr;  // the nesting of what follows can no longer be told
      }
      // Even a broken if opens a block, so its endif is not taken for another's.
      open_ifs.push_back({t->rules_.size(), l.line});
    }
    std::string why;
    std::string_view rest;
    int groups = 0;
    if (kind == PatternKind::Cidr) {
      size_t sp = s.find_first_of(" \t");
      std::string_view word = s.substr(0, sp);
      rest = sp == std::string_view::npos ? std::string_view() : str::trim(s.substr(sp));
      why = word.empty() ? "missing network" : parse_cidr(r, word);
    } else {
      auto p = split_pattern(s, &rest, &why);
      if (p) {
        r.negated = p->negated;
        why = kind == PatternKind::Regexp ? compile_regexp(r, *p, &groups) : compile_pcre(r, *p, &groups);
      }
    }
    if (why.empty() && is_if && !rest.empty()) why = "text after the pattern of an if";
    if (why.empty() && !is_if && rest.empty()) why = "missing result after the pattern";
    if (why.empty() && !is_if && kind != PatternKind::Cidr) why = check_result(rest, groups, r.negated);
    if (!why.empty()) {
      error(l.line, why);
      if (is_if) t->rules_.push_back(std::move(r));  // keeps the block's index right
      continue;
    }
    r.result.assign(rest);
    t->rules_.push_back(std::move(r));
  }
  for (const Open& o : open_ifs) error(o.line, "if without endif");
  if (errors->size() > first_error) return nullptr;
  return t;
}

std::optional<std::string> PatternTable::lookup(std::string_view key, std::string* warning) const {
  size_t starts[kMaxGroup + 1], ends[kMaxGroup + 1];
  int groups = 0;
  std::string key_z;  // regexec wants a terminated string
  if (kind_ == PatternKind::Regexp) key_z.assign(key);
  std::unique_ptr<pcre2_match_data, MatchDataFree> md;
  // Bounded: i only grows (an If that fails jumps forward to its end).
  for (size_t i = 0; i < rules_.size();) {
    const Rule& r = rules_[i];
    bool matched = false;
    groups = 0;
    if (kind_ == PatternKind::Cidr) {
      matched = r.cidr.contains(key);
    } else if (kind_ == PatternKind::Regexp) {
      regmatch_t m[kMaxGroup + 1];
      matched = regexec(r.regex.get(), key_z.c_str(), kMaxGroup + 1, m, 0) == 0;
      if (matched) {
        groups = std::min<int>(kMaxGroup, static_cast<int>(r.regex->re_nsub));
        for (int g = 0; g <= groups; ++g) {
          starts[g] = m[g].rm_so < 0 ? SIZE_MAX : static_cast<size_t>(m[g].rm_so);
          ends[g] = m[g].rm_eo < 0 ? SIZE_MAX : static_cast<size_t>(m[g].rm_eo);
        }
      }
    } else {
      // One for all the rules: room for $0..$9 is all a result can use (a pattern with
      // more groups still matches; pcre2_match then returns 0 and fills what fits).
      if (!md) md.reset(pcre2_match_data_create(kMaxGroup + 1, nullptr));
      if (!md) return std::nullopt;  // out of memory: nothing matches
      int rc = pcre2_match(r.pcre.get(), reinterpret_cast<PCRE2_SPTR>(key.data()), key.size(), 0, 0, md.get(),
                           match_context());
      if (rc < 0 && rc != PCRE2_ERROR_NOMATCH && warning) {
        PCRE2_UCHAR buf[256];
        pcre2_get_error_message(rc, buf, sizeof buf);
        *warning = "pattern match failed: " + std::string(reinterpret_cast<const char*>(buf));
      }
      matched = rc >= 0;
      if (matched) {
        PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
        uint32_t pairs = pcre2_get_ovector_count(md.get());
        groups = std::min<int>(kMaxGroup, static_cast<int>(pairs) - 1);
        for (int g = 0; g <= groups; ++g) {
          bool set = g < rc || rc == 0;
          starts[g] = set && ov[2 * g] != PCRE2_UNSET ? ov[2 * g] : SIZE_MAX;
          ends[g] = set && ov[2 * g + 1] != PCRE2_UNSET ? ov[2 * g + 1] : SIZE_MAX;
        }
      }
    }
    if (r.negated) matched = !matched;
    if (r.type == Rule::Type::If) {
      i = matched ? i + 1 : std::max(r.end, i + 1);
      continue;
    }
    if (matched) {
      std::string out;
      if (r.negated || kind_ == PatternKind::Cidr) return r.result;
      substitute(r.result, key, starts, ends, groups, &out);
      return out;
    }
    ++i;
  }
  return std::nullopt;
}

}  // namespace postilion::maps
