// lib/maps/pattern_table.h - the pattern tables of Postfix: regexp_table(5) (POSIX
// regular expressions), pcre_table(5) (PCRE2) and cidr_table(5) (IPv4/IPv6 networks).
// The text is parsed and compiled once; every error is reported as "FILE:LINE: text"
// and a table with any error is not used (never a table with a line silently skipped).
//
// regexp and pcre syntax, one rule per logical line (a line starting with whitespace
// continues the previous one; blank and `#` lines are ignored):
//   /pattern/flags result       the first rule whose pattern matches gives result,
//                               with $1..$9 (or ${1}..${9}) replaced by the matched
//                               groups and $$ by "$"
//   !/pattern/flags result      matches when the pattern does not ($n not allowed)
//   if /pattern/flags           the rules up to the matching endif are tried only when
//   if !/pattern/flags          the pattern matches (does not match); blocks nest
//   endif
// Any character but a letter, digit, whitespace or backslash may delimit the pattern
// (a delimiter inside it is escaped with a backslash). Flags: regexp i (toggle case
// folding, on by default), x (toggle extended syntax, on by default), m (toggle
// multi-line mode); pcre i (case folding, on), m (multi-line), s (dot matches newline),
// x (extended), A (anchored), E (dollar matches only at the end), U (ungreedy), X
// (accepted, no effect with PCRE2).
//
// cidr syntax: `network/prefix result`, or a bare address (a /32 or /128 network), IPv4
// or IPv6; host bits must be zero; `if network/prefix` ... `endif` and `if !network`
// as above. Keys are IP addresses; anything else matches nothing.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postilion::maps {

enum class PatternKind { Regexp, Pcre, Cidr };

// The longest table text accepted (a bigger file is an error, not read).
inline constexpr size_t kMaxPatternTableSize = 16u << 20;
// Nesting depth of if ... endif.
inline constexpr size_t kMaxIfDepth = 100;

class PatternTable {
 public:
  // Parses and compiles text. Returns the table, or nullptr with every problem in
  // *errors ("FILE:LINE: text"; never empty then).
  static std::unique_ptr<PatternTable> parse(std::string_view text, PatternKind kind, std::string_view file,
                                             std::vector<std::string>* errors);
  ~PatternTable();
  PatternTable(const PatternTable&) = delete;
  PatternTable& operator=(const PatternTable&) = delete;

  // The result of the first matching rule, with its substitutions done; nullopt when
  // none matches. Never throws. A PCRE match that exceeds its limits counts as no match
  // (*warning, when given, then says so).
  std::optional<std::string> lookup(std::string_view key, std::string* warning = nullptr) const;
  size_t rules() const;

  struct Rule;

 private:
  PatternTable();
  std::vector<Rule> rules_;
  PatternKind kind_ = PatternKind::Regexp;
};

}  // namespace postilion::maps
