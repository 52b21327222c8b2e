// lib/imap/args.cc - typed command arguments.
#include "lib/imap/args.h"

#include <cctype>

#include "lib/base/strings.h"

namespace postilion::imap {
namespace {

using Err = std::string;

bool keyword_char(char c) {
  // atom-char minus resp-specials and list wildcards (RFC 3501 9: flag-keyword = atom).
  return c > 32 && c < 127 && std::string_view("(){%*\"\\]").find(c) == std::string_view::npos;
}

std::optional<uint64_t> modseq_value(const Arg& a) {
  if (!a.is_atom() || a.text.empty() || a.text.size() > 20 || a.text[0] == '+') return std::nullopt;
  return str::parse_uint(a.text);
}

std::optional<StatusItem> status_item(std::string_view s) {
  static const struct { const char* name; StatusItem item; } kItems[] = {
      {"MESSAGES", StatusItem::Messages}, {"RECENT", StatusItem::Recent},
      {"UIDNEXT", StatusItem::UidNext}, {"UIDVALIDITY", StatusItem::UidValidity},
      {"UNSEEN", StatusItem::Unseen}, {"HIGHESTMODSEQ", StatusItem::HighestModSeq},
      {"SIZE", StatusItem::Size}, {"DELETED", StatusItem::Deleted},
      {"APPENDLIMIT", StatusItem::AppendLimit}};
  for (const auto& i : kItems)
    if (str::iequals(s, i.name)) return i.item;
  return std::nullopt;
}

Parsed<std::vector<StatusItem>> status_items(const Arg& a) {
  if (!a.is_list() || a.list.empty()) return Err("Invalid status items");
  std::vector<StatusItem> out;
  for (const Arg& x : a.list) {
    auto it = x.is_atom() ? status_item(x.text) : std::nullopt;
    if (!it) return Err("Invalid status item");
    out.push_back(*it);
  }
  return out;
}

// A mailbox or list pattern: astring, or an atom with list wildcards.
std::optional<std::string> list_mailbox(const Arg& a) { return astring(a); }

}  // namespace

std::optional<std::string> astring(const Arg& a) {
  if (!a.is_astring()) return std::nullopt;
  if (a.is_atom()) {
    // The reader lets '\\' through for flags; an astring atom may not hold it.
    if (a.text.find('\\') != std::string::npos) return std::nullopt;
  }
  return a.text;
}

std::optional<std::string> parse_flag(std::string_view s, bool allow_recent) {
  if (s.empty() || s.size() > kMaxFlagLength) return std::nullopt;
  if (s[0] == '\\') {
    static const char* const kSystem[] = {"\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"};
    for (const char* f : kSystem)
      if (str::iequals(s, f)) return std::string(f);
    if (allow_recent && str::iequals(s, "\\Recent")) return std::string("\\Recent");
    return std::nullopt;  // unknown system flags cannot be stored
  }
  for (char c : s)
    if (!keyword_char(c)) return std::nullopt;
  return std::string(s);
}

Parsed<std::vector<std::string>> parse_flag_list(const Arg& list) {
  std::vector<std::string> out;
  auto one = [&](const Arg& a) -> bool {
    if (!a.is_atom()) return false;
    auto f = parse_flag(a.text);
    if (!f) return false;
    for (const auto& o : out)
      if (str::iequals(o, *f)) return true;  // duplicates folded
    if (out.size() >= kMaxFlags) return false;
    out.push_back(*f);
    return true;
  };
  if (list.is_list()) {
    for (const Arg& a : list.list)
      if (!one(a)) return Err("Invalid flag");
  } else if (!one(list)) {
    return Err("Invalid flag");
  }
  return out;
}

Parsed<SequenceSet> parse_set_arg(const Arg& a) {
  if (!a.is_atom()) return Err("Invalid sequence set");
  auto s = parse_sequence_set(a.text);
  if (!s) return Err("Invalid sequence set");
  return *s;
}

Parsed<StoreRequest> parse_store(const std::vector<Arg>& args, size_t i) {
  StoreRequest r;
  if (i < args.size() && args[i].is_list()) {
    const auto& m = args[i].list;
    if (m.size() != 2 || !m[0].is_atom() || !str::iequals(m[0].text, "UNCHANGEDSINCE"))
      return Err("Invalid store modifier");
    auto v = modseq_value(m[1]);
    if (!v) return Err("Invalid UNCHANGEDSINCE");
    r.unchangedsince = *v;
    ++i;
  }
  if (i + 1 >= args.size() || !args[i].is_atom()) return Err("Missing store arguments");
  std::string item = str::upper(args[i].text);
  if (item.starts_with("+")) {
    r.mode = StoreRequest::Mode::Add;
    item.erase(0, 1);
  } else if (item.starts_with("-")) {
    r.mode = StoreRequest::Mode::Remove;
    item.erase(0, 1);
  }
  if (item == "FLAGS.SILENT") r.silent = true;
  else if (item != "FLAGS") return Err("Invalid store item");
  ++i;
  if (args[i].is_list()) {
    if (i + 1 != args.size()) return Err("Invalid store arguments");
    auto f = parse_flag_list(args[i]);
    if (auto* e = parse_error(f)) return *e;
    r.flags = std::get<0>(std::move(f));
  } else {
    // Flags without parentheses: "+FLAGS \Seen \Deleted".
    for (; i < args.size(); ++i) {
      auto f = parse_flag_list(args[i]);
      if (auto* e = parse_error(f)) return *e;
      for (auto& x : std::get<0>(f)) r.flags.push_back(std::move(x));
      if (r.flags.size() > kMaxFlags) return Err("Too many flags");
    }
  }
  return r;
}

Parsed<AppendRequest> parse_append(std::vector<Arg>& args) {
  AppendRequest r;
  if (args.size() < 2) return Err("Missing append arguments");
  auto mbox = astring(args[0]);
  if (!mbox) return Err("Invalid mailbox name");
  r.mailbox = *mbox;
  size_t i = 1;
  while (i < args.size()) {
    AppendMessage m;
    if (args[i].is_list()) {
      auto f = parse_flag_list(args[i]);
      if (auto* e = parse_error(f)) return *e;
      m.flags = std::get<0>(std::move(f));
      ++i;
    }
    if (i < args.size() && args[i].kind == Arg::Kind::Quoted) {
      auto d = parse_date_time(args[i].text);
      if (!d) return Err("Invalid date-time");
      m.date = *d;
      ++i;
    }
    if (i >= args.size() || args[i].kind != Arg::Kind::Literal) return Err("Missing message literal");
    m.binary = args[i].binary;
    m.message = std::move(args[i].text);
    ++i;
    r.messages.push_back(std::move(m));
  }
  return r;
}

const char* status_item_name(StatusItem i) {
  switch (i) {
    case StatusItem::Messages: return "MESSAGES";
    case StatusItem::Recent: return "RECENT";
    case StatusItem::UidNext: return "UIDNEXT";
    case StatusItem::UidValidity: return "UIDVALIDITY";
    case StatusItem::Unseen: return "UNSEEN";
    case StatusItem::HighestModSeq: return "HIGHESTMODSEQ";
    case StatusItem::Size: return "SIZE";
    case StatusItem::Deleted: return "DELETED";
    case StatusItem::AppendLimit: return "APPENDLIMIT";
  }
  return "";
}

Parsed<StatusRequest> parse_status(const std::vector<Arg>& args) {
  if (args.size() != 2) return Err("Invalid status arguments");
  auto mbox = astring(args[0]);
  if (!mbox) return Err("Invalid mailbox name");
  auto items = status_items(args[1]);
  if (auto* e = parse_error(items)) return *e;
  return StatusRequest{*mbox, std::get<0>(std::move(items))};
}

Parsed<ListRequest> parse_list(const std::vector<Arg>& args) {
  ListRequest r;
  size_t i = 0;
  if (i < args.size() && args[i].is_list()) {
    for (const Arg& o : args[i].list) {
      if (!o.is_atom()) return Err("Invalid list selection option");
      r.select_options.push_back(str::upper(o.text));
    }
    ++i;
  }
  if (i + 2 > args.size()) return Err("Missing list arguments");
  auto ref = astring(args[i]);
  if (!ref) return Err("Invalid reference");
  r.reference = *ref;
  ++i;
  if (args[i].is_list()) {
    if (args[i].list.empty()) return Err("Empty pattern list");
    for (const Arg& p : args[i].list) {
      auto s = list_mailbox(p);
      if (!s) return Err("Invalid pattern");
      r.patterns.push_back(*s);
    }
  } else {
    auto s = list_mailbox(args[i]);
    if (!s) return Err("Invalid pattern");
    r.patterns.push_back(*s);
  }
  ++i;
  if (i < args.size()) {
    if (i + 2 != args.size() || !args[i].is_atom() || !str::iequals(args[i].text, "RETURN") ||
        !args[i + 1].is_list())
      return Err("Invalid list arguments");
    const auto& opts = args[i + 1].list;
    for (size_t k = 0; k < opts.size(); ++k) {
      if (!opts[k].is_atom()) return Err("Invalid list return option");
      std::string o = str::upper(opts[k].text);
      if (o == "STATUS") {
        if (k + 1 >= opts.size()) return Err("Missing status items");
        auto items = status_items(opts[++k]);
        if (auto* e = parse_error(items)) return *e;
        r.return_status = std::get<0>(std::move(items));
      }
      r.return_options.push_back(o);
    }
  }
  return r;
}

Parsed<SelectRequest> parse_select(const std::vector<Arg>& args) {
  if (args.empty() || args.size() > 2) return Err("Invalid select arguments");
  auto mbox = astring(args[0]);
  if (!mbox) return Err("Invalid mailbox name");
  SelectRequest r;
  r.mailbox = *mbox;
  if (args.size() == 2) {
    if (!args[1].is_list()) return Err("Invalid select parameters");
    const auto& p = args[1].list;
    for (size_t k = 0; k < p.size(); ++k) {
      std::string n = p[k].is_atom() ? str::upper(p[k].text) : "";
      if (n == "CONDSTORE") {
        r.condstore = true;
      } else if (n == "QRESYNC" && k + 1 < p.size() && p[k + 1].is_list()) {
        r.qresync = p[k + 1].list;
        ++k;
      } else {
        return Err("Unknown select parameter");
      }
    }
  }
  return r;
}

Parsed<AuthenticateRequest> parse_authenticate(const std::vector<Arg>& args) {
  if (args.empty() || args.size() > 2 || !args[0].is_atom()) return Err("Invalid authenticate arguments");
  AuthenticateRequest r;
  r.mechanism = str::upper(args[0].text);
  for (char c : r.mechanism)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) return Err("Invalid mechanism");
  if (args.size() == 2) {
    if (!args[1].is_atom()) return Err("Invalid initial response");
    const std::string& ir = args[1].text;
    if (ir != "=") {
      for (char c : ir)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || c == '='))
          return Err("Invalid initial response");
    }
    r.initial = ir;
  }
  return r;
}

Parsed<LoginRequest> parse_login(const std::vector<Arg>& args) {
  if (args.size() != 2) return Err("Invalid login arguments");
  auto u = astring(args[0]), p = astring(args[1]);
  if (!u || !p) return Err("Invalid login arguments");
  return LoginRequest{*u, *p};
}

Parsed<std::vector<std::string>> parse_enable(const std::vector<Arg>& args) {
  if (args.empty()) return Err("Missing capabilities");
  std::vector<std::string> out;
  for (const Arg& a : args) {
    if (!a.is_atom()) return Err("Invalid capability");
    out.push_back(str::upper(a.text));
  }
  return out;
}

Parsed<std::vector<std::pair<std::string, std::optional<std::string>>>> parse_id(const std::vector<Arg>& args) {
  std::vector<std::pair<std::string, std::optional<std::string>>> out;
  if (args.size() != 1) return Err("Invalid ID arguments");
  if (args[0].is_nil()) return out;
  if (!args[0].is_list() || args[0].list.size() % 2 != 0) return Err("Invalid ID arguments");
  const auto& l = args[0].list;
  if (l.size() > 60) return Err("Too many ID fields");
  for (size_t i = 0; i < l.size(); i += 2) {
    if (!l[i].is_string() || l[i].text.size() > 30) return Err("Invalid ID field name");
    if (l[i + 1].is_nil()) {
      out.emplace_back(l[i].text, std::nullopt);
    } else if (l[i + 1].is_string() && l[i + 1].text.size() <= 1024) {
      out.emplace_back(l[i].text, l[i + 1].text);
    } else {
      return Err("Invalid ID field value");
    }
  }
  return out;
}

Parsed<CopyRequest> parse_copy(const std::vector<Arg>& args) {
  if (args.size() != 2) return Err("Invalid arguments");
  auto set = parse_set_arg(args[0]);
  if (auto* e = parse_error(set)) return *e;
  auto mbox = astring(args[1]);
  if (!mbox) return Err("Invalid mailbox name");
  return CopyRequest{std::get<0>(std::move(set)), *mbox};
}

Parsed<std::vector<std::string>> parse_astrings(const std::vector<Arg>& args, size_t n) {
  if (args.size() != n) return Err("Wrong number of arguments");
  std::vector<std::string> out;
  for (const Arg& a : args) {
    auto s = astring(a);
    if (!s) return Err("Invalid argument");
    out.push_back(*s);
  }
  return out;
}

}  // namespace postilion::imap
