// lib/config/restrictions.cc - restriction list words and their arguments.
#include "lib/config/restrictions.h"

#include <arpa/inet.h>

#include <cstring>

#include "lib/base/strings.h"

namespace postilion::config {
namespace {

enum class Arg { None, DnsList, Table, Service };

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
    {"reject_rbl_client", Restriction::RejectRblClient, Arg::DnsList},
    {"reject_rhsbl_client", Restriction::RejectRhsblClient, Arg::DnsList},
    {"reject_rhsbl_sender", Restriction::RejectRhsblSender, Arg::DnsList},
    {"permit_dnswl_client", Restriction::PermitDnswlClient, Arg::DnsList},
    {"reject_invalid_helo_hostname", Restriction::RejectInvalidHeloHostname, Arg::None},
    {"reject_non_fqdn_helo_hostname", Restriction::RejectNonFqdnHeloHostname, Arg::None},
    {"reject_non_fqdn_sender", Restriction::RejectNonFqdnSender, Arg::None},
    {"reject_unknown_sender_domain", Restriction::RejectUnknownSenderDomain, Arg::None},
    {"reject_sender_login_mismatch", Restriction::RejectSenderLoginMismatch, Arg::None},
    {"reject_authenticated_sender_login_mismatch", Restriction::RejectAuthenticatedSenderLoginMismatch, Arg::None},
    {"defer", Restriction::Defer, Arg::None},
    {"reject_unauth_destination", Restriction::RejectUnauthDestination, Arg::None},
    {"defer_unauth_destination", Restriction::DeferUnauthDestination, Arg::None},
    {"reject_unlisted_recipient", Restriction::RejectUnlistedRecipient, Arg::None},
    {"reject_non_fqdn_recipient", Restriction::RejectNonFqdnRecipient, Arg::None},
    {"reject_unknown_recipient_domain", Restriction::RejectUnknownRecipientDomain, Arg::None},
    {"check_client_access", Restriction::CheckClientAccess, Arg::Table},
    {"check_helo_access", Restriction::CheckHeloAccess, Arg::Table},
    {"check_sender_access", Restriction::CheckSenderAccess, Arg::Table},
    {"check_recipient_access", Restriction::CheckRecipientAccess, Arg::Table},
    {"reject_unauth_pipelining", Restriction::RejectUnauthPipelining, Arg::None},
    {"check_policy_service", Restriction::CheckPolicyService, Arg::Service},
    {"reject_unknown_reverse_client_hostname", Restriction::RejectUnknownReverseClientHostname, Arg::None},
    {"reject_unknown_client_hostname", Restriction::RejectUnknownClientHostname, Arg::None},
};

const Word* find_word(std::string_view w) {
  for (const auto& k : kWords)
    if (str::iequals(w, k.name)) return &k;
  return nullptr;
}

// A DNS list's domain: dot-separated labels of letters, digits, '-' and '_'.
bool dns_list_domain(std::string_view d) {
  if (d.empty() || d.size() > 253 || d.front() == '.' || d.back() == '.') return false;
  size_t label = 0;
  for (char c : d) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok || ++label > 63) return false;
  }
  return true;
}

// "inet:host:port" (host an IP address or localhost: smtpd never waits for DNS to
// reach it) or "unix:/path".
bool policy_server(std::string_view s) {
  if (s.size() > 200) return false;
  if (s.starts_with("unix:")) return s.size() > 5;
  if (!s.starts_with("inet:")) return false;
  std::string_view rest = s.substr(5);
  size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 >= rest.size() || rest.size() - colon - 1 > 5)
    return false;
  for (char c : rest.substr(colon + 1))
    if (c < '0' || c > '9') return false;
  std::string host(rest.substr(0, colon));
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  unsigned char buf[16];
  return host == "localhost" || inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// A number 0..255 of at most three digits at text[*i]; advances *i past it.
std::optional<uint8_t> octet_number(std::string_view text, size_t* i) {
  size_t start = *i;
  unsigned v = 0;
  while (*i < text.size() && text[*i] >= '0' && text[*i] <= '9' && *i - start < 3) v = v * 10 + (text[(*i)++] - '0');
  if (*i == start || v > 255 || (*i < text.size() && text[*i] >= '0' && text[*i] <= '9')) return std::nullopt;
  return static_cast<uint8_t>(v);
}

// The words of a list, separated by commas and white space except inside braces, so
// a table such as "inline:{a=OK, b=REJECT}" stays one word (unbalanced braces end
// with the value).
std::vector<std::string> list_words(std::string_view value) {
  std::vector<std::string> words;
  std::string cur;
  int depth = 0;
  for (char c : value) {
    bool sep = c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ',';
    if (sep && depth == 0) {
      if (!cur.empty()) words.push_back(std::move(cur));
      cur.clear();
      continue;
    }
    if (c == '{') ++depth;
    if (c == '}' && depth > 0) --depth;
    cur += c;
  }
  if (!cur.empty()) words.push_back(std::move(cur));
  return words;
}

}  // namespace

Parsed<DnsblFilter> DnsblFilter::parse(std::string_view text) {
  DnsblFilter f;
  if (text.size() > kMaxText)
    return Parsed<DnsblFilter>::bad("reply filter longer than " + std::to_string(kMaxText) + " characters");
  f.text_ = text;
  auto bad = [&](const std::string& what) {
    return Parsed<DnsblFilter>::bad("bad reply filter \"" + str::printable(text, 80) + "\": " + what +
                                    " (expected d.d.d.d, each d a number or [n;n..m])");
  };
  size_t i = 0;
  for (size_t n = 0; n < 4; ++n) {
    if (n > 0) {
      if (i >= text.size() || text[i] != '.') return bad("four octets needed");
      ++i;
    }
    if (i < text.size() && text[i] == '[') {
      ++i;
      for (;;) {
        auto lo = octet_number(text, &i);
        if (!lo) return bad("a number from 0 to 255 expected in [...]");
        uint8_t hi = *lo;
        if (text.substr(i, 2) == "..") {
          i += 2;
          auto h = octet_number(text, &i);
          if (!h) return bad("a number from 0 to 255 expected after \"..\"");
          if (*h < *lo) return bad("range " + std::to_string(*lo) + ".." + std::to_string(*h) + " runs backwards");
          hi = *h;
        }
        f.octets_[n].push_back({*lo, hi});
        if (i < text.size() && text[i] == ';') {
          ++i;
          continue;
        }
        if (i < text.size() && text[i] == ']') {
          ++i;
          break;
        }
        return bad("';' or ']' expected");
      }
    } else {
      auto v = octet_number(text, &i);
      if (!v) return bad("a number from 0 to 255 or [...] expected");
      f.octets_[n].push_back({*v, *v});
    }
  }
  if (i != text.size()) return bad("text after the fourth octet");
  return f;
}

bool DnsblFilter::matches(std::string_view ipv4) const {
  size_t i = 0;
  for (size_t n = 0; n < 4; ++n) {
    if (n > 0) {
      if (i >= ipv4.size() || ipv4[i] != '.') return false;
      ++i;
    }
    auto v = octet_number(ipv4, &i);
    if (!v) return false;
    bool in = false;
    for (const auto& r : octets_[n]) in = in || (*v >= r.lo && *v <= r.hi);
    if (!in) return false;
  }
  return i == ipv4.size();
}

bool takes_dns_list(Restriction r) {
  for (const auto& k : kWords)
    if (k.what == r) return k.arg == Arg::DnsList;
  return false;
}

bool takes_table(Restriction r) {
  for (const auto& k : kWords)
    if (k.what == r) return k.arg == Arg::Table;
  return false;
}

bool stops_open_relay(const std::vector<RestrictionStep>& steps) {
  for (const auto& s : steps)
    if (s.what == Restriction::RejectUnauthDestination || s.what == Restriction::DeferUnauthDestination ||
        s.what == Restriction::Reject || s.what == Restriction::Defer)
      return true;
  return false;
}

const char* restriction_needs(Restriction r) {
  if (r == Restriction::RejectSenderLoginMismatch || r == Restriction::RejectAuthenticatedSenderLoginMismatch)
    return "smtpd_sender_login_maps";
  return nullptr;
}

const char* restriction_name(Restriction r) {
  for (const auto& k : kWords)
    if (k.what == r) return k.name;
  return "?";
}

Parsed<std::vector<RestrictionStep>> parse_restriction_list(std::string_view value) {
  using List = Parsed<std::vector<RestrictionStep>>;
  std::vector<std::string> words = list_words(value);
  std::vector<RestrictionStep> steps;
  for (size_t i = 0; i < words.size(); ++i) {
    const Word* w = find_word(words[i]);
    if (!w) return List::bad("unknown restriction \"" + str::printable(words[i], 80) + "\"");
    RestrictionStep s;
    s.what = w->what;
    if (w->arg == Arg::DnsList) {
      // The next word, unless the list ends or goes on with another restriction: a
      // forgotten domain must not make the next word a DNS list.
      if (i + 1 >= words.size() || find_word(words[i + 1]))
        return List::bad(std::string(w->name) + " needs a DNS list domain (" + w->name + " domain[=filter])");
      std::string_view arg = words[++i];
      size_t eq = arg.find('=');
      std::string_view domain = arg.substr(0, eq);
      if (!dns_list_domain(domain))
        return List::bad(std::string(w->name) + ": bad DNS list domain \"" + str::printable(domain, 80) + "\"");
      s.domain = str::lower(domain);
      if (eq != std::string_view::npos) {
        auto f = DnsblFilter::parse(arg.substr(eq + 1));
        if (!f) return List::bad(std::string(w->name) + " " + s.domain + ": " + f.error());
        s.filter = std::move(*f);
      }
    }
    if (w->arg == Arg::Table) {
      // "type:name", as the *_maps parameters take; a forgotten table must not make
      // the next restriction one.
      if (i + 1 >= words.size() || find_word(words[i + 1]))
        return List::bad(std::string(w->name) + " needs a lookup table (" + w->name + " type:name)");
      std::string_view arg = words[++i];
      size_t colon = arg.find(':');
      bool type_ok = colon != std::string_view::npos && colon > 0 && colon + 1 < arg.size();
      for (size_t k = 0; type_ok && k < colon; ++k)
        type_ok = (arg[k] >= 'a' && arg[k] <= 'z') || (arg[k] >= '0' && arg[k] <= '9');
      if (!type_ok || arg.size() > 1000)
        return List::bad(std::string(w->name) + ": bad lookup table \"" + str::printable(arg, 80) +
                         "\" (expected type:name)");
      s.table = arg;
    }
    if (w->arg == Arg::Service) {
      if (i + 1 >= words.size() || find_word(words[i + 1]))
        return List::bad(std::string(w->name) + " needs a server (" + w->name + " inet:host:port or unix:/path)");
      std::string_view arg = words[++i];
      if (!policy_server(arg))
        return List::bad(std::string(w->name) + ": bad server \"" + str::printable(arg, 80) +
                         "\" (expected inet:host:port, host an IP address or localhost, or unix:/path)");
      s.table = arg;
    }
    steps.push_back(std::move(s));
  }
  return steps;
}

}  // namespace postilion::config
