// lib/imap/search.cc - SEARCH key parsing and matching.
#include "lib/imap/search.h"

#include <algorithm>

#include "lib/base/strings.h"
#include "lib/imap/args.h"
#include "lib/mail/encoding.h"
#include "lib/mail/header.h"
#include "lib/mail/mime.h"

namespace postilion::imap {
namespace {

using Op = SearchKey::Op;
using Result = std::variant<SearchKey, SearchError>;

SearchError bad(std::string t) { return SearchError{std::move(t), false}; }

class Parser {
 public:
  Parser() = default;

  // One key from args[i], advancing i.
  Result key(const std::vector<Arg>& a, size_t& i, size_t depth) {
    if (depth > kMaxSearchDepth) return bad("Search keys nested too deeply");
    if (++count_ > kMaxSearchKeys) return bad("Too many search keys");
    if (i >= a.size()) return bad("Missing search key");
    const Arg& x = a[i++];
    if (x.is_list()) {
      if (x.list.empty()) return bad("Empty search key list");
      SearchKey k;
      k.op = Op::And;
      size_t j = 0;
      while (j < x.list.size()) {
        auto r = key(x.list, j, depth + 1);
        if (auto* e = std::get_if<SearchError>(&r)) return *e;
        k.children.push_back(std::get<SearchKey>(std::move(r)));
      }
      return k;
    }
    if (!x.is_atom()) return bad("Invalid search key");
    std::string name = str::upper(x.text);
    SearchKey k;
    static const struct { const char* name; Op op; } kFlags[] = {
        {"ALL", Op::All}, {"ANSWERED", Op::Answered}, {"DELETED", Op::Deleted},
        {"DRAFT", Op::Draft}, {"FLAGGED", Op::Flagged}, {"NEW", Op::New}, {"OLD", Op::Old},
        {"RECENT", Op::Recent}, {"SEEN", Op::Seen}, {"UNANSWERED", Op::Unanswered},
        {"UNDELETED", Op::Undeleted}, {"UNDRAFT", Op::Undraft}, {"UNFLAGGED", Op::Unflagged},
        {"UNSEEN", Op::Unseen}};
    for (const auto& f : kFlags)
      if (name == f.name) {
        k.op = f.op;
        return k;
      }
    static const struct { const char* name; Op op; } kStrings[] = {
        {"BCC", Op::Bcc}, {"BODY", Op::Body}, {"CC", Op::Cc}, {"FROM", Op::From},
        {"SUBJECT", Op::Subject}, {"TEXT", Op::Text}, {"TO", Op::To}};
    for (const auto& s : kStrings)
      if (name == s.name) {
        k.op = s.op;
        auto v = string_arg(a, i);
        if (!v) return bad("Missing search string");
        k.value = *v;
        return k;
      }
    static const struct { const char* name; Op op; } kDates[] = {
        {"BEFORE", Op::Before}, {"ON", Op::On}, {"SINCE", Op::Since},
        {"SENTBEFORE", Op::SentBefore}, {"SENTON", Op::SentOn}, {"SENTSINCE", Op::SentSince}};
    for (const auto& d : kDates)
      if (name == d.name) {
        k.op = d.op;
        if (i >= a.size() || !a[i].is_astring()) return bad("Missing date");
        auto day = parse_search_date(a[i++].text);
        if (!day) return bad("Invalid date");
        k.number = *day;
        return k;
      }
    if (name == "KEYWORD" || name == "UNKEYWORD") {
      k.op = name == "KEYWORD" ? Op::Keyword : Op::Unkeyword;
      if (i >= a.size() || !a[i].is_atom() || a[i].text.starts_with("\\")) return bad("Missing keyword");
      auto f = parse_flag(a[i++].text);
      if (!f) return bad("Invalid keyword");
      k.value = *f;
      return k;
    }
    if (name == "HEADER") {
      k.op = Op::Header;
      auto f = string_arg(a, i);
      auto v = f ? string_arg(a, i) : std::nullopt;
      if (!f || !v) return bad("Missing header search arguments");
      k.field = *f;
      k.value = *v;
      return k;
    }
    if (name == "LARGER" || name == "SMALLER" || name == "OLDER" || name == "YOUNGER") {
      k.op = name == "LARGER" ? Op::Larger : name == "SMALLER" ? Op::Smaller
           : name == "OLDER" ? Op::Older : Op::Younger;
      auto n = number_arg(a, i);
      if (!n) return bad("Invalid number");
      if ((k.op == Op::Older || k.op == Op::Younger) && *n == 0) return bad("Invalid interval");
      k.number = int64_t(*n);
      return k;
    }
    if (name == "MODSEQ") {
      k.op = Op::ModSeq;
      // MODSEQ ["/flags/\\draft" all|priv|shared] n
      if (i + 2 < a.size() && a[i].is_string()) {
        std::string type = a[i + 1].is_atom() ? str::upper(a[i + 1].text) : "";
        if (type != "ALL" && type != "PRIV" && type != "SHARED") return bad("Invalid MODSEQ entry type");
        k.field = a[i].text;
        i += 2;
      }
      auto n = number_arg(a, i);
      if (!n) return bad("Invalid mod-sequence");
      k.number = int64_t(*n);
      return k;
    }
    if (name == "UID") {
      k.op = Op::Uid;
      if (i >= a.size() || !a[i].is_atom()) return bad("Missing UID set");
      auto s = parse_sequence_set(a[i++].text);
      if (!s) return bad("Invalid UID set");
      k.set = *s;
      return k;
    }
    if (name == "NOT") {
      k.op = Op::Not;
      auto r = key(a, i, depth + 1);
      if (auto* e = std::get_if<SearchError>(&r)) return *e;
      k.children.push_back(std::get<SearchKey>(std::move(r)));
      return k;
    }
    if (name == "OR") {
      k.op = Op::Or;
      for (int n = 0; n < 2; ++n) {
        auto r = key(a, i, depth + 1);
        if (auto* e = std::get_if<SearchError>(&r)) return *e;
        k.children.push_back(std::get<SearchKey>(std::move(r)));
      }
      return k;
    }
    if (auto s = parse_sequence_set(x.text)) {
      k.op = Op::Sequence;
      k.set = *s;
      return k;
    }
    return bad("Unknown search key");
  }

 private:
  std::optional<std::string> string_arg(const std::vector<Arg>& a, size_t& i) {
    if (i >= a.size() || !a[i].is_astring()) return std::nullopt;
    auto s = astring(a[i]);
    if (s) ++i;
    return s;
  }
  std::optional<uint64_t> number_arg(const std::vector<Arg>& a, size_t& i) {
    if (i >= a.size() || !a[i].is_atom() || a[i].text.empty() || a[i].text.size() > 20 ||
        a[i].text[0] == '+')
      return std::nullopt;
    auto n = str::parse_uint(a[i].text);
    if (n) ++i;
    return n;
  }

  size_t count_ = 0;
};

// Lowercases one code point for the folding table above.
uint32_t fold_cp(uint32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if (c < 0x80) return c;
  if ((c >= 0xC0 && c <= 0xDE && c != 0xD7)) return c + 32;
  if (c >= 0x100 && c <= 0x17F && c != 0x130 && c != 0x131 && c != 0x138 && c != 0x149 && c != 0x17F) {
    bool odd_lower = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
    if (odd_lower) return (c % 2 == 1) ? c + 1 : c;
    return (c % 2 == 0) ? c + 1 : c;
  }
  if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 32;
  if (c == 0x3C2) return 0x3C3;  // final sigma
  if (c >= 0x410 && c <= 0x42F) return c + 32;
  if (c >= 0x400 && c <= 0x40F) return c + 80;
  return c;
}

void put_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

// The message's parsed pieces, made on first use during one match().
struct Lazy {
  MessageView& view;
  std::optional<std::string_view> msg;
  std::optional<mail::Headers> headers;
  std::optional<mail::MimeTree> tree;
  std::optional<std::string> folded_header;        // whole header, decoded and folded
  std::optional<std::vector<std::string>> bodies;  // text parts, decoded and folded
  bool date_done = false;
  std::optional<DateTime> date;

  std::string_view message() {
    if (!msg) msg = view.message();
    return *msg;
  }
  const mail::Headers& hdr() {
    if (!headers) headers = mail::parse_headers(message());
    return *headers;
  }
  const std::string& header_text() {
    if (!folded_header) {
      std::string all;
      for (const auto& f : hdr().fields) all += f.name + ": " + mail::decode_rfc2047(f.value()) + "\n";
      folded_header = fold_case(all);
    }
    return *folded_header;
  }
  const std::vector<std::string>& body_texts() {
    if (!bodies) {
      bodies.emplace();
      std::string_view m = message();
      if (!tree) tree = mail::parse_mime(m);
      for (const auto& p : tree->parts) {
        if (!p.children.empty() || p.is_multipart()) continue;
        if (p.type != "text" && p.type != "message") continue;
        std::string decoded = mail::decode_transfer(m.substr(p.body_start, p.end - p.body_start), p.encoding);
        const mail::MimeParam* cs = p.param("charset");
        std::optional<std::string> utf8 = mail::to_utf8(decoded, cs ? cs->value : "us-ascii");
        bodies->push_back(fold_case(utf8 ? *utf8 : mail::sanitize_utf8(decoded)));
      }
    }
    return *bodies;
  }
  std::optional<DateTime> sent() {
    if (!date_done) {
      date_done = true;
      if (auto d = hdr().get("Date")) date = parse_rfc5322_date(*d);
    }
    return date;
  }
};

bool header_contains(Lazy& lz, std::string_view field, const std::string& needle) {
  std::string n = fold_case(needle);
  for (const auto& f : lz.hdr().fields) {
    if (!str::iequals(f.name, field)) continue;
    if (n.empty()) return true;
    if (fold_case(mail::decode_rfc2047(f.value())).find(n) != std::string::npos) return true;
  }
  return false;
}

bool body_contains(Lazy& lz, const std::string& needle) {
  std::string n = fold_case(needle);
  for (const auto& b : lz.body_texts())
    if (b.find(n) != std::string::npos) return true;
  return false;
}

bool eval(const SearchKey& k, Lazy& lz, const SearchContext& ctx) {
  MessageView& m = lz.view;
  switch (k.op) {
    case Op::All: return true;
    case Op::And:
      for (const auto& c : k.children)
        if (!eval(c, lz, ctx)) return false;
      return true;
    case Op::Or: return eval(k.children[0], lz, ctx) || eval(k.children[1], lz, ctx);
    case Op::Not: return !eval(k.children[0], lz, ctx);
    case Op::Answered: return m.has_flag("\\Answered");
    case Op::Deleted: return m.has_flag("\\Deleted");
    case Op::Draft: return m.has_flag("\\Draft");
    case Op::Flagged: return m.has_flag("\\Flagged");
    case Op::Recent: return m.recent();
    case Op::Seen: return m.has_flag("\\Seen");
    case Op::New: return m.recent() && !m.has_flag("\\Seen");
    case Op::Old: return !m.recent();
    case Op::Unanswered: return !m.has_flag("\\Answered");
    case Op::Undeleted: return !m.has_flag("\\Deleted");
    case Op::Undraft: return !m.has_flag("\\Draft");
    case Op::Unflagged: return !m.has_flag("\\Flagged");
    case Op::Unseen: return !m.has_flag("\\Seen");
    case Op::Keyword: return m.has_flag(k.value);
    case Op::Unkeyword: return !m.has_flag(k.value);
    case Op::Bcc: return header_contains(lz, "Bcc", k.value);
    case Op::Cc: return header_contains(lz, "Cc", k.value);
    case Op::From: return header_contains(lz, "From", k.value);
    case Op::To: return header_contains(lz, "To", k.value);
    case Op::Subject: return header_contains(lz, "Subject", k.value);
    case Op::Header: return header_contains(lz, k.field, k.value);
    case Op::Body: return body_contains(lz, k.value);
    case Op::Text:
      return lz.header_text().find(fold_case(k.value)) != std::string::npos || body_contains(lz, k.value);
    case Op::Before: return day_number(m.internal_date(), ctx.zone_minutes) < k.number;
    case Op::On: return day_number(m.internal_date(), ctx.zone_minutes) == k.number;
    case Op::Since: return day_number(m.internal_date(), ctx.zone_minutes) >= k.number;
    case Op::SentBefore:
    case Op::SentOn:
    case Op::SentSince: {
      auto d = lz.sent();
      // Without a usable Date: the internal date stands in, as other servers do.
      int64_t day = d ? day_number(d->utc, d->zone_minutes) : day_number(m.internal_date(), ctx.zone_minutes);
      if (k.op == Op::SentBefore) return day < k.number;
      if (k.op == Op::SentOn) return day == k.number;
      return day >= k.number;
    }
    case Op::Larger: return m.size() > uint64_t(k.number);
    case Op::Smaller: return m.size() < uint64_t(k.number);
    case Op::Uid:
    case Op::Sequence:
      if (k.set.saved) {
        if (!ctx.saved_uids) return false;
        return std::binary_search(ctx.saved_uids->begin(), ctx.saved_uids->end(), m.uid());
      }
      return k.op == Op::Uid ? k.set.contains(m.uid(), ctx.max_uid) : k.set.contains(m.seq(), ctx.max_seq);
    case Op::ModSeq: return m.modseq() >= uint64_t(k.number);
    case Op::Older: return m.internal_date() <= ctx.now - k.number;
    case Op::Younger: return m.internal_date() >= ctx.now - k.number;
  }
  return false;
}

}  // namespace

std::string fold_case(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = s[i];
    if (c < 0x80) {
      out += char(c >= 'A' && c <= 'Z' ? c + 32 : c);
      ++i;
      continue;
    }
    size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (n == 1 || i + n > s.size()) {
      out += char(c);
      ++i;
      continue;
    }
    uint32_t cp = n == 4 ? c & 7 : n == 3 ? c & 15 : c & 31;
    bool ok = true;
    for (size_t k = 1; k < n; ++k) {
      unsigned char d = s[i + k];
      ok = ok && (d & 0xC0) == 0x80;
      cp = (cp << 6) | (d & 0x3F);
    }
    if (!ok) {
      out += char(c);
      ++i;
      continue;
    }
    put_utf8(out, fold_cp(cp));
    i += n;
  }
  return out;
}

bool contains_folded(std::string_view haystack, std::string_view needle) {
  return fold_case(haystack).find(fold_case(needle)) != std::string::npos;
}

std::variant<SearchProgram, SearchError> parse_search(const std::vector<Arg>& args, size_t i) {
  SearchProgram prog;
  if (i < args.size() && args[i].is_atom() && str::iequals(args[i].text, "RETURN")) {
    if (i + 1 >= args.size() || !args[i + 1].is_list()) return bad("Invalid RETURN options");
    prog.has_return = true;
    for (const Arg& o : args[i + 1].list) {
      if (!o.is_atom()) return bad("Invalid RETURN option");
      prog.return_options.push_back(str::upper(o.text));
    }
    i += 2;
  }
  if (i < args.size() && args[i].is_atom() && str::iequals(args[i].text, "CHARSET")) {
    if (i + 1 >= args.size() || !args[i + 1].is_astring()) return bad("Missing charset");
    std::string cs = str::upper(args[i + 1].text);
    if (cs != "UTF-8" && cs != "US-ASCII") return SearchError{"Unsupported charset", true};
    prog.charset = cs;
    i += 2;
  }
  if (i >= args.size()) return bad("Missing search keys");
  Parser p;
  prog.key.op = Op::And;
  while (i < args.size()) {
    auto r = p.key(args, i, 0);
    if (auto* e = std::get_if<SearchError>(&r)) return *e;
    prog.key.children.push_back(std::get<SearchKey>(std::move(r)));
  }
  return prog;
}

bool match(const SearchKey& key, MessageView& msg, const SearchContext& ctx) {
  Lazy lz{msg};
  return eval(key, lz, ctx);
}

}  // namespace postilion::imap
