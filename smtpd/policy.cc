// smtpd/policy.cc - relay control, recipient validation and access maps.
#include "smtpd/policy.h"

#include <arpa/inet.h>
#include <pwd.h>

#include <cstring>

#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/log/log.h"
#include "lib/mail/address.h"

namespace postilion::smtpd {
namespace {

using smtp::Reply;
using smtp::reply;

Reply table_failure(const std::string& what) {
  return reply(451, "4.3.0", what + ": Temporary lookup failure");
}

}  // namespace

// ---- keys --------------------------------------------------------------------------
std::vector<std::string> client_keys(const std::string& ip) {
  std::vector<std::string> keys{ip};
  char sep = ip.find(':') != std::string::npos ? ':' : '.';
  std::string k = ip;
  for (size_t p; (p = k.rfind(sep)) != std::string::npos && p > 0;) {
    k = k.substr(0, p);
    if (!k.empty() && k.back() != sep) keys.push_back(k);
  }
  return keys;
}

std::vector<std::string> domain_keys(const std::string& domain) {
  std::vector<std::string> keys;
  std::string d = str::lower(domain);
  while (!d.empty()) {
    keys.push_back(d);
    size_t dot = d.find('.');
    if (dot == std::string::npos) break;
    d = d.substr(dot + 1);
  }
  return keys;
}

std::vector<std::string> address_keys(const std::string& local, const std::string& domain) {
  std::vector<std::string> keys;
  if (!domain.empty()) keys.push_back(str::lower(local + "@" + domain));
  for (auto& d : domain_keys(domain)) keys.push_back(d);
  keys.push_back(str::lower(local) + "@");
  return keys;
}

// ---- policy ------------------------------------------------------------------------
Result<std::unique_ptr<Policy>> Policy::create(const Settings& s) {
  std::unique_ptr<Policy> p(new Policy(s));
  for (const auto& n : s.mynetworks) {
    auto c = Cidr::parse(n);
    if (!c) return Error("mynetworks: bad network: " + n).set_permanent();
    p->mynetworks_.push_back(*c);
  }
  struct M {
    const std::string& spec;
    maps::MapList* into;
    const char* name;
  } ms[] = {
      {s.alias_maps, &p->aliases_, "alias_maps"},
      {s.virtual_alias_maps, &p->virtual_alias_, "virtual_alias_maps"},
      {s.virtual_mailbox_maps, &p->virtual_mailbox_, "virtual_mailbox_maps"},
      {s.client_access, &p->client_access_, "smtpd_client_access"},
      {s.helo_access, &p->helo_access_, "smtpd_helo_access"},
      {s.sender_access, &p->sender_access_, "smtpd_sender_access"},
      {s.recipient_access, &p->recipient_access_, "smtpd_recipient_access"},
      {s.sender_login_maps, &p->sender_logins_, "smtpd_sender_login_maps"},
      {s.rbl_reply_maps, &p->rbl_replies_, "rbl_reply_maps"},
      {s.header_checks, &p->header_checks_, "header_checks"},
      {s.mime_header_checks, &p->mime_header_checks_, "mime_header_checks"},
      {s.nested_header_checks, &p->nested_header_checks_, "nested_header_checks"},
      {s.body_checks, &p->body_checks_, "body_checks"},
      {s.milter_maps, &p->milter_maps_, "smtpd_milter_maps"},
  };
  for (auto& m : ms) {
    if (str::trim(m.spec).empty()) continue;
    auto list = maps::MapList::open(m.spec);
    if (!list) {
      // A missing alias table is common on a fresh instance: local users still work.
      if (std::string(m.name) == "alias_maps") {
        log::warn("alias_maps: %s (local recipients are checked against passwd only)",
                  list.error().c_str());
        continue;
      }
      // A table's bad lines come one per line: one log line names them all.
      std::string why = list.error().str();
      for (size_t nl; (nl = why.find('\n')) != std::string::npos;) why.replace(nl, 1, "; ");
      return Error(std::string(m.name) + ": " + why);
    }
    *m.into = std::move(list.value());
  }
  // The tables the restriction lists name (check_client_access hash:/etc/...), each
  // opened once however many lists name it.
  for (const auto* list : {&s.client_restrictions, &s.helo_restrictions, &s.sender_restrictions,
                           &s.relay_restrictions, &s.recipient_restrictions, &s.data_restrictions}) {
    for (const auto& step : *list) {
      if (!config::takes_table(step.what) || p->access_tables_.count(step.table)) continue;
      auto t = maps::MapList::open(step.table);
      if (!t) {
        std::string why = t.error().str();
        for (size_t nl; (nl = why.find('\n')) != std::string::npos;) why.replace(nl, 1, "; ");
        return Error(std::string(config::restriction_name(step.what)) + " " + step.table + ": " + why);
      }
      p->access_tables_.emplace(step.table, std::move(t.value()));
    }
  }
  p->content_ = {&p->header_checks_, &p->mime_header_checks_, &p->nested_header_checks_, &p->body_checks_,
                 s.body_checks_size_limit};
  return p;
}

bool Policy::in_mynetworks(const std::string& ip) const {
  for (const auto& c : mynetworks_)
    if (c.contains(ip)) return true;
  return false;
}

DomainClass Policy::classify(const std::string& d) const {
  if (d.empty() || mail::domain_in(d, s_.mydestination) || str::iequals(d, s_.myhostname))
    return DomainClass::Local;
  if (mail::domain_in(d, s_.virtual_alias_domains)) return DomainClass::VirtualAlias;
  if (mail::domain_in(d, s_.virtual_mailbox_domains)) return DomainClass::VirtualMailbox;
  if (mail::domain_in(d, s_.relay_domains)) return DomainClass::Relay;
  // An address literal of ours ("user@[127.0.0.1]") is not treated as local: relay rules apply.
  return DomainClass::Other;
}

CheckResult Policy::check_restrictions(CheckStage stage, const ClientFacts& c, const std::string* sender,
                                       const DnsMemo& memo) {
  ListsToRun lists;
  bool at_rcpt = stage == CheckStage::Rcpt;
  if (stage == CheckStage::Data) {
    lists.data = &s_.data_restrictions;
  } else if (s_.delay_reject ? at_rcpt : !at_rcpt) {
    lists.client = &s_.client_restrictions;
    lists.helo = &s_.helo_restrictions;
    if (stage != CheckStage::Helo) lists.sender = &s_.sender_restrictions;
  }
  RestrictionTables t{&sender_logins_, &rbl_replies_, s_.recipient_delimiter, s_.default_rbl_reply, s_.rbl_code,
                      this, s_.policy_default_action, s_.unknown_client_code};
  return run_restriction_lists(lists, c, sender, memo, &t);
}

Result<AccessVerdict> Policy::check_access_table(const std::string& table, const std::vector<std::string>& keys,
                                                 const std::string& what, const std::string& prefix) {
  auto it = access_tables_.find(table);
  if (it == access_tables_.end()) return AccessVerdict{};
  return lookup_access(it->second, keys, what, prefix);
}

Reply Policy::unlisted_recipient(const smtp::Path& rcpt) { return check_known_recipient(rcpt, classify(rcpt.domain_lower())); }

Result<Policy::Verdict> Policy::lookup_access(maps::MapList& map, const std::vector<std::string>& keys,
                                              const std::string& what, const std::string& prefix) {
  Verdict v;
  if (map.empty()) return v;
  for (const auto& k : keys) {
    auto r = map.lookup(k);
    if (!r) return r.error();
    if (!r.value()) continue;
    std::string value(str::trim(**r));
    std::string word = value.substr(0, value.find_first_of(" \t"));
    std::string text(str::trim(std::string_view(value).substr(word.size())));
    std::string uw = str::upper(word);
    if (uw == "OK" || uw == "PERMIT") {
      v.ok = true;
      return v;
    }
    if (uw == "DUNNO") return v;
    if (uw == "REJECT") {
      v.reply = reply(554, "5.7.1", "<" + what + ">: " + prefix + ": " + (text.empty() ? "Access denied" : text));
      return v;
    }
    if (uw == "DEFER") {
      v.reply = reply(450, "4.7.1", "<" + what + ">: " + prefix + ": " + (text.empty() ? "Access denied" : text));
      return v;
    }
    auto code = str::parse_uint(word);
    if (code && word.size() == 3 && (*code / 100 == 4 || *code / 100 == 5)) {
      v.reply = reply(static_cast<int>(*code), *code / 100 == 4 ? "4.7.1" : "5.7.1",
                      "<" + what + ">: " + prefix + ": " + (text.empty() ? "Access denied" : text));
      return v;
    }
    log::warn("access table %s: bad value \"%s\" for key \"%s\"", "lookup",
              str::printable(value).c_str(), str::printable(k).c_str());
    return v;
  }
  return v;
}

// getpwnam reads /etc/passwd (or asks NSS) synchronously each time: answers are kept a
// minute, so a busy server does not read the file for every RCPT.
bool Policy::local_user(const std::string& name) {
  int64_t now = file::monotonic_ms();
  if (auto it = users_.find(name); it != users_.end() && it->second.expires_ms > now) return it->second.exists;
  bool exists = getpwnam(name.c_str()) != nullptr;
  if (users_.size() >= kUserCacheSize) users_.clear();
  users_[name] = KnownUser{exists, now + kUserCacheMs};
  return exists;
}

Reply Policy::check_known_recipient(const smtp::Path& rcpt, DomainClass cls) {
  std::string addr = "<" + rcpt.address + ">";
  std::string full = str::lower(rcpt.local + "@" + rcpt.domain);
  auto parts = mail::split_extension(rcpt.local, s_.recipient_delimiter);
  std::string user = str::lower(parts.user);
  switch (cls) {
    case DomainClass::Local: {
      if (!s_.local_recipient_check || user == "postmaster") return Reply{};
      if (!aliases_.empty()) {
        auto a = aliases_.lookup(user);
        if (!a) return table_failure(addr + ": Recipient address rejected");
        if (a.value()) return Reply{};
      }
      if (!virtual_alias_.empty()) {
        auto a = virtual_alias_.lookup(full);
        if (!a) return table_failure(addr + ": Recipient address rejected");
        if (a.value()) return Reply{};
      }
      if (local_user(user) || (parts.user != user && local_user(std::string(parts.user))))
        return Reply{};
      return reply(550, "5.1.1", addr + ": Recipient address rejected: User unknown in local recipient table");
    }
    case DomainClass::VirtualAlias:
    case DomainClass::VirtualMailbox: {
      // The keys qmgr and virtual(8) use too: what is accepted here is delivered.
      const auto keys = mail::virtual_lookup_keys(full, s_.recipient_delimiter);
      for (auto* m : {&virtual_alias_, &virtual_mailbox_}) {
        if (m->empty()) continue;
        for (const auto& k : keys) {
          auto a = m->lookup(k);
          if (!a) return table_failure(addr + ": Recipient address rejected");
          if (a.value()) return Reply{};
        }
      }
      return reply(550, "5.1.1", addr + (cls == DomainClass::VirtualAlias
                                              ? ": Recipient address rejected: User unknown in virtual alias table"
                                              : ": Recipient address rejected: User unknown in virtual mailbox table"));
    }
    case DomainClass::Relay:
    case DomainClass::Other:
      return Reply{};
  }
  return Reply{};
}

CheckResult Policy::check_rcpt(const ClientFacts& c, const std::string& sender, const smtp::Path& rcpt,
                               const DnsMemo& memo, bool vrfy) {
  RestrictionTables t{&sender_logins_, &rbl_replies_, s_.recipient_delimiter, s_.default_rbl_reply, s_.rbl_code,
                      this, s_.policy_default_action, s_.unknown_client_code};
  // 1. the client, HELO and sender lists (delayed to RCPT, as Postfix does by default).
  if (!vrfy) {
    CheckResult r = check_restrictions(CheckStage::Rcpt, c, &sender, memo);
    if (!r.reply.empty() || r.question || r.policy) return r;
  }
  auto refused = [](Reply r) { return CheckResult{std::move(r), std::nullopt, std::nullopt}; };
  std::string rcpt_text = rcpt.address;
  // 2. client, HELO and sender access maps. (Keys are built only for a table that
  // exists: most sites have none.)
  Result<Verdict> v = Verdict{};
  if (!client_access_.empty()) {
    v = lookup_access(client_access_, client_keys(c.ip), c.label(), "Client host rejected");
    if (!v) return refused(table_failure("<" + c.label() + ">: Client host rejected"));
    if (!v->reply.empty()) return refused(v->reply);
  }
  if (!c.helo.empty() && !helo_access_.empty()) {
    v = lookup_access(helo_access_, domain_keys(c.helo), c.helo, "Helo command rejected");
    if (!v) return refused(table_failure("<" + c.helo + ">: Helo command rejected"));
    if (!v->reply.empty()) return refused(v->reply);
  }
  if (!sender.empty() && !sender_access_.empty()) {
    auto at = sender.rfind('@');
    std::string local = at == std::string::npos ? sender : sender.substr(0, at);
    std::string domain = at == std::string::npos ? "" : sender.substr(at + 1);
    v = lookup_access(sender_access_, address_keys(local, domain), sender, "Sender address rejected");
    if (!v) return refused(table_failure("<" + sender + ">: Sender address rejected"));
    if (!v->reply.empty()) return refused(v->reply);
  }
  // 3. the recipient's own access entry; OK here is the admin's word and permits it.
  if (!recipient_access_.empty()) {
    v = lookup_access(recipient_access_, address_keys(rcpt.local, rcpt.domain), rcpt_text,
                      "Recipient address rejected");
    if (!v) return refused(table_failure("<" + rcpt_text + ">: Recipient address rejected"));
    if (!v->reply.empty()) return refused(v->reply);
    if (v->ok) return CheckResult{};
  }
  // 4. relay control (smtpd_relay_restrictions; by default permit_mynetworks,
  // permit_sasl_authenticated, reject_unauth_destination), then
  // smtpd_recipient_restrictions.
  ListsToRun lists;
  lists.relay = &s_.relay_restrictions;
  lists.recipient = &s_.recipient_restrictions;
  lists.rcpt = &rcpt;
  CheckResult r = run_restriction_lists(lists, c, &sender, memo, &t);
  if (!r.reply.empty() || r.question || r.policy) return r;
  // 5. unknown users are refused now rather than bounced later.
  return refused(check_known_recipient(rcpt, classify(rcpt.domain_lower())));
}

}  // namespace postilion::smtpd
