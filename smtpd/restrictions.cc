// smtpd/restrictions.cc - running smtpd_client_restrictions, smtpd_helo_restrictions,
// smtpd_sender_restrictions, smtpd_relay_restrictions and smtpd_recipient_restrictions,
// with Postfix's replies.
#include "smtpd/restrictions.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

#include "lib/base/strings.h"
#include "lib/dns/protocol.h"
#include "lib/log/log.h"
#include "lib/mail/address.h"
#include "smtpd/policy.h"
#include "smtpd/policy_service.h"

namespace postilion::smtpd {
namespace {

using config::Restriction;
using config::RestrictionStep;
using smtp::Reply;
using smtp::reply;

enum class Which { Client, Helo, Sender, Relay, Recipient, Data };

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

struct StepResult {
  enum class Kind { Next, Permit, Reject, Ask, AskPolicy } kind = Kind::Next;
  Reply reply;
  DnsQuestion question;
  PolicyQuestion policy;
};

StepResult next() { return {}; }
StepResult permit() { return {StepResult::Kind::Permit, {}, {}, {}}; }
StepResult reject(Reply r) { return {StepResult::Kind::Reject, std::move(r), {}, {}}; }
StepResult ask(DnsQuestion q) { return {StepResult::Kind::Ask, {}, std::move(q), {}}; }
StepResult ask_policy(PolicyQuestion q) { return {StepResult::Kind::AskPolicy, {}, {}, std::move(q)}; }

// The reply to a listed client or sender: rbl_reply_maps (domain=filter as written,
// then the domain), else default_rbl_reply; $rbl_reason is the list's TXT record.
Reply rbl_reply(const RestrictionStep& s, const ClientFacts& c, const std::string* sender, const DnsResult* txt,
                const RestrictionTables& t) {
  std::string cls = "Client host", what = c.ip;
  if (s.what == Restriction::RejectRhsblClient) what = c.name;
  if (s.what == Restriction::RejectRhsblSender) {
    cls = "Sender address";
    what = domain_of(*sender);
  }
  std::string reason;
  if (txt && txt->outcome == dns::Outcome::Ok)
    for (const auto& r : txt->records) reason += (reason.empty() ? "" : " ") + r;
  std::string from = sender ? *sender : "";
  size_t at = from.rfind('@');
  std::map<std::string, std::string> vars = {
      {"client", c.label()}, {"client_address", c.ip}, {"client_name", c.name}, {"helo_name", c.helo},
      {"sender", from}, {"sender_name", at == std::string::npos ? from : from.substr(0, at)},
      {"sender_domain", domain_of(from)}, {"rbl_class", cls}, {"rbl_code", std::to_string(t.rbl_code)},
      {"rbl_domain", s.domain}, {"rbl_reason", str::printable(reason, 300)},
      {"rbl_txt", str::printable(reason, 300)}, {"rbl_what", what}};
  std::string tmpl = t.default_rbl_reply;
  if (t.rbl_replies && !t.rbl_replies->empty()) {
    std::vector<std::string> keys;
    if (s.filter) keys.push_back(s.domain + "=" + s.filter->text());
    keys.push_back(s.domain);
    for (const auto& k : keys) {
      auto r = t.rbl_replies->lookup(k);
      if (!r) {
        log::warn("rbl_reply_maps: %s (the default reply is used)", r.error().c_str());
        break;
      }
      if (r.value()) {
        tmpl = **r;
        break;
      }
    }
  }
  if (auto rep = rbl_template_reply(tmpl, vars)) return *rep;
  log::warn("DNS list %s: reply template \"%s\" does not start with a 4xx or 5xx code (the default reply is used)",
            s.domain.c_str(), str::printable(tmpl, 200).c_str());
  if (auto rep = rbl_template_reply(t.default_rbl_reply, vars)) return *rep;
  return reply(554, "5.7.1", "Service unavailable; " + cls + " [" + what + "] blocked using " + s.domain);
}

// reject_unknown_sender_domain and reject_unknown_recipient_domain: MX, then A, then
// AAAA; a null MX does not accept mail. who: "<a@b>: Sender address rejected: ";
// detail: the second digit group of the status ("1.8" sender, "1.2" recipient).
StepResult unknown_domain(const std::string& address, const std::string& who, const std::string& detail,
                          const DnsMemo& memo) {
  std::string d = domain_of(address);
  if (d.empty() || address_literal(d)) return next();
  auto name = dns::normalize_name(d);
  if (!name) return reject(reply(550, "5." + detail, who + "Domain not found"));
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
        return reject(reply(550, "5." + detail, who + "Domain not found"));
      case dns::Outcome::TempFail:
        return reject(reply(450, "4." + detail, who + "Domain not found"));
    }
  }
  return reject(reply(550, "5." + detail, who + "Domain not found"));
}

StepResult unknown_sender_domain(const std::string& sender, const DnsMemo& memo) {
  return unknown_domain(sender, "<" + sender + ">: Sender address rejected: ", "1.8", memo);
}

// check_client_access, check_helo_access, check_sender_access, check_recipient_access:
// OK permits (ends this list), a reply refuses, DUNNO and no match go on.
StepResult access_table(const RestrictionStep& s, const ClientFacts& c, const std::string* sender,
                        const smtp::Path* rcpt, const RestrictionTables& t) {
  std::vector<std::string> keys;
  std::string what, prefix;
  switch (s.what) {
    case Restriction::CheckClientAccess:
      keys = client_keys(c.ip);
      if (c.name != "unknown" && !c.name.empty()) {
        auto names = domain_keys(c.name);
        keys.insert(keys.begin(), names.begin(), names.end());
      }
      what = c.label();
      prefix = "Client host rejected";
      break;
    case Restriction::CheckHeloAccess:
      if (c.helo.empty()) return next();
      keys = domain_keys(c.helo);
      what = c.helo;
      prefix = "Helo command rejected";
      break;
    case Restriction::CheckSenderAccess: {
      if (!sender || sender->empty()) return next();
      size_t at = sender->rfind('@');
      keys = address_keys(at == std::string::npos ? *sender : sender->substr(0, at),
                          at == std::string::npos ? "" : sender->substr(at + 1));
      what = *sender;
      prefix = "Sender address rejected";
      break;
    }
    case Restriction::CheckRecipientAccess:
      if (!rcpt) return next();
      keys = address_keys(rcpt->local, rcpt->domain);
      what = rcpt->address;
      prefix = "Recipient address rejected";
      break;
    default:
      return next();
  }
  if (!t.policy) return next();
  auto v = t.policy->check_access_table(s.table, keys, what, prefix);
  if (!v) {
    log::warn("%s %s: %s", config::restriction_name(s.what), s.table.c_str(), v.error().c_str());
    return reject(reply(451, "4.3.0", "<" + what + ">: " + prefix + ": Temporary lookup failure"));
  }
  if (!v->reply.empty()) return reject(v->reply);
  return v->ok ? permit() : next();
}

// reject_unauth_destination, defer_unauth_destination: a recipient in a domain of ours
// (local, virtual, relay_domains) without sender-specified routing ("a%b@ours",
// "b!a@ours", "\"a@b\"@ours", which a later hop could send elsewhere); anything else is
// relaying. Without a policy no domain is ours.
StepResult unauth_destination(const RestrictionStep& s, const smtp::Path& rcpt, const RestrictionTables& t) {
  DomainClass cls = t.policy ? t.policy->classify(rcpt.domain_lower()) : DomainClass::Other;
  if (cls != DomainClass::Other && !rcpt.routing()) return next();
  bool defer = s.what == Restriction::DeferUnauthDestination;
  return reject(reply(defer ? 454 : 554, defer ? "4.7.1" : "5.7.1", "<" + rcpt.address + ">: Relay access denied"));
}

// reject_sender_login_mismatch (any client) and
// reject_authenticated_sender_login_mismatch (authenticated clients only).
StepResult login_mismatch(const RestrictionStep& s, const ClientFacts& c, const std::string& sender,
                          const RestrictionTables& t) {
  maps::MapList* logins = t.sender_logins;
  bool any_client = s.what == Restriction::RejectSenderLoginMismatch;
  if (!logins || logins->empty() || sender.empty() || (!c.authenticated && !any_client)) return next();
  std::string who = "<" + sender + ">: Sender address rejected: ";
  auto owners = sender_owners(*logins, sender, t.delimiter);
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

// What "reject" and "defer" name in their reply: "<unknown[192.0.2.7]>: Client host".
std::string reply_subject(Which which, const ClientFacts& c, const std::string* sender, const smtp::Path* rcpt) {
  switch (which) {
    case Which::Client:
      return "<" + c.label() + ">: Client host";
    case Which::Helo:
      return "<" + c.helo + ">: Helo command";
    case Which::Sender:
      return "<" + (sender ? *sender : "") + ">: Sender address";
    case Which::Relay:
    case Which::Recipient:
      return "<" + (rcpt ? rcpt->address : "") + ">: Recipient address";
    case Which::Data:
      return "<DATA>: Data command";
  }
  return "<>: Access";
}

// "4.2.0 text" -> status 4.2.0 and text, when the status's class is the code's.
std::pair<std::string, std::string> status_and_text(int code, const std::string& text, const char* fallback) {
  size_t sp = text.find(' ');
  std::string first = text.substr(0, sp);
  if (first.size() >= 5 && first[0] == static_cast<char>('0' + code / 100) && first[1] == '.' &&
      first.find_first_not_of("0123456789.") == std::string::npos && std::count(first.begin(), first.end(), '.') == 2)
    return {first, sp == std::string::npos ? "" : std::string(str::trim(std::string_view(text).substr(sp + 1)))};
  return {fallback, text};
}

// A policy server's action, as an access(5) table's: OK permits, DUNNO goes on, REJECT,
// DEFER, DEFER_IF_PERMIT and NNN refuse with "<what>: ... rejected: text", WARN, INFO
// and PREPEND log; anything else is the default action (smtpd_policy_service_default_action).
StepResult policy_action(const std::string& action, const std::string& subject, const RestrictionTables& t,
                         bool is_default = false) {
  std::string word = action.substr(0, action.find_first_of(" \t"));
  std::string text(str::trim(std::string_view(action).substr(word.size())));
  std::string uw = str::upper(word);
  auto refuse = [&](int code, const char* fallback) {
    auto [status, rest] = status_and_text(code, text, fallback);
    return reject(reply(code, status, subject + " rejected: " + (rest.empty() ? "Access denied" : str::printable(rest, 500))));
  };
  if (uw == "OK" || uw == "PERMIT") return permit();
  if (uw == "DUNNO" || uw == "DEFER_IF_REJECT") return next();
  if (uw == "REJECT") return refuse(554, "5.7.1");
  if (uw == "DEFER" || uw == "DEFER_IF_PERMIT") return refuse(450, "4.7.1");
  // PREPEND (postgrey's X-Greylist: on a pass) would add a header: not done yet, so it
  // is logged and the list goes on, as DUNNO.
  if (uw == "WARN" || uw == "INFO" || uw == "PREPEND") {
    log::info("%s: policy server says %s", subject.c_str(), str::printable(action, 300).c_str());
    return next();
  }
  auto code = str::parse_uint(word);
  if (code && word.size() == 3 && (*code / 100 == 4 || *code / 100 == 5))
    return refuse(static_cast<int>(*code), *code / 100 == 4 ? "4.7.1" : "5.7.1");
  if (is_default) {
    // The default action itself is unusable: defer rather than accept.
    return reject(reply(451, "4.3.5", "Server configuration problem"));
  }
  log::warn("%s: policy server: unsupported action \"%s\" (the default action is used)", subject.c_str(),
            str::printable(action, 300).c_str());
  return policy_action(t.policy_default_action, subject, t, true);
}

StepResult run_step(const RestrictionStep& s, Which which, const ClientFacts& c, const std::string* sender,
                    const smtp::Path* rcpt, const DnsMemo& memo, const RestrictionTables& t) {
  switch (s.what) {
    case Restriction::Permit:
      return permit();
    case Restriction::Reject:
      return reject(reply(554, "5.7.1", reply_subject(which, c, sender, rcpt) + " rejected: Access denied"));
    case Restriction::Defer:
      return reject(reply(450, "4.3.2", reply_subject(which, c, sender, rcpt) + " rejected: Try again later"));
    case Restriction::CheckPolicyService: {
      PolicyQuestion q{s.table, policy_request(policy_attributes(c, sender, rcpt))};
      const std::string* action = memo.find_policy(q);
      if (!action) return ask_policy(std::move(q));
      return policy_action(*action, reply_subject(which, c, sender, rcpt), t);
    }
    case Restriction::RejectUnknownReverseClientHostname:
    case Restriction::RejectUnknownClientHostname: {
      bool reverse = s.what == Restriction::RejectUnknownReverseClientHostname;
      if ((reverse ? c.reverse_name : c.name) != "unknown") return next();
      // A lookup that failed for now is always a 450: the client may have a name.
      int code = c.name_tempfail ? 450 : t.unknown_client_code;
      return reject(reply(code, code / 100 == 4 ? "4.7.1" : "5.7.1",
                          std::string("Client host rejected: cannot find your ") + (reverse ? "reverse " : "") +
                              "hostname, [" + c.ip + "]"));
    }
    case Restriction::RejectUnauthPipelining:
      if (!c.improper_pipelining) return next();
      return reject(reply(503, "5.5.0", reply_subject(which, c, sender, rcpt) +
                                            " rejected: Improper use of SMTP command pipelining"));
    case Restriction::RejectUnauthDestination:
    case Restriction::DeferUnauthDestination:
      return rcpt ? unauth_destination(s, *rcpt, t) : next();
    case Restriction::RejectUnlistedRecipient:
      if (!rcpt || !t.policy) return next();
      if (Reply r = t.policy->unlisted_recipient(*rcpt); !r.empty()) return reject(std::move(r));
      return next();
    case Restriction::RejectNonFqdnRecipient: {
      // A recipient without a domain is one of ours (user@$myhostname), as in Postfix.
      if (!rcpt || rcpt->domain.empty() || address_literal(rcpt->domain) || fqdn(rcpt->domain)) return next();
      return reject(reply(504, "5.5.2", "<" + rcpt->address + ">: Recipient address rejected: need fully-qualified address"));
    }
    case Restriction::RejectUnknownRecipientDomain: {
      if (!rcpt || rcpt->domain.empty()) return next();
      // Domains of ours are known whatever the DNS says.
      if (t.policy && t.policy->classify(rcpt->domain_lower()) != DomainClass::Other) return next();
      return unknown_domain(rcpt->address, "<" + rcpt->address + ">: Recipient address rejected: ", "1.2", memo);
    }
    case Restriction::CheckClientAccess:
    case Restriction::CheckHeloAccess:
    case Restriction::CheckSenderAccess:
    case Restriction::CheckRecipientAccess:
      return access_table(s, c, sender, rcpt, t);
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
      if (s.what == Restriction::PermitDnswlClient) return permit();
      // The reason for the reply: the list's TXT record for the same name.
      DnsQuestion txt{q->name, dns::RrType::TXT};
      const DnsResult* reason = memo.find(txt);
      if (!reason) return ask(txt);
      return reject(rbl_reply(s, c, sender, reason, t));
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
      return login_mismatch(s, c, *sender, t);
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

const std::string* DnsMemo::find_policy(const PolicyQuestion& q) const {
  auto it = policy_.find({q.server, q.request});
  return it == policy_.end() ? nullptr : &it->second;
}

void DnsMemo::put_policy(const PolicyQuestion& q, std::string action) {
  // Bounded like the DNS answers: one command asks few servers.
  if (policy_.size() >= kMaxAnswers) policy_.clear();
  policy_[{q.server, q.request}] = std::move(action);
}

std::vector<std::pair<std::string, std::string>> policy_attributes(const ClientFacts& c, const std::string* sender,
                                                                   const smtp::Path* rcpt) {
  std::string to = rcpt ? rcpt->address : "";
  return {{"request", "smtpd_access_policy"},
          {"protocol_state", c.protocol_state},
          {"protocol_name", c.protocol_name},
          {"helo_name", c.helo},
          {"queue_id", ""},
          {"sender", sender ? *sender : ""},
          {"recipient", to},
          {"recipient_count", std::to_string(c.recipient_count)},
          {"client_address", c.ip},
          {"client_name", c.name},
          {"reverse_client_name", c.reverse_name},
          {"instance", c.instance},
          {"sasl_method", c.authenticated ? c.sasl_method : ""},
          {"sasl_username", c.authenticated ? c.sasl_user : ""},
          {"sasl_sender", ""},
          {"size", std::to_string(c.size)},
          {"ccert_subject", ""},
          {"ccert_issuer", ""},
          {"ccert_fingerprint", ""},
          {"encryption_protocol", c.encryption_protocol},
          {"encryption_cipher", c.encryption_cipher},
          {"encryption_keysize", ""},
          {"etrn_domain", ""},
          {"stress", ""},
          {"policy_context", ""}};
}

void DnsMemo::put(const DnsQuestion& q, DnsResult r) {
  if (full()) return;
  answers_[{q.name, q.type}] = std::move(r);
}

CheckResult run_restriction_lists(const ListsToRun& lists, const ClientFacts& c, const std::string* sender,
                                  const DnsMemo& memo, const RestrictionTables* tables) {
  static const RestrictionTables kNone;
  const RestrictionTables& t = tables ? *tables : kNone;
  const std::pair<const std::vector<RestrictionStep>*, Which> order[] = {
      {lists.client, Which::Client}, {lists.helo, Which::Helo}, {lists.sender, Which::Sender},
      {lists.relay, Which::Relay},   {lists.recipient, Which::Recipient}, {lists.data, Which::Data}};
  for (const auto& [list, which] : order) {
    if (!list) continue;
    for (const auto& step : *list) {
      StepResult r = run_step(step, which, c, sender, lists.rcpt, memo, t);
      if (r.kind == StepResult::Kind::Next) continue;
      if (r.kind == StepResult::Kind::Permit) break;  // this list is done; the next one runs
      if (r.kind == StepResult::Kind::Reject) return CheckResult{std::move(r.reply), std::nullopt, std::nullopt};
      if (r.kind == StepResult::Kind::AskPolicy) return CheckResult{Reply{}, std::nullopt, std::move(r.policy)};
      return CheckResult{Reply{}, std::move(r.question), std::nullopt};
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

namespace {

// $name, ${name}, ${name?text}, ${name:text} and $$ of a reply template; the text of
// ${...?...} is expanded too, to kMaxDepth levels.
std::string expand_template(std::string_view tmpl, const std::map<std::string, std::string>& vars, int depth) {
  constexpr int kMaxDepth = 4;
  constexpr size_t kMaxOut = 2000;
  auto value = [&](std::string_view name) -> std::string {
    auto it = vars.find(std::string(name));
    return it == vars.end() ? std::string() : it->second;
  };
  std::string out;
  for (size_t i = 0; i < tmpl.size() && out.size() < kMaxOut;) {
    if (tmpl[i] != '$' || i + 1 >= tmpl.size()) {
      out += tmpl[i++];
      continue;
    }
    if (tmpl[i + 1] == '$') {
      out += '$';
      i += 2;
      continue;
    }
    if (tmpl[i + 1] == '{') {
      size_t end = str::closing_bracket(tmpl, i + 1);
      if (end == std::string_view::npos) {
        out += tmpl.substr(i);
        break;
      }
      std::string_view inner = tmpl.substr(i + 2, end - i - 2);
      size_t op = inner.find_first_of("?:");
      std::string v = value(inner.substr(0, op));
      if (op == std::string_view::npos) {
        out += v;
      } else if (inner[op] == '?' ? !v.empty() : v.empty()) {
        if (depth < kMaxDepth) out += expand_template(inner.substr(op + 1), vars, depth + 1);
      } else if (inner[op] == ':') {
        out += v;
      }
      i = end + 1;
      continue;
    }
    size_t k = i + 1;
    while (k < tmpl.size() && (std::isalnum(static_cast<unsigned char>(tmpl[k])) || tmpl[k] == '_')) ++k;
    if (k == i + 1) {
      out += tmpl[i++];
      continue;
    }
    out += value(tmpl.substr(i + 1, k - i - 1));
    i = k;
  }
  return out.substr(0, kMaxOut);
}

}  // namespace

std::optional<smtp::Reply> rbl_template_reply(std::string_view tmpl, const std::map<std::string, std::string>& vars) {
  std::string out = str::printable(expand_template(tmpl, vars, 0), 1000);
  // "554 5.7.1 text", "554 text" or "450 text".
  auto digit = [](char ch) { return ch >= '0' && ch <= '9'; };
  if (out.size() < 5 || out[3] != ' ' || (out[0] != '4' && out[0] != '5') || !digit(out[1]) || !digit(out[2]))
    return std::nullopt;
  int code = (out[0] - '0') * 100 + (out[1] - '0') * 10 + (out[2] - '0');
  std::string text = out.substr(4);
  std::string status = code / 100 == 4 ? "4.7.1" : "5.7.1";
  size_t sp = text.find(' ');
  std::string first = text.substr(0, sp);
  if (first.size() >= 5 && first[0] == out[0] && first[1] == '.' &&
      first.find_first_not_of("0123456789.") == std::string::npos) {
    status = first;
    text = sp == std::string::npos ? "" : text.substr(sp + 1);
  }
  return reply(code, status, text);
}

std::optional<std::string> dnsbl_name(const std::string& ip, const std::string& domain) {
  return dns::dnsbl_query_name(ip, domain);
}

bool valid_helo_hostname(const std::string& helo) {
  return address_literal(helo) ? valid_literal(helo) : valid_hostname(helo);
}

bool fqdn_helo_hostname(const std::string& helo) { return address_literal(helo) ? valid_literal(helo) : fqdn(helo); }

}  // namespace postilion::smtpd
