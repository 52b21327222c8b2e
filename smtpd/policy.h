// smtpd/policy.h - who may send what to whom: mynetworks, the domain classes (local,
// virtual, relay), local and virtual recipient tables, and the access maps.
// Every check answers with an empty Reply (go on) or the reply to send; a table that
// cannot be read is a 451 4.3.0 (the client retries), never an accept.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "lib/base/cidr.h"
#include "lib/base/result.h"
#include "lib/maps/maps.h"
#include "lib/smtp/command.h"
#include "lib/smtp/reply.h"
#include "smtpd/content_checks.h"
#include "smtpd/restrictions.h"
#include "smtpd/settings.h"

namespace postilion::smtpd {

// What the session knows about its client, for the checks.
struct ClientFacts {
  std::string ip;
  std::string name = "unknown";
  std::string helo;
  bool authenticated = false;
  std::string sasl_user;  // the login name, when authenticated
  bool in_mynetworks = false;
  // The client sent commands ahead where it may not: before the greeting, without
  // PIPELINING (HELO, or before EHLO's reply), or after a command that must end a
  // group (EHLO, DATA, ...; RFC 2920 3.1). For reject_unauth_pipelining.
  bool improper_pipelining = false;
  // The PTR name even when it does not map back ("unknown": none), and whether the
  // lookup failed for now (or did not happen: no resolver, smtpd_peername_lookup = no).
  std::string reverse_name = "unknown";
  bool name_tempfail = true;
  // What a policy server (check_policy_service) is told besides the above.
  std::string protocol_state;          // "RCPT", "DATA", ...
  std::string protocol_name = "SMTP";  // or ESMTP
  std::string instance;                // one value per mail transaction
  std::string sasl_method;
  std::string encryption_protocol, encryption_cipher;
  int recipient_count = 0;             // accepted so far (at DATA: all)
  uint64_t size = 0;                   // MAIL FROM SIZE=
  // "unknown[192.0.2.7]"
  std::string label() const { return name + "[" + ip + "]"; }
};

enum class DomainClass { Local, VirtualAlias, VirtualMailbox, Relay, Other };

// An access(5) table's answer: OK (ok), REJECT/DEFER/NNN text (reply), or DUNNO and no
// match (neither).
struct AccessVerdict {
  bool ok = false;
  smtp::Reply reply;
};

class Policy {
 public:
  // Opens the maps named in the settings. Errors: a malformed spec or a table that
  // cannot be opened (reported at start; the daemon does not run with half a policy).
  static Result<std::unique_ptr<Policy>> create(const Settings& s);

  bool in_mynetworks(const std::string& ip) const;
  DomainClass classify(const std::string& domain_lower) const;

  // The restriction lists due at `stage` (smtpd_delay_reject: all three at RCPT; else
  // client and HELO at HELO/EHLO, all three at MAIL). sender: nullptr before MAIL.
  CheckResult check_restrictions(CheckStage stage, const ClientFacts& c, const std::string* sender,
                                 const DnsMemo& memo);
  // The checks of one recipient at RCPT (smtpd_delay_reject) and VRFY, in order: the
  // client, HELO and sender lists (RCPT only; vrfy: none), the access maps, the
  // recipient's access entry (OK there accepts it at once), smtpd_relay_restrictions,
  // smtpd_recipient_restrictions, and the recipient tables.
  CheckResult check_rcpt(const ClientFacts& c, const std::string& sender, const smtp::Path& rcpt,
                         const DnsMemo& memo, bool vrfy = false);
  // One of the tables named by check_*_access in a restriction list (opened by
  // create()): the keys in order, the reply texts "<what>: prefix: text".
  Result<AccessVerdict> check_access_table(const std::string& table, const std::vector<std::string>& keys,
                                           const std::string& what, const std::string& prefix);
  // reject_unlisted_recipient: the recipient tables of the domain's class.
  smtp::Reply unlisted_recipient(const smtp::Path& rcpt);
  // header_checks, mime_header_checks, nested_header_checks, body_checks; none set: no
  // inspection at all (inspects_content() is false).
  const ContentTables& content_tables() { return content_; }
  // smtpd_milter_maps, keyed by the client's IP address (empty: no such table).
  maps::MapList& milter_maps() { return milter_maps_; }
  bool inspects_content() const { return !header_checks_.empty() || !mime_header_checks_.empty() ||
                                         !nested_header_checks_.empty() || !body_checks_.empty(); }

 private:
  explicit Policy(const Settings& s) : s_(s) {}
  using Verdict = AccessVerdict;
  // OK -> "ok", REJECT/DEFER/NNN -> a reply, DUNNO or no match -> empty.
  Result<Verdict> lookup_access(maps::MapList& map, const std::vector<std::string>& keys,
                                const std::string& what, const std::string& reject_prefix);
  smtp::Reply check_known_recipient(const smtp::Path& rcpt, DomainClass cls);
  bool local_user(const std::string& name);

  const Settings& s_;
  std::vector<Cidr> mynetworks_;
  maps::MapList aliases_, virtual_alias_, virtual_mailbox_;
  maps::MapList client_access_, helo_access_, sender_access_, recipient_access_;
  maps::MapList sender_logins_, rbl_replies_;
  std::map<std::string, maps::MapList> access_tables_;  // check_*_access, by "type:name"
  maps::MapList header_checks_, mime_header_checks_, nested_header_checks_, body_checks_;
  maps::MapList milter_maps_;
  ContentTables content_;
  static constexpr int64_t kUserCacheMs = 60000;
  static constexpr size_t kUserCacheSize = 10000;
  struct KnownUser {
    bool exists;
    int64_t expires_ms;
  };
  std::unordered_map<std::string, KnownUser> users_;
};

// Lookup keys, most specific first, as Postfix's access(5) tries them.
std::vector<std::string> client_keys(const std::string& ip);
std::vector<std::string> domain_keys(const std::string& domain);
std::vector<std::string> address_keys(const std::string& local, const std::string& domain);

}  // namespace postilion::smtpd
