// lib/config/restrictions.cc - restriction list words and their arguments.
#include "lib/config/restrictions.h"

#include <cstring>

#include "lib/base/strings.h"

namespace postilion::config {
namespace {

enum class Arg { None };

struct Word {
  const char* name;
  Restriction what;
  Arg arg;
};

const Word kWords[] = {
    {"permit", Restriction::Permit, Arg::None},
    {"reject", Restriction::Reject, Arg::None},
    {"permit_mynetworks", Restriction::PermitMynetworks, Arg::None},
    {"permit_sasl_authenticated", Restriction::PermitSaslAuthenticated, Arg::None},
};

const Word* find_word(std::string_view w) {
  for (const auto& k : kWords)
    if (str::iequals(w, k.name)) return &k;
  return nullptr;
}

}  // namespace

const char* restriction_name(Restriction r) {
  for (const auto& k : kWords)
    if (k.what == r) return k.name;
  return "?";
}

std::optional<std::vector<RestrictionStep>> parse_restriction_list(std::string_view value, std::string* why) {
  std::vector<std::string> words = str::split(value, " \t\r\n,");
  std::vector<RestrictionStep> steps;
  for (size_t i = 0; i < words.size(); ++i) {
    const Word* w = find_word(words[i]);
    if (!w) {
      *why = "unknown restriction \"" + str::printable(words[i], 80) + "\"";
      return std::nullopt;
    }
    RestrictionStep s;
    s.what = w->what;
    steps.push_back(std::move(s));
  }
  return steps;
}

}  // namespace postilion::config
