// smtpd/restrictions.h - the restriction lists (smtpd_client_restrictions,
// smtpd_helo_restrictions, smtpd_sender_restrictions, smtpd_relay_restrictions,
// smtpd_recipient_restrictions, smtpd_data_restrictions) as Postfix runs them: each list in
// order, a permit ends that list, a reject answers the command. Checks that need DNS
// (DNS lists, reject_unknown_sender_domain) read their answers from the session's
// DnsMemo; when an answer is not there yet the evaluation stops with the question, the
// session asks the resolver (never waiting in the loop) and evaluates again.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lib/config/restrictions.h"
#include "lib/dns/dns.h"
#include "lib/maps/maps.h"
#include "lib/smtp/command.h"
#include "lib/smtp/reply.h"

namespace postilion::smtpd {

struct ClientFacts;
class Policy;

struct DnsQuestion {
  std::string name;
  dns::RrType type = dns::RrType::A;
};

// A request for a policy server (check_policy_service): the server and the request text.
struct PolicyQuestion {
  std::string server;
  std::string request;
};

struct DnsResult {
  dns::Outcome outcome = dns::Outcome::TempFail;
  std::vector<std::string> records;  // presentation form (lib/dns/protocol.h)
  std::string text;                  // why, for TempFail
};

// The DNS answers one session has had, so each name is asked once per session however
// many recipients follow (Postfix keeps them per session too). Bounded: once it holds
// kMaxAnswers, find() answers every new question TempFail, so nothing more is asked.
class DnsMemo {
 public:
  static constexpr size_t kMaxAnswers = 100;
  const DnsResult* find(const DnsQuestion& q) const;
  void put(const DnsQuestion& q, DnsResult r);
  bool full() const { return answers_.size() >= kMaxAnswers; }
  // The policy servers' actions within one command (cleared before each): a server
  // that failed has the default action here.
  const std::string* find_policy(const PolicyQuestion& q) const;
  void put_policy(const PolicyQuestion& q, std::string action);
  void clear_policy() { policy_.clear(); }

 private:
  std::map<std::pair<std::string, dns::RrType>, DnsResult> answers_;
  std::map<std::pair<std::string, std::string>, std::string> policy_;
};

// What a run of restriction lists came to.
struct CheckResult {
  smtp::Reply reply;                    // not empty: refuse the command with it
  std::optional<DnsQuestion> question;  // set: ask, memo the answer, run again
  std::optional<PolicyQuestion> policy;  // likewise for a policy server
};

// Which lists run together: at RCPT while smtpd_delay_reject holds, else the client and
// HELO lists at HELO/EHLO and all three at MAIL.
// smtpd_data_restrictions runs at DATA (and the first BDAT) only.
enum class CheckStage { Helo, Mail, Rcpt, Data };

struct ListsToRun {
  const std::vector<config::RestrictionStep>* client = nullptr;
  const std::vector<config::RestrictionStep>* helo = nullptr;
  const std::vector<config::RestrictionStep>* sender = nullptr;
  const std::vector<config::RestrictionStep>* relay = nullptr;
  const std::vector<config::RestrictionStep>* recipient = nullptr;
  const std::vector<config::RestrictionStep>* data = nullptr;
  // The recipient the checks are about (RCPT, VRFY); nullptr elsewhere, where the
  // recipient restrictions find nothing to check.
  const smtp::Path* rcpt = nullptr;
};

// The tables and settings some restrictions use.
struct RestrictionTables {
  maps::MapList* sender_logins = nullptr;  // smtpd_sender_login_maps (nullptr or empty: none)
  maps::MapList* rbl_replies = nullptr;    // rbl_reply_maps
  std::string delimiter;                   // recipient_delimiter
  std::string default_rbl_reply = "$rbl_code Service unavailable; $rbl_class [$rbl_what] blocked using "
                                  "$rbl_domain${rbl_reason?; $rbl_reason}";
  int rbl_code = 554;
  // The domain classes, recipient tables and check_*_access tables (nullptr: no domain
  // is ours, no recipient is known, every check_*_access finds nothing).
  Policy* policy = nullptr;
  // smtpd_policy_service_default_action: for an action a policy server should not give.
  std::string policy_default_action = "451 4.3.5 Server configuration problem";
  int unknown_client_code = 450;  // unknown_client_reject_code
};

// The request attributes for a policy server (Postfix's names).
std::vector<std::pair<std::string, std::string>> policy_attributes(const ClientFacts& c, const std::string* sender,
                                                                   const smtp::Path* rcpt);

// Runs the lists in order (client, HELO, sender, relay, recipient). sender: nullptr
// before MAIL, "" for the null sender. tables: nullptr for none and the default reply.
CheckResult run_restriction_lists(const ListsToRun& lists, const ClientFacts& c, const std::string* sender,
                                  const DnsMemo& memo, const RestrictionTables* tables = nullptr);

// A DNS list reply from a template (default_rbl_reply, rbl_reply_maps), Postfix's:
// "$rbl_code Service unavailable; $rbl_class [$rbl_what] blocked using $rbl_domain"
// with $name, ${name}, ${name?text} (text when name is not empty), ${name:text} (text
// when it is) and $$; names: client, client_address, client_name, helo_name, sender,
// sender_name, sender_domain, rbl_class, rbl_code, rbl_domain, rbl_reason, rbl_txt,
// rbl_what; others are empty. The result starts with a 4xx or 5xx code, optionally an
// enhanced status (else 4.7.1 / 5.7.1); nullopt when it does not.
std::optional<smtp::Reply> rbl_template_reply(std::string_view tmpl, const std::map<std::string, std::string>& vars);

// The SASL logins that may use a MAIL FROM address, from smtpd_sender_login_maps: the
// address, the address without its extension, then @domain; values are lists of
// logins. An error when a table cannot be read.
Result<std::vector<std::string>> sender_owners(maps::MapList& logins, const std::string& sender,
                                               const std::string& delimiter);

// The name to ask a DNS list about an address: "7.2.0.192.bl.example" (IPv6: nibbles).
std::optional<std::string> dnsbl_name(const std::string& ip, const std::string& domain);
// HELO checks: host name syntax or an address literal; a fully qualified name.
bool valid_helo_hostname(const std::string& helo);
bool fqdn_helo_hostname(const std::string& helo);

}  // namespace postilion::smtpd
