// imapd/search.cc - SEARCH and UID SEARCH (RFC 3501 6.4.4): flags, sizes, dates,
// sequence and UID sets, header and text substrings, NOT, OR and parentheses.
// Text is matched as it is stored (no RFC 2047 or transfer decoding yet).
#include <algorithm>
#include <functional>

#include "imapd/imap_session.h"
#include "imapd/response.h"
#include "lib/base/strings.h"
#include "lib/mail/header.h"

namespace postilion::imapd {
namespace {

bool icontains(std::string_view hay, std::string_view needle) {
  if (needle.empty()) return true;
  auto it = std::search(hay.begin(), hay.end(), needle.begin(), needle.end(), [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
  });
  return it != hay.end();
}

}  // namespace

// One search key and what it needs; compiled once, matched per message.
struct SearchKey {
  enum class Op { All, Flag, NoFlag, New, Old, Recent, NotRecent, Set, Larger, Smaller, Before, On, Since,
                  SentBefore, SentOn, SentSince, Header, Body, Text, Not, Or, And, False, True };
  Op op = Op::All;
  char letter = 0;
  std::string set, field, value;
  bool uid = false;
  uint64_t n = 0;
  time_t date = 0;
  std::vector<SearchKey> subs;
};

namespace {

// Parses keys from args[*pos...]; false with *why on bad syntax.
bool parse_key(const std::vector<Value>& a, size_t* pos, SearchKey* k, std::string* why, size_t depth) {
  if (depth > kMaxNesting) return *why = "SEARCH: nesting too deep", false;
  if (*pos >= a.size()) return *why = "SEARCH: missing search key", false;
  const Value& v = a[(*pos)++];
  using Op = SearchKey::Op;
  if (v.is_list()) {
    k->op = Op::And;
    size_t p = 0;
    if (v.items.empty()) return *why = "SEARCH: empty parentheses", false;
    while (p < v.items.size()) {
      SearchKey s;
      if (!parse_key(v.items, &p, &s, why, depth + 1)) return false;
      k->subs.push_back(std::move(s));
    }
    return true;
  }
  std::string w = str::upper(v.text);
  auto arg = [&](std::string* out) {
    if (*pos >= a.size() || !a[*pos].is_string()) return *why = "SEARCH: " + w + " wants an argument", false;
    *out = a[(*pos)++].text;
    return true;
  };
  auto number = [&]() {
    std::string t;
    if (!arg(&t)) return false;
    auto n = str::parse_uint(t);
    if (!n) return *why = "SEARCH: " + w + " wants a number", false;
    k->n = *n;
    return true;
  };
  auto date = [&]() {
    std::string t;
    if (!arg(&t)) return false;
    k->date = parse_date(t);
    if (k->date < 0) return *why = "SEARCH: " + w + " wants a date", false;
    return true;
  };
  struct FlagKey {
    const char* name;
    char letter;
    bool set;
  };
  static const FlagKey kFlags[] = {{"ANSWERED", 'R', true},    {"DELETED", 'T', true},    {"DRAFT", 'D', true},
                                   {"FLAGGED", 'F', true},     {"SEEN", 'S', true},       {"UNANSWERED", 'R', false},
                                   {"UNDELETED", 'T', false},  {"UNDRAFT", 'D', false},   {"UNFLAGGED", 'F', false},
                                   {"UNSEEN", 'S', false}};
  for (const auto& f : kFlags)
    if (w == f.name) {
      k->op = f.set ? Op::Flag : Op::NoFlag;
      k->letter = f.letter;
      return true;
    }
  if (w == "ALL") return k->op = Op::All, true;
  if (w == "NEW") return k->op = Op::New, true;
  if (w == "OLD") return k->op = Op::Old, true;
  if (w == "RECENT") return k->op = Op::Recent, true;
  if (w == "KEYWORD") return k->op = Op::False, arg(&k->value);
  if (w == "UNKEYWORD") return k->op = Op::True, arg(&k->value);
  if (w == "LARGER") return k->op = Op::Larger, number();
  if (w == "SMALLER") return k->op = Op::Smaller, number();
  if (w == "BEFORE") return k->op = Op::Before, date();
  if (w == "ON") return k->op = Op::On, date();
  if (w == "SINCE") return k->op = Op::Since, date();
  if (w == "SENTBEFORE") return k->op = Op::SentBefore, date();
  if (w == "SENTON") return k->op = Op::SentOn, date();
  if (w == "SENTSINCE") return k->op = Op::SentSince, date();
  if (w == "BODY") return k->op = Op::Body, arg(&k->value);
  if (w == "TEXT") return k->op = Op::Text, arg(&k->value);
  if (w == "SUBJECT" || w == "FROM" || w == "TO" || w == "CC" || w == "BCC") {
    k->op = Op::Header;
    k->field = w;
    return arg(&k->value);
  }
  if (w == "HEADER") return k->op = Op::Header, arg(&k->field) && arg(&k->value);
  if (w == "UID") {
    k->op = Op::Set;
    k->uid = true;
    return arg(&k->set);
  }
  if (w == "NOT") {
    k->op = Op::Not;
    k->subs.emplace_back();
    return parse_key(a, pos, &k->subs[0], why, depth + 1);
  }
  if (w == "OR") {
    k->op = Op::Or;
    k->subs.resize(2);
    return parse_key(a, pos, &k->subs[0], why, depth + 1) && parse_key(a, pos, &k->subs[1], why, depth + 1);
  }
  if (!w.empty() && (std::isdigit(static_cast<unsigned char>(w[0])) || w[0] == '*')) {
    k->op = Op::Set;
    k->set = w;
    return true;
  }
  *why = "SEARCH: unknown search key " + v.text.substr(0, 40);
  return false;
}

// Does the key need the message text?
bool needs_text(const SearchKey& k) {
  using Op = SearchKey::Op;
  if (k.op == Op::Header || k.op == Op::Body || k.op == Op::Text || k.op == Op::SentBefore || k.op == Op::SentOn ||
      k.op == Op::SentSince)
    return true;
  return std::any_of(k.subs.begin(), k.subs.end(), needs_text);
}

// The Date: header's day (midnight UTC), -1 when there is none usable.
time_t sent_day(const mail::Headers& h) {
  auto d = h.get("Date");
  if (!d) return -1;
  // "Mon, 7 Dec 2026 06:00:00 +0000": day, month and year are what count.
  auto parts = str::split(*d, " ,");
  size_t i = 0;
  if (!parts.empty() && !std::isdigit(static_cast<unsigned char>(parts[0][0]))) i = 1;
  if (parts.size() < i + 3) return -1;
  return parse_date(parts[i] + "-" + parts[i + 1] + "-" + parts[i + 2]);
}

}  // namespace

struct SearchContext {
  std::string_view text, header, body;
  mail::Headers headers;
};

void Session::cmd_search(Command& c, bool uid) {
  size_t pos = 0;
  auto& a = c.args;
  if (pos + 1 < a.size() && a[pos].is_atom() && str::iequals(a[pos].text, "CHARSET")) {
    std::string cs = str::upper(a[pos + 1].text);
    if (cs != "UTF-8" && cs != "US-ASCII") return no(c, "[BADCHARSET (UTF-8 US-ASCII)] unsupported charset");
    pos += 2;
  }
  SearchKey all;
  all.op = SearchKey::Op::And;
  std::string why;
  if (pos >= a.size()) return bad(c, "SEARCH wants search keys");
  while (pos < a.size()) {
    SearchKey k;
    if (!parse_key(a, &pos, &k, &why, 0)) return bad(c, why);
    all.subs.push_back(std::move(k));
  }
  // Sets are resolved once, to indexes.
  std::vector<std::vector<size_t>> sets;
  std::string bad_set;
  std::function<bool(SearchKey&)> resolve = [&](SearchKey& k) -> bool {
    if (k.op == SearchKey::Op::Set) {
      std::vector<size_t> idx;
      if (!resolve_set(k.set, k.uid, &idx, &why)) return false;
      k.n = sets.size();
      sets.push_back(std::move(idx));
    }
    for (auto& s : k.subs)
      if (!resolve(s)) return false;
    return true;
  };
  if (!resolve(all)) return bad(c, why);
  bool text = needs_text(all);
  std::string hits;
  for (size_t i = 0; i < msgs_.size(); ++i) {
    Msg& m = msgs_[i];
    if (m.gone) continue;
    SearchContext ctx;
    if (text) {
      auto t = content(m);
      if (!t) continue;
      ctx.text = *t;
      ctx.headers = mail::parse_headers(ctx.text);
      size_t b = std::min(ctx.headers.body_offset, ctx.text.size());
      ctx.header = ctx.text.substr(0, b);
      ctx.body = ctx.text.substr(b);
    }
    time_t idate = 0;
    std::function<bool(const SearchKey&)> match = [&](const SearchKey& k) -> bool {
      using Op = SearchKey::Op;
      switch (k.op) {
        case Op::All: case Op::True: return true;
        case Op::False: return false;
        case Op::Flag: return m.letters.find(k.letter) != std::string::npos;
        case Op::NoFlag: return m.letters.find(k.letter) == std::string::npos;
        case Op::New: return m.recent && m.letters.find('S') == std::string::npos;
        case Op::Old: return !m.recent;
        case Op::Recent: return m.recent;
        case Op::NotRecent: return !m.recent;
        case Op::Set: return std::binary_search(sets[k.n].begin(), sets[k.n].end(), i);
        case Op::Larger: return m.vsize > k.n;
        case Op::Smaller: return m.vsize < k.n;
        case Op::Before: case Op::On: case Op::Since: {
          if (!idate) idate = internal_date(m);
          time_t day = idate - idate % 86400;
          return k.op == Op::Before ? day < k.date : k.op == Op::On ? day == k.date : day >= k.date;
        }
        case Op::SentBefore: case Op::SentOn: case Op::SentSince: {
          time_t day = sent_day(ctx.headers);
          if (day < 0) return false;
          return k.op == Op::SentBefore ? day < k.date : k.op == Op::SentOn ? day == k.date : day >= k.date;
        }
        case Op::Header: {
          for (const auto& f : ctx.headers.fields)
            if (str::iequals(f.name, k.field) && icontains(f.value(), k.value)) return true;
          return false;
        }
        case Op::Body: return icontains(ctx.body, k.value);
        case Op::Text: return icontains(ctx.text, k.value);
        case Op::Not: return !match(k.subs[0]);
        case Op::Or: return match(k.subs[0]) || match(k.subs[1]);
        case Op::And:
          for (const auto& s : k.subs)
            if (!match(s)) return false;
          return true;
      }
      return false;
    };
    if (match(all)) hits += " " + std::to_string(uid ? m.uid : i + 1);
  }
  out("* SEARCH" + hits + "\r\n");
  ok(c, "SEARCH completed");
}

}  // namespace postilion::imapd
