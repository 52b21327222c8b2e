// lib/imap/envelope.cc - ENVELOPE and its address lists.
#include "lib/imap/envelope.h"

#include "lib/base/strings.h"
#include "lib/imap/response.h"

namespace postilion::imap {
namespace {

struct Token {
  enum class Kind { Word, Quoted, Literal /* [domain literal] */, Special };
  Kind kind;
  std::string text;
};

// Splits an address list into words, quoted strings, domain literals and the specials
// < > @ , ; : . with comments dropped.
std::vector<Token> tokenize(std::string_view s) {
  std::vector<Token> out;
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      ++i;
    } else if (c == '(') {
      int depth = 0;
      while (i < s.size()) {
        char d = s[i++];
        if (d == '\\' && i < s.size()) ++i;
        else if (d == '(') ++depth;
        else if (d == ')' && --depth == 0) break;
      }
    } else if (c == '"') {
      std::string q;
      ++i;
      while (i < s.size() && s[i] != '"') {
        if (s[i] == '\\' && i + 1 < s.size()) ++i;
        if (s[i] != '\r' && s[i] != '\n') q += s[i];
        ++i;
      }
      ++i;
      out.push_back({Token::Kind::Quoted, std::move(q)});
    } else if (c == '[') {
      size_t end = s.find(']', i);
      end = end == std::string_view::npos ? s.size() : end + 1;
      out.push_back({Token::Kind::Literal, std::string(s.substr(i, end - i))});
      i = end;
    } else if (std::string_view("<>@,;:.").find(c) != std::string_view::npos) {
      out.push_back({Token::Kind::Special, std::string(1, c)});
      ++i;
    } else {
      size_t start = i;
      while (i < s.size() && std::string_view(" \t\r\n()\"[<>@,;:.").find(s[i]) == std::string_view::npos) ++i;
      // A stray ')' or ']' stops the scan where it starts: it is a word of its own, so
      // the loop moves on (it once pushed empty words forever, found by fuzz_message).
      if (i == start) ++i;
      out.push_back({Token::Kind::Word, std::string(s.substr(start, i - start))});
    }
  }
  return out;
}

bool is_special(const Token& t, char c) { return t.kind == Token::Kind::Special && t.text[0] == c; }

class AddressParser {
 public:
  explicit AddressParser(std::vector<Token> t) : t_(std::move(t)) {}

  std::vector<EnvelopeAddress> run() {
    while (i_ < t_.size() && out_.size() < kMaxEnvelopeAddresses) {
      if (is_special(t_[i_], ',')) {
        ++i_;
        continue;
      }
      if (is_special(t_[i_], ';')) {  // a stray group end
        if (in_group_) end_group();
        ++i_;
        continue;
      }
      size_t before = i_;
      one();
      if (i_ == before) ++i_;  // never loop on junk
    }
    if (in_group_) end_group();
    return std::move(out_);
  }

 private:
  void end_group() {
    out_.push_back({});
    in_group_ = false;
  }

  // A mailbox, or a group start.
  void one() {
    // The phrase (display name) or the local part: everything up to a delimiter.
    std::vector<const Token*> words;
    while (i_ < t_.size() && !(t_[i_].kind == Token::Kind::Special &&
                               std::string_view("<@,;:").find(t_[i_].text[0]) != std::string_view::npos))
      words.push_back(&t_[i_++]);
    if (i_ < t_.size() && is_special(t_[i_], ':') && !in_group_) {
      ++i_;
      EnvelopeAddress g;
      g.mailbox = join_phrase(words);
      out_.push_back(std::move(g));
      in_group_ = true;
      return;
    }
    if (i_ < t_.size() && is_special(t_[i_], '<')) {
      ++i_;
      EnvelopeAddress a;
      std::string phrase = join_phrase(words);
      if (!phrase.empty()) a.name = phrase;
      // Obsolete route: @a,@b:
      std::string route;
      while (i_ < t_.size() && is_special(t_[i_], '@')) {
        size_t start = i_;
        while (i_ < t_.size() && !is_special(t_[i_], ':') && !is_special(t_[i_], '>')) ++i_;
        if (i_ < t_.size() && is_special(t_[i_], ':')) {
          for (size_t k = start; k < i_; ++k) route += t_[k].text;
          ++i_;
        } else {
          i_ = start;
          break;
        }
      }
      if (!route.empty()) a.route = route;
      std::vector<const Token*> local;
      while (i_ < t_.size() && !is_special(t_[i_], '@') && !is_special(t_[i_], '>')) local.push_back(&t_[i_++]);
      a.mailbox = join_local(local);
      if (i_ < t_.size() && is_special(t_[i_], '@')) {
        ++i_;
        a.host = domain(">");
      }
      if (i_ < t_.size() && is_special(t_[i_], '>')) ++i_;
      // Junk after '>' up to the next delimiter is dropped.
      while (i_ < t_.size() && !is_special(t_[i_], ',') && !is_special(t_[i_], ';')) ++i_;
      fill_missing(a);
      out_.push_back(std::move(a));
      return;
    }
    // addr-spec: local@domain
    EnvelopeAddress a;
    a.mailbox = join_local(words);
    if (i_ < t_.size() && is_special(t_[i_], '@')) {
      ++i_;
      a.host = domain("");
    }
    if (a.mailbox->empty() && (!a.host || a.host->empty())) return;
    fill_missing(a);
    out_.push_back(std::move(a));
  }

  // As other servers do, an address without a local part or domain gets a placeholder:
  // a NIL host would mean group syntax to the client.
  static void fill_missing(EnvelopeAddress& a) {
    if (!a.mailbox || a.mailbox->empty()) a.mailbox = "MISSING_MAILBOX";
    if (!a.host || a.host->empty()) a.host = "MISSING_DOMAIN";
  }

  std::string domain(std::string_view extra_end) {
    std::string d;
    while (i_ < t_.size() && !is_special(t_[i_], ',') && !is_special(t_[i_], ';') &&
           !(extra_end.size() && is_special(t_[i_], extra_end[0])))
      d += t_[i_++].text;
    return d;
  }

  static std::string join_phrase(const std::vector<const Token*>& w) {
    std::string s;
    for (size_t k = 0; k < w.size(); ++k) {
      // '.' in an obsolete phrase ("John Q. Public") sticks to the word before it.
      if (k > 0 && !is_special(*w[k], '.')) s += ' ';
      s += w[k]->text;
    }
    return s;
  }

  static std::string join_local(const std::vector<const Token*>& w) {
    std::string s;
    for (const Token* t : w) s += t->text;
    return s;
  }

  std::vector<Token> t_;
  size_t i_ = 0;
  bool in_group_ = false;
  std::vector<EnvelopeAddress> out_;
};

void append_nstr(std::string& out, const std::optional<std::string>& s) {
  if (s) append_string(out, *s);
  else out += "NIL";
}

}  // namespace

std::vector<EnvelopeAddress> parse_envelope_addresses(std::string_view value) {
  return AddressParser(tokenize(value)).run();
}

std::string envelope_address_list(const std::vector<EnvelopeAddress>& list) {
  if (list.empty()) return "NIL";
  std::string out = "(";
  for (const auto& a : list) {
    out += '(';
    append_nstr(out, a.name);
    out += ' ';
    append_nstr(out, a.route);
    out += ' ';
    append_nstr(out, a.mailbox);
    out += ' ';
    append_nstr(out, a.host);
    out += ')';
  }
  return out + ")";
}

std::string envelope(const mail::Headers& h) {
  std::string out = "(";
  auto field = [&](std::string_view name) -> std::optional<std::string> {
    for (const auto& f : h.fields)
      if (str::iequals(f.name, name)) return f.value();
    return std::nullopt;
  };
  auto nstring = [&](std::string_view name) {
    auto v = field(name);
    if (v && v->empty()) v.reset();
    append_nstr(out, v);
    out += ' ';
  };
  auto addresses = [&](std::string_view name, std::string_view fallback) {
    auto v = field(name);
    std::vector<EnvelopeAddress> list;
    if (v) list = parse_envelope_addresses(*v);
    if (list.empty() && !fallback.empty()) {
      if (auto f = field(fallback)) list = parse_envelope_addresses(*f);
    }
    out += envelope_address_list(list);
    out += ' ';
  };
  nstring("Date");
  nstring("Subject");
  addresses("From", "");
  addresses("Sender", "From");
  addresses("Reply-To", "From");
  addresses("To", "");
  addresses("Cc", "");
  addresses("Bcc", "");
  nstring("In-Reply-To");
  auto id = field("Message-ID");
  if (id && id->empty()) id.reset();
  append_nstr(out, id);
  return out + ")";
}

std::string envelope(std::string_view header) { return envelope(mail::parse_headers(header)); }

}  // namespace postilion::imap
