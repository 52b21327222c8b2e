// smtpd/restrictions.cc - running smtpd_client_restrictions, smtpd_helo_restrictions and
// smtpd_sender_restrictions, with Postfix's replies.
#include "smtpd/restrictions.h"

#include <arpa/inet.h>

#include "lib/base/strings.h"
#include "lib/dns/protocol.h"
#include "lib/log/log.h"
#include "lib/mail/address.h"
#include "smtpd/policy.h"

namespace postilion::smtpd {
namespace {

using config::Restriction;
using config::RestrictionStep;
using smtp::Reply;
using smtp::reply;

enum class Which { Client, Helo, Sender };

std::string domain_of(const std::string& address) {
  size_t at = address.rfind('@');
  return at == std::string::npos ? "" : address.substr(at + 1);
}

bool address_literal(std::string_view d) { return d.size() >= 2 && d.front() == '[' && d.back() == ']'; }

bool valid_literal(std::string_view d) {
  if (!address_literal(d)) return false;
  std::string inner(d.substr(1, d.size() - 2));
  unsigned char buf[16];
  if (inet_pton(AF_INET, inner.c_str(), buf) == 1) return true;
  return str::lower(inner.substr(0, 5)) == "ipv6:" && inet_pton(AF_INET6, inner.c_str() + 5, buf) == 1;
}

// Host name syntax, and not all digits in the last label: "1.2.3.4" is an address
// written without brackets, not a name.
bool valid_hostname(std::string_view name) {
  auto n = dns::normalize_name(name);
  if (!n) return false;
  size_t dot = n->rfind('.');
  std::string_view last = std::string_view(*n).substr(dot == std::string::npos ? 0 : dot + 1);
  for (char c : last)
    if (c < '0' || c > '9') return true;
  return false;
}

bool fqdn(std::string_view name) {
  if (!valid_hostname(name)) return false;
  std::string_view n = name;
  if (!n.empty() && n.back() == '.') n.remove_suffix(1);
  return n.find('.') != std::string_view::npos;
}

// Whether a DNS list answer lists: any A record, or one that matches the filter.
bool listed(const DnsResult& r, const RestrictionStep& s) {
  if (r.outcome != dns::Outcome::Ok) return false;
  if (!s.filter) return !r.records.empty();
  for (const auto& rec : r.records)
    if (s.filter->matches(rec)) return true;
  return false;
}

// What one list step needs: the question it asks, or nothing (no such check applies).
std::optional<DnsQuestion> dns_list_question(const RestrictionStep& s, const ClientFacts& c, const std::string* sender) {
  switch (s.what) {
    case Restriction::RejectRblClient:
    case Restriction::PermitDnswlClient:
      if (auto n = dnsbl_name(c.ip, s.domain)) return DnsQuestion{*n, dns::RrType::A};
      return std::nullopt;
    case Restriction::RejectRhsblClient:
      if (c.name == "unknown" || c.name.empty()) return std::nullopt;
      return DnsQuestion{str::lower(c.name) + "." + s.domain, dns::RrType::A};
    case Restriction::RejectRhsblSender: {
      if (!sender || sender->empty()) return std::nullopt;
      std::string d = domain_of(*sender);
      if (d.empty() || address_literal(d) || !dns::normalize_name(d)) return std::nullopt;
      return DnsQuestion{*dns::normalize_name(d) + "." + s.domain, dns::RrType::A};
    }
    default:
      return std::nullopt;
  }
}

Reply rbl_reply(const RestrictionStep& s, const ClientFacts& c, const std::string* sender) {
  std::string cls = "Client host", what = c.ip;
  if (s.what == Restriction::RejectRhsblClient) what = c.name;
  if (s.what == Restriction::RejectRhsblSender) {
    cls = "Sender address";
    what = domain_of(*sender);
  }
  return reply(554, "5.7.1", "Service unavailable; " + cls + " [" + what + "] blocked using " + s.domain);
}

struct StepResult {
  enum class Kind { Next, Permit, Reject, Ask } kind = Kind::Next;
  Reply reply;
  DnsQuestion question;
};

StepResult next() { return {}; }
StepResult permit() { return {StepResult::Kind::Permit, {}, {}}; }
StepResult reject(Reply r) { return {StepResult::Kind::Reject, std::move(r), {}}; }
StepResult ask(DnsQuestion q) { return {StepResult::Kind::Ask, {}, std::move(q)}; }

// reject_unknown_sender_domain: MX, then A, then AAAA; a null MX does not accept mail.
StepResult unknown_sender_domain(const std::string& sender, const DnsMemo& memo) {
  std::string d = domain_of(sender);
  if (d.empty() || address_literal(d)) return next();
  std::string who = "<" + sender + ">: Sender address rejected: ";
  auto name = dns::normalize_name(d);
  if (!name) return reject(reply(550, "5.1.8", who + "Domain not found"));
  for (dns::RrType t : {dns::RrType::MX, dns::RrType::A, dns::RrType::AAAA}) {
    DnsQuestion q{*name, t};
    const DnsResult* r = memo.find(q);
    if (!r) return ask(q);
    switch (r->outcome) {
      case dns::Outcome::Ok:
        if (t == dns::RrType::MX && r->records.size() == 1) {
          auto mx = dns::parse_mx_text(r->records.front());
          if (mx && mx->host.empty())
            return reject(reply(550, "5.7.27", who + "Domain " + d + " does not accept mail (nullMX)"));
        }
        return next();
      case dns::Outcome::NoData:
        continue;
      case dns::Outcome::NxDomain:
        return reject(reply(550, "5.1.8", who + "Domain not found"));
      case dns::Outcome::TempFail:
        return reject(reply(450, "4.1.8", who + "Domain not found"));
    }
  }
  return reject(reply(550, "5.1.8", who + "Domain not found"));
}

// reject_sender_login_mismatch (any client) and
// reject_authenticated_sender_login_mismatch (authenticated clients only).
StepResult login_mismatch(const RestrictionStep& s, const ClientFacts& c, const std::string& sender,
                          maps::MapList* logins, const std::string& delimiter) {
  bool any_client = s.what == Restriction::RejectSenderLoginMismatch;
  if (!logins || logins->empty() || sender.empty() || (!c.authenticated && !any_client)) return next();
  std::string who = "<" + sender + ">: Sender address rejected: ";
  auto owners = sender_owners(*logins, sender, delimiter);
  if (!owners) {
    log::warn("smtpd_sender_login_maps: %s", owners.error().c_str());
    return reject(reply(451, "4.3.0", who + "Temporary lookup failure"));
  }
  if (!c.authenticated)
    return owners->empty() ? next() : reject(reply(553, "5.7.1", who + "not logged in"));
  for (const auto& o : *owners)
    if (str::iequals(o, c.sasl_user)) return next();
  return reject(reply(553, "5.7.1", who + "not owned by user " + str::printable(c.sasl_user, 255)));
}

StepResult run_step(const RestrictionStep& s, Which which, const ClientFacts& c, const std::string* sender,
                    const DnsMemo& memo, maps::MapList* logins, const std::string& delimiter) {
  switch (s.what) {
    case Restriction::Permit:
      return permit();
    case Restriction::Reject:
      switch (which) {
        case Which::Client:
          return reject(reply(554, "5.7.1", "<" + c.label() + ">: Client host rejected: Access denied"));
        case Which::Helo:
          return reject(reply(554, "5.7.1", "<" + c.helo + ">: Helo command rejected: Access denied"));
        case Which::Sender:
          return reject(reply(554, "5.7.1", "<" + (sender ? *sender : "") + ">: Sender address rejected: Access denied"));
      }
      return next();
    case Restriction::PermitMynetworks:
      return c.in_mynetworks ? permit() : next();
    case Restriction::PermitSaslAuthenticated:
      return c.authenticated ? permit() : next();
    case Restriction::RejectRblClient:
    case Restriction::RejectRhsblClient:
    case Restriction::RejectRhsblSender:
    case Restriction::PermitDnswlClient: {
      auto q = dns_list_question(s, c, sender);
      if (!q) return next();
      const DnsResult* r = memo.find(*q);
      if (!r) return ask(*q);
      // A list that failed or timed out rejects nothing (the session logged it).
      if (!listed(*r, s)) return next();
      return s.what == Restriction::PermitDnswlClient ? permit() : reject(rbl_reply(s, c, sender));
    }
    case Restriction::RejectInvalidHeloHostname:
      if (c.helo.empty() || valid_helo_hostname(c.helo)) return next();
      return reject(reply(501, "5.5.2", "<" + c.helo + ">: Helo command rejected: Invalid name"));
    case Restriction::RejectNonFqdnHeloHostname:
      if (c.helo.empty() || fqdn_helo_hostname(c.helo)) return next();
      return reject(reply(504, "5.5.2", "<" + c.helo + ">: Helo command rejected: need fully-qualified hostname"));
    case Restriction::RejectNonFqdnSender: {
      if (!sender || sender->empty()) return next();
      std::string d = domain_of(*sender);
      if (address_literal(d) || fqdn(d)) return next();
      return reject(reply(504, "5.5.2", "<" + *sender + ">: Sender address rejected: need fully-qualified address"));
    }
    case Restriction::RejectUnknownSenderDomain:
      if (!sender || sender->empty()) return next();
      return unknown_sender_domain(*sender, memo);
    case Restriction::RejectSenderLoginMismatch:
    case Restriction::RejectAuthenticatedSenderLoginMismatch:
      if (!sender) return next();
      return login_mismatch(s, c, *sender, logins, delimiter);
  }
  return next();
}

}  // namespace

const DnsResult* DnsMemo::find(const DnsQuestion& q) const {
  static const DnsResult kTooMany{dns::Outcome::TempFail, {}, "too many DNS lookups in one session"};
  auto it = answers_.find({q.name, q.type});
  if (it != answers_.end()) return &it->second;
  return full() ? &kTooMany : nullptr;
}

void DnsMemo::put(const DnsQuestion& q, DnsResult r) {
  if (full()) return;
  answers_[{q.name, q.type}] = std::move(r);
}

CheckResult run_restriction_lists(const ListsToRun& lists, const ClientFacts& c, const std::string* sender,
                                  const DnsMemo& memo, maps::MapList* sender_logins, const std::string& delimiter) {
  const std::pair<const std::vector<RestrictionStep>*, Which> order[] = {
      {lists.client, Which::Client}, {lists.helo, Which::Helo}, {lists.sender, Which::Sender}};
  for (const auto& [list, which] : order) {
    if (!list) continue;
    for (const auto& step : *list) {
      StepResult r = run_step(step, which, c, sender, memo, sender_logins, delimiter);
      if (r.kind == StepResult::Kind::Next) continue;
      if (r.kind == StepResult::Kind::Permit) break;  // this list is done; the next one runs
      if (r.kind == StepResult::Kind::Reject) return CheckResult{std::move(r.reply), std::nullopt};
      return CheckResult{Reply{}, std::move(r.question)};
    }
  }
  return CheckResult{};
}

Result<std::vector<std::string>> sender_owners(maps::MapList& logins, const std::string& sender,
                                               const std::string& delimiter) {
  // Postfix's order, as for virtual(5): user+ext@domain, user@domain, @domain.
  std::vector<std::string> keys = mail::virtual_lookup_keys(str::lower(sender), delimiter);
  if (keys.empty()) keys.push_back(str::lower(sender));
  for (const auto& k : keys) {
    auto r = logins.lookup(k);
    if (!r) return r.error();
    if (r.value()) return str::split(**r, " \t,");
  }
  return std::vector<std::string>{};
}

std::optional<std::string> dnsbl_name(const std::string& ip, const std::string& domain) {
  auto r = dns::reverse_name(ip);
  if (!r) return std::nullopt;
  for (std::string_view suffix : {".in-addr.arpa", ".ip6.arpa"}) {
    if (r->size() > suffix.size() && r->compare(r->size() - suffix.size(), suffix.size(), suffix) == 0)
      return r->substr(0, r->size() - suffix.size()) + "." + domain;
  }
  return std::nullopt;
}

bool valid_helo_hostname(const std::string& helo) {
  return address_literal(helo) ? valid_literal(helo) : valid_hostname(helo);
}

bool fqdn_helo_hostname(const std::string& helo) { return address_literal(helo) ? valid_literal(helo) : fqdn(helo); }

}  // namespace postilion::smtpd
