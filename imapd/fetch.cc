// imapd/fetch.cc - FETCH and STORE (RFC 3501 6.4.5, 6.4.6): message attributes,
// BODY[section]<partial> of the header, text and whole message, and flag changes.
#include <algorithm>

#include "imapd/folders.h"
#include "imapd/imap_session.h"
#include "imapd/response.h"
#include "lib/base/strings.h"
#include "lib/log/log.h"
#include "lib/mail/header.h"

namespace postilion::imapd {
namespace {

struct Item {
  enum class Kind { Flags, Uid, InternalDate, Size, Body, Envelope, BodyStructure };
  Kind kind = Kind::Flags;
  std::string name;     // as it is answered: "BODY[HEADER.FIELDS (FROM)]<0>", "RFC822"
  std::string section;  // "", HEADER, TEXT, HEADER.FIELDS, HEADER.FIELDS.NOT, MIME, "1"...
  std::vector<std::string> fields;
  bool peek = false, partial = false;
  uint64_t start = 0, length = 0;
};

// Parses "BODY[...]<a.b>" / "BODY.PEEK[...]" (upper-cased text); false when bad.
bool parse_body(const std::string& text, Item* it) {
  std::string_view t = text;
  it->peek = t.starts_with("BODY.PEEK[");
  t.remove_prefix(it->peek ? 10 : 5);
  size_t close = t.find(']');
  if (close == std::string_view::npos) return false;
  std::string_view sec = t.substr(0, close), rest = t.substr(close + 1);
  std::string_view part;
  // Part numbers ("1.2.") before the section text.
  while (!sec.empty() && sec[0] >= '0' && sec[0] <= '9') {
    size_t dot = sec.find('.');
    std::string_view num = sec.substr(0, dot);
    for (char c : num)
      if (c < '0' || c > '9') return false;
    if (num[0] == '0') return false;
    part = std::string_view(t.data(), static_cast<size_t>(num.data() + num.size() - t.data()));
    sec = dot == std::string_view::npos ? std::string_view() : sec.substr(dot + 1);
    if (dot != std::string_view::npos && sec.empty()) return false;
  }
  std::string words(sec);
  std::string name_sec(part);
  if (!words.empty()) {
    auto sp = words.find(' ');
    std::string head = words.substr(0, sp);
    if (head == "HEADER.FIELDS" || head == "HEADER.FIELDS.NOT") {
      if (sp == std::string::npos) return false;
      std::string list(str::trim(std::string_view(words).substr(sp + 1)));
      if (list.size() < 2 || list.front() != '(' || list.back() != ')') return false;
      it->fields = str::split(list.substr(1, list.size() - 2), " ");
      if (it->fields.empty()) return false;
      for (auto& f : it->fields)
        if (f.front() == '"' && f.size() >= 2 && f.back() == '"') f = f.substr(1, f.size() - 2);
      it->section = head;
      words = head + " (" + str::join(it->fields, " ") + ")";
    } else if (head == "HEADER" || head == "TEXT" || (head == "MIME" && !part.empty())) {
      if (sp != std::string::npos) return false;
      it->section = head;
    } else {
      return false;
    }
  }
  if (!part.empty()) {
    it->section = std::string(part) + (it->section.empty() ? "" : "." + it->section);
    name_sec = std::string(part) + (words.empty() ? "" : "." + words);
  } else {
    name_sec = words;
  }
  it->name = "BODY[" + name_sec + "]";
  if (!rest.empty()) {
    if (rest.front() != '<' || rest.back() != '>') return false;
    std::string_view r = rest.substr(1, rest.size() - 2);
    size_t dot = r.find('.');
    if (dot == std::string_view::npos) return false;
    auto a = str::parse_uint(r.substr(0, dot)), b = str::parse_uint(r.substr(dot + 1));
    if (!a || !b || *b == 0 || *a > 0xffffffffu || *b > 0xffffffffu) return false;
    it->partial = true;
    it->start = *a;
    it->length = *b;
    it->name += "<" + std::to_string(*a) + ">";
  }
  it->kind = Item::Kind::Body;
  return true;
}

bool parse_item(const std::string& raw, std::vector<Item>* items) {
  std::string t = str::upper(raw);
  // Section text keeps its case for field names; only the keyword part is upper-cased.
  Item it;
  if (t == "FLAGS") it.kind = Item::Kind::Flags, it.name = "FLAGS";
  else if (t == "UID") it.kind = Item::Kind::Uid, it.name = "UID";
  else if (t == "INTERNALDATE") it.kind = Item::Kind::InternalDate, it.name = "INTERNALDATE";
  else if (t == "RFC822.SIZE") it.kind = Item::Kind::Size, it.name = "RFC822.SIZE";
  else if (t == "ENVELOPE") it.kind = Item::Kind::Envelope, it.name = "ENVELOPE";
  else if (t == "BODYSTRUCTURE" || t == "BODY") it.kind = Item::Kind::BodyStructure, it.name = t;
  else if (t == "RFC822") it.kind = Item::Kind::Body, it.name = "RFC822";
  else if (t == "RFC822.HEADER") it.kind = Item::Kind::Body, it.name = "RFC822.HEADER", it.section = "HEADER", it.peek = true;
  else if (t == "RFC822.TEXT") it.kind = Item::Kind::Body, it.name = "RFC822.TEXT", it.section = "TEXT";
  else if (t.starts_with("BODY[") || t.starts_with("BODY.PEEK[")) {
    if (!parse_body(t, &it)) return false;
  } else if (t == "ALL" || t == "FAST" || t == "FULL") {
    for (const char* m : {"FLAGS", "INTERNALDATE", "RFC822.SIZE"}) parse_item(m, items);
    if (t != "FAST") parse_item("ENVELOPE", items);
    if (t == "FULL") parse_item("BODY", items);
    return true;
  } else {
    return false;
  }
  items->push_back(std::move(it));
  return true;
}

// The header section (with its blank line) and the body of a CRLF message.
std::pair<std::string_view, std::string_view> split_message(std::string_view msg) {
  size_t end = msg.find("\r\n\r\n");
  if (msg.starts_with("\r\n")) return {msg.substr(0, 2), msg.substr(2)};
  if (end == std::string_view::npos) return {msg, std::string_view()};
  return {msg.substr(0, end + 4), msg.substr(end + 4)};
}

std::string header_fields(std::string_view header, const std::vector<std::string>& names, bool negate) {
  mail::Headers h = mail::parse_headers(header);
  std::string out;
  for (const auto& f : h.fields) {
    bool listed = std::any_of(names.begin(), names.end(), [&](const std::string& n) { return str::iequals(n, f.name); });
    if (listed != negate) out += f.raw;
  }
  return out + "\r\n";
}

}  // namespace

void Session::cmd_fetch(Command& c, bool uid) {
  if (c.args.size() < 2 || c.args.size() > 3 || !c.args[0].is_atom()) return bad(c, "FETCH wants a sequence set and items");
  std::vector<Item> items;
  const Value& what = c.args[1];
  if (what.is_list()) {
    for (const auto& v : what.items)
      if (!v.is_atom() || !parse_item(v.text, &items)) return bad(c, "FETCH: invalid item " + v.text.substr(0, 60));
  } else if (!what.is_atom() || !parse_item(what.text, &items)) {
    return bad(c, "FETCH: invalid item " + what.text.substr(0, 60));
  }
  if (items.empty()) return bad(c, "FETCH: no items");
  std::vector<size_t> idx;
  std::string why;
  if (!resolve_set(c.args[0].text, uid, &idx, &why)) return bad(c, why);
  bool want_uid = uid, want_flags = false, sets_seen = false;
  for (const auto& it : items) {
    want_uid = want_uid || it.kind == Item::Kind::Uid;
    want_flags = want_flags || it.kind == Item::Kind::Flags;
    sets_seen = sets_seen || (it.kind == Item::Kind::Body && !it.peek);
  }
  bool failed = false;
  for (size_t i : idx) {
    Msg& m = msgs_[i];
    if (m.gone) {
      failed = true;
      continue;
    }
    std::string line = "* " + std::to_string(i + 1) + " FETCH (";
    bool first = true;
    auto add = [&](const std::string& s) {
      if (!first) line += ' ';
      first = false;
      line += s;
    };
    if (want_uid) add("UID " + std::to_string(m.uid));
    bool flags_changed = false;
    if (sets_seen && !read_only_ && m.letters.find('S') == std::string::npos)
      flags_changed = set_letters(m, m.letters + "S");
    bool ok_msg = true;
    for (const auto& it : items) {
      switch (it.kind) {
        case Item::Kind::Uid:
          break;
        case Item::Kind::Flags:
          add("FLAGS " + flags_of(m));
          break;
        case Item::Kind::InternalDate:
          add("INTERNALDATE \"" + date_time(internal_date(m)) + "\"");
          break;
        case Item::Kind::Size:
          add("RFC822.SIZE " + std::to_string(m.vsize));
          break;
        case Item::Kind::Envelope:
        case Item::Kind::BodyStructure: {
          ok_msg = false;
          break;
        }
        case Item::Kind::Body: {
          auto text = content(m);
          if (!text) {
            if (text.error().code() != ENOENT) log::warn("%s: %s", label_.c_str(), text.error().c_str());
            ok_msg = false;
            break;
          }
          auto [header, body] = split_message(*text);
          std::string_view data;
          std::string built;
          const std::string& sec = it.section;
          if (sec.empty()) data = *text;
          else if (sec == "HEADER") data = header;
          else if (sec == "TEXT" || sec == "1") data = body;  // a single-part message's part 1 is its body
          else if (sec == "HEADER.FIELDS" || sec == "HEADER.FIELDS.NOT")
            data = built = header_fields(header, it.fields, sec == "HEADER.FIELDS.NOT");
          else data = std::string_view();  // nested parts: not parsed yet
          if (it.partial) data = it.start >= data.size() ? std::string_view() : data.substr(it.start, it.length);
          add(it.name + " " + literal(data));
          stats_.fetched_bytes += data.size();
          break;
        }
      }
    }
    if (!ok_msg) {
      failed = true;
      continue;
    }
    if (flags_changed && !want_flags) add("FLAGS " + flags_of(m));
    out(line + ")\r\n");
    ++stats_.fetched;
  }
  for (const auto& it : items)
    if (it.kind == Item::Kind::Envelope || it.kind == Item::Kind::BodyStructure)
      return no(c, "FETCH " + it.name + " is not supported yet");
  if (failed) return no(c, "some of the messages no longer exist");
  ok(c, "FETCH completed");
}

void Session::cmd_store(Command& c, bool uid) {
  if (c.args.size() != 3 || !c.args[0].is_atom() || !c.args[1].is_atom())
    return bad(c, "STORE wants a sequence set, an item and flags");
  if (read_only_) return no(c, "[READ-ONLY] the mailbox is read-only");
  std::string what = str::upper(c.args[1].text);
  bool silent = what.ends_with(".SILENT");
  if (silent) what.resize(what.size() - 7);
  char mode = what == "FLAGS" ? '=' : what == "+FLAGS" ? '+' : what == "-FLAGS" ? '-' : 0;
  if (!mode) return bad(c, "STORE: invalid item");
  std::string letters;
  const Value& flags = c.args[2];
  std::vector<const Value*> list;
  if (flags.is_list())
    for (const auto& v : flags.items) list.push_back(&v);
  else
    list.push_back(&flags);
  for (const Value* v : list) {
    if (!v->is_atom() || v->text.empty()) return bad(c, "STORE: invalid flag");
    if (v->text[0] == '\\') {
      if (str::iequals(v->text, "\\Recent")) continue;
      char l = flag_letter(v->text);
      if (!l) return bad(c, "STORE: invalid flag " + v->text.substr(0, 40));
      letters += l;
    }
  }
  std::vector<size_t> idx;
  std::string why;
  if (!resolve_set(c.args[0].text, uid, &idx, &why)) return bad(c, why);
  bool failed = false;
  const std::string system = "DFRST";
  for (size_t i : idx) {
    Msg& m = msgs_[i];
    if (m.gone) {
      failed = true;
      continue;
    }
    std::string next;
    if (mode == '=') {
      // Letters that are no IMAP system flag (P, keywords) stay.
      for (char l : m.letters)
        if (system.find(l) == std::string::npos) next += l;
      next += letters;
    } else if (mode == '+') {
      next = m.letters + letters;
    } else {
      for (char l : m.letters)
        if (letters.find(l) == std::string::npos) next += l;
    }
    if (!set_letters(m, next)) {
      failed = true;
      continue;
    }
    ++stats_.stored;
    if (!silent)
      out("* " + std::to_string(i + 1) + " FETCH (" + (uid ? "UID " + std::to_string(m.uid) + " " : "") + "FLAGS " +
          flags_of(m) + ")\r\n");
  }
  if (failed) return no(c, "some of the messages no longer exist");
  ok(c, "STORE completed");
}

}  // namespace postilion::imapd
