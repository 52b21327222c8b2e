// lib/smtp/command.cc - SMTP command lines, paths and ESMTP parameters.
#include "lib/smtp/command.h"

#include <arpa/inet.h>

#include <cstring>

#include "lib/base/strings.h"
#include "lib/mail/address.h"
#include "lib/mail/dsn.h"

namespace postilion::smtp {
namespace {

bool is_control(unsigned char c) { return c < 0x20 || c == 0x7f; }

bool is_atext(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::strchr("!#$%&'*+-/=?^_`{|}~", c) != nullptr && c != 0;
}

bool is_space(char c) { return c == ' ' || c == '\t'; }

std::string_view trim_sp(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

struct VerbEntry {
  const char* name;
  Verb verb;
  enum { None, Required, Optional } arg;
};

constexpr VerbEntry kVerbs[] = {
    {"HELO", Verb::Helo, VerbEntry::Required},   {"EHLO", Verb::Ehlo, VerbEntry::Required},
    {"MAIL", Verb::Mail, VerbEntry::Required},   {"RCPT", Verb::Rcpt, VerbEntry::Required},
    {"DATA", Verb::Data, VerbEntry::None},       {"BDAT", Verb::Bdat, VerbEntry::Required},
    {"RSET", Verb::Rset, VerbEntry::None},       {"NOOP", Verb::Noop, VerbEntry::Optional},
    {"QUIT", Verb::Quit, VerbEntry::None},       {"VRFY", Verb::Vrfy, VerbEntry::Required},
    {"EXPN", Verb::Expn, VerbEntry::Required},   {"HELP", Verb::Help, VerbEntry::Optional},
    {"STARTTLS", Verb::Starttls, VerbEntry::None}, {"AUTH", Verb::Auth, VerbEntry::Required},
};

// One domain label run: letters, digits, hyphens (and UTF-8 bytes when allowed).
bool valid_domain(std::string_view d, bool allow_utf8) {
  if (d.empty() || d.size() > kMaxDomain) return false;
  if (d.front() == '[') {
    if (d.back() != ']' || d.size() < 3) return false;
    std::string lit(d.substr(1, d.size() - 2));
    unsigned char buf[16];
    if (str::istarts_with(lit, "IPv6:")) return inet_pton(AF_INET6, lit.c_str() + 5, buf) == 1;
    return inet_pton(AF_INET, lit.c_str(), buf) == 1;
  }
  size_t label = 0;
  for (size_t i = 0; i < d.size(); ++i) {
    unsigned char c = d[i];
    if (c == '.') {
      if (label == 0 || d[i - 1] == '-') return false;
      label = 0;
      continue;
    }
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              (c == '-' && label > 0) || (c >= 0x80 && allow_utf8);
    if (!ok || ++label > 63) return false;
  }
  return label > 0 && d.back() != '-';
}

bool has_8bit(std::string_view s) {
  for (unsigned char c : s)
    if (c >= 0x80) return true;
  return false;
}

// Well-formed UTF-8 (no overlongs, no surrogates), as RFC 6531 requires.
bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = s[i];
    size_t n;
    uint32_t cp;
    if (c < 0x80) { ++i; continue; }
    if ((c & 0xe0) == 0xc0) { n = 1; cp = c & 0x1f; }
    else if ((c & 0xf0) == 0xe0) { n = 2; cp = c & 0x0f; }
    else if ((c & 0xf8) == 0xf0) { n = 3; cp = c & 0x07; }
    else return false;
    if (i + n >= s.size()) return false;
    for (size_t k = 1; k <= n; ++k) {
      unsigned char cc = s[i + k];
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += n + 1;
  }
  return true;
}

// The local part as it goes on the wire: a dot-string as is (UTF-8 included), else quoted.
std::string format_local(const std::string& local) {
  bool dot_string = !local.empty() && local.front() != '.' && local.back() != '.' &&
                    local.find("..") == std::string::npos;
  for (unsigned char c : local)
    if (!(is_atext(c) || c == '.' || c >= 0x80)) dot_string = false;
  return dot_string ? local : mail::quote_local(local);
}

Reply bad_path(PathKind kind) {
  return kind == PathKind::Sender ? reply(501, "5.1.7", "Bad sender address syntax")
                                  : reply(501, "5.1.3", "Bad recipient address syntax");
}

// Splits "<path> PARAM PARAM" into the path text and the rest. The path ends at the
// '>' that closes it (outside quotes), or at the first space for a bare address.
bool split_path(std::string_view arg, std::string_view* path, std::string_view* rest) {
  arg = trim_sp(arg);
  if (arg.empty()) return false;
  size_t end;
  if (arg.front() == '<') {
    bool quoted = false;
    end = std::string_view::npos;
    for (size_t i = 1; i < arg.size(); ++i) {
      if (quoted && arg[i] == '\\') { ++i; continue; }
      if (arg[i] == '"') quoted = !quoted;
      else if (!quoted && arg[i] == '>') { end = i + 1; break; }
    }
    if (end == std::string_view::npos) return false;
    if (end < arg.size() && !is_space(arg[end])) return false;
  } else {
    end = 0;
    while (end < arg.size() && !is_space(arg[end])) ++end;
  }
  *path = arg.substr(0, end);
  *rest = trim_sp(arg.substr(end));
  return true;
}

// Calls fn(keyword_upper, value, has_value) for each "KEY[=VALUE]"; stops at the
// first reply fn returns.
template <class Fn>
Reply each_param(std::string_view rest, Fn fn) {
  size_t i = 0;
  while (i < rest.size()) {
    while (i < rest.size() && is_space(rest[i])) ++i;
    size_t start = i;
    while (i < rest.size() && !is_space(rest[i])) ++i;
    if (start == i) break;
    std::string_view word = rest.substr(start, i - start);
    size_t eq = word.find('=');
    std::string key = str::upper(word.substr(0, eq));
    bool has_value = eq != std::string_view::npos;
    std::string_view value = has_value ? word.substr(eq + 1) : std::string_view();
    if (key.empty()) return reply(501, "5.5.4", "Bad parameter syntax");
    for (char c : key)
      if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'))
        return reply(501, "5.5.4", "Bad parameter syntax");
    Reply r = fn(key, value, has_value);
    if (!r.empty()) return r;
  }
  return Reply{};
}

Reply bad_param(std::string_view key) {
  return reply(501, "5.5.4", "Bad " + std::string(key) + " parameter syntax");
}

}  // namespace

// ---- commands ----------------------------------------------------------------------
const char* verb_name(Verb v) {
  for (const auto& e : kVerbs)
    if (e.verb == v) return e.name;
  return "?";
}

bool is_http_line(std::string_view line) {
  static constexpr const char* kHttp[] = {"GET ", "POST ", "CONNECT ", "PUT ", "HEAD ",
                                           "OPTIONS ", "Host:", "User-Agent:"};
  for (const char* p : kHttp)
    if (str::istarts_with(line, p)) return true;
  return false;
}

Parsed<Command> parse_command(std::string_view line) {
  for (unsigned char c : line)
    if (is_control(c) && c != '\t') return reply(500, "5.5.2", "Error: bad syntax");
  std::string_view s = trim_sp(line);
  if (s.empty()) return reply(500, "5.5.2", "Error: bad syntax");
  size_t sp = 0;
  while (sp < s.size() && !is_space(s[sp]) && s[sp] != ':') ++sp;
  std::string_view word = s.substr(0, sp);
  std::string_view arg = trim_sp(s.substr(sp));
  const VerbEntry* found = nullptr;
  for (const auto& e : kVerbs) {
    std::string_view name(e.name);
    if (name.size() == word.size() && str::iequals(word, name)) {
      found = &e;
      break;
    }
  }
  if (!found) return reply(502, "5.5.2", "Error: command not recognized");
  Command cmd{found->verb, arg};
  if (found->verb == Verb::Mail || found->verb == Verb::Rcpt) {
    std::string_view kw = found->verb == Verb::Mail ? "FROM:" : "TO:";
    if (!str::istarts_with(arg, kw))
      return found->verb == Verb::Mail ? reply(501, "5.5.4", "Syntax: MAIL FROM:<address>")
                                       : reply(501, "5.5.4", "Syntax: RCPT TO:<address>");
    cmd.arg = trim_sp(arg.substr(kw.size()));
    if (cmd.arg.empty())
      return found->verb == Verb::Mail ? reply(501, "5.5.4", "Syntax: MAIL FROM:<address>")
                                       : reply(501, "5.5.4", "Syntax: RCPT TO:<address>");
    return cmd;
  }
  if (!arg.empty() && arg.front() == ':') return reply(500, "5.5.2", "Error: bad syntax");
  if (found->arg == VerbEntry::None && !arg.empty())
    return reply(501, "5.5.4", std::string("Syntax: ") + found->name);
  if (found->arg == VerbEntry::Required && arg.empty()) {
    std::string what = found->verb == Verb::Helo || found->verb == Verb::Ehlo ? " hostname"
                       : found->verb == Verb::Bdat ? " size [LAST]"
                       : found->verb == Verb::Auth ? " mechanism"
                                                   : " address";
    return reply(501, "5.5.4", std::string("Syntax: ") + found->name + what);
  }
  return cmd;
}

// ---- paths -------------------------------------------------------------------------
bool Path::routing() const {
  return local.find_first_of("%!@") != std::string::npos;
}

std::string Path::domain_lower() const { return str::lower(domain); }

Parsed<Path> parse_path(std::string_view text, PathKind kind, bool smtputf8) {
  Path out;
  std::string_view in = text;
  if (in.size() >= 2 && in.front() == '<' && in.back() == '>') {
    in = in.substr(1, in.size() - 2);
  } else if (in.find_first_of("<> \t") != std::string_view::npos || in.empty()) {
    return bad_path(kind);
  }
  if (in.size() > kMaxPath) return reply(501, kind == PathKind::Sender ? "5.1.7" : "5.1.3",
                                         "Address too long");
  for (unsigned char c : in)
    if (is_control(c)) return bad_path(kind);
  if (in.empty()) {
    if (kind == PathKind::Recipient) return bad_path(kind);
    return out;
  }
  if (has_8bit(in)) {
    if (!valid_utf8(in)) return bad_path(kind);
    if (!smtputf8)
      return reply(553, "5.6.7", "Must declare SMTPUTF8 to send non-ASCII addresses");
    out.utf8 = true;
  }
  if (in.front() == '@') {
    // A-d-l: "@a,@b:". RFC 5321 says to accept and ignore it; the remaining mailbox is
    // what the relay policy judges.
    size_t colon = in.find(':');
    if (colon == std::string_view::npos) return bad_path(kind);
    for (const auto& hop : str::split_exact(in.substr(0, colon), ',')) {
      if (hop.size() < 2 || hop[0] != '@' || !valid_domain(std::string_view(hop).substr(1), smtputf8))
        return bad_path(kind);
    }
    out.source_route = true;
    in = in.substr(colon + 1);
    if (in.empty()) return bad_path(kind);
  }
  // Local part: a dot-string or a quoted string.
  size_t i = 0;
  if (in.front() == '"') {
    for (i = 1; i < in.size(); ++i) {
      unsigned char c = in[i];
      if (c == '\\') {
        if (++i >= in.size()) return bad_path(kind);
        out.local.push_back(in[i]);
      } else if (c == '"') {
        break;
      } else {
        out.local.push_back(c);
      }
    }
    if (i >= in.size()) return bad_path(kind);
    ++i;  // closing quote
  } else {
    while (i < in.size() && in[i] != '@') {
      unsigned char c = in[i];
      if (!(is_atext(c) || c == '.' || (c >= 0x80 && smtputf8))) return bad_path(kind);
      ++i;
    }
    out.local = std::string(in.substr(0, i));
    if (out.local.empty() || out.local.front() == '.' || out.local.back() == '.' ||
        out.local.find("..") != std::string::npos)
      return bad_path(kind);
  }
  if (i < in.size()) {
    if (in[i] != '@') return bad_path(kind);
    std::string_view domain = in.substr(i + 1);
    if (!valid_domain(domain, smtputf8)) return bad_path(kind);
    out.domain = std::string(domain);
  }
  if (out.local.empty() && out.domain.empty()) return bad_path(kind);
  if (out.local.size() > kMaxLocalPart)
    return reply(501, kind == PathKind::Sender ? "5.1.7" : "5.1.3", "Local part too long");
  out.address = format_local(out.local);
  if (!out.domain.empty()) out.address += "@" + out.domain;
  return out;
}

// ---- MAIL / RCPT -------------------------------------------------------------------
Parsed<MailFrom> parse_mail_from(std::string_view arg) {
  std::string_view path_text, rest;
  if (!split_path(arg, &path_text, &rest)) return bad_path(PathKind::Sender);
  MailFrom m;
  bool seen_body = false, seen_ret = false, seen_envid = false, seen_auth = false;
  Reply r = each_param(rest, [&](const std::string& key, std::string_view v, bool has) -> Reply {
    if (key == "SIZE") {
      auto n = has && !v.empty() && v.size() <= 20 ? str::parse_uint(v) : std::nullopt;
      if (!n || m.size_given) return bad_param(key);
      m.size_given = true;
      m.size = *n;
    } else if (key == "BODY") {
      if (!has || seen_body) return bad_param(key);
      seen_body = true;
      if (str::iequals(v, "7BIT")) m.body = Body::SevenBit;
      else if (str::iequals(v, "8BITMIME")) m.body = Body::EightBitMime;
      else return reply(555, "5.5.4", "Unsupported BODY parameter value");
    } else if (key == "SMTPUTF8") {
      // Repeating it changes nothing; Python's smtplib does repeat it.
      if (has) return bad_param(key);
      m.smtputf8 = true;
    } else if (key == "RET") {
      if (!has || seen_ret) return bad_param(key);
      seen_ret = true;
      if (str::iequals(v, "FULL")) m.ret = Ret::Full;
      else if (str::iequals(v, "HDRS")) m.ret = Ret::Headers;
      else return bad_param(key);
    } else if (key == "ENVID") {
      if (!has || seen_envid || v.empty() || v.size() > kMaxEnvid) return bad_param(key);
      auto d = mail::xtext_decode(v);
      if (!d) return bad_param(key);
      seen_envid = true;
      m.envid = *d;
    } else if (key == "AUTH") {
      if (!has || seen_auth || v.empty() || v.size() > kMaxPath * 3) return bad_param(key);
      auto d = mail::xtext_decode(v);
      if (!d) return bad_param(key);
      seen_auth = true;
      m.auth = *d;
    } else {
      return reply(555, "5.5.4", "Unsupported option: " + str::printable(key, 40));
    }
    return Reply{};
  });
  if (!r.empty()) return r;
  auto path = parse_path(path_text, PathKind::Sender, m.smtputf8);
  if (!path) return path.error();
  m.path = std::move(path.value());
  return m;
}

Parsed<RcptTo> parse_rcpt_to(std::string_view arg, bool smtputf8) {
  std::string_view path_text, rest;
  if (!split_path(arg, &path_text, &rest)) return bad_path(PathKind::Recipient);
  RcptTo t;
  bool seen_orcpt = false;
  Reply r = each_param(rest, [&](const std::string& key, std::string_view v, bool has) -> Reply {
    if (key == "NOTIFY") {
      if (!has || t.notify != 0) return bad_param(key);
      auto bits = mail::parse_notify(v);
      if (!bits || *bits == 0) return bad_param(key);
      t.notify = *bits;
    } else if (key == "ORCPT") {
      if (!has || seen_orcpt || v.size() > kMaxOrcpt) return bad_param(key);
      size_t semi = v.find(';');
      if (semi == std::string_view::npos || semi == 0) return bad_param(key);
      std::string type = str::lower(v.substr(0, semi));
      std::optional<std::string> addr;
      if (type == "utf-8") {
        addr = std::string(v.substr(semi + 1));  // RFC 6533 utf-8-addr-xtext, kept as given
      } else {
        addr = mail::xtext_decode(v.substr(semi + 1));
      }
      if (!addr || addr->empty()) return bad_param(key);
      for (unsigned char c : *addr)
        if (is_control(c)) return bad_param(key);
      seen_orcpt = true;
      t.orcpt = type + ";" + *addr;
    } else {
      return reply(555, "5.5.4", "Unsupported option: " + str::printable(key, 40));
    }
    return Reply{};
  });
  if (!r.empty()) return r;
  auto path = parse_path(path_text, PathKind::Recipient, smtputf8);
  if (!path) return path.error();
  t.path = std::move(path.value());
  return t;
}

// ---- BDAT / AUTH -------------------------------------------------------------------
Parsed<Bdat> parse_bdat(std::string_view arg) {
  auto words = str::split(arg, " \t");
  if (words.empty() || words.size() > 2 || words[0].size() > 18)
    return reply(501, "5.5.4", "Syntax: BDAT size [LAST]");
  for (char c : words[0])
    if (c < '0' || c > '9') return reply(501, "5.5.4", "Syntax: BDAT size [LAST]");
  auto n = str::parse_uint(words[0]);
  if (!n) return reply(501, "5.5.4", "Syntax: BDAT size [LAST]");
  Bdat b{*n, false};
  if (words.size() == 2) {
    if (!str::iequals(words[1], "LAST")) return reply(501, "5.5.4", "Syntax: BDAT size [LAST]");
    b.last = true;
  }
  return b;
}

Parsed<AuthStart> parse_auth(std::string_view arg) {
  auto words = str::split(arg, " \t");
  if (words.empty() || words.size() > 2 || words[0].size() > 20)
    return reply(501, "5.5.4", "Syntax: AUTH mechanism [initial-response]");
  AuthStart a;
  a.mechanism = str::upper(words[0]);
  if (words.size() == 2) a.initial = words[1];
  return a;
}

}  // namespace postilion::smtp
