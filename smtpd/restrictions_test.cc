// smtpd/restrictions_test.cc - the restriction lists: DNS lists with and without reply
// filters, allowlists, failed lookups, HELO and sender checks, the questions asked;
// table-driven, with the DNS answers given in a DnsMemo.
#include "smtpd/restrictions.h"

#include <cppunit/extensions/HelperMacros.h>

#include "smtpd/policy.h"

using namespace postilion;
using namespace postilion::smtpd;

namespace {

std::vector<config::RestrictionStep> list(const char* text) {
  auto l = config::parse_restriction_list(text);
  if (!l) throw std::runtime_error(std::string(text) + ": " + l.error());
  return *l;
}

struct Answer {
  const char* name;
  dns::RrType type;
  dns::Outcome outcome;
  std::vector<std::string> records;
};

DnsMemo memo_of(const std::vector<Answer>& answers) {
  DnsMemo m;
  for (const auto& a : answers) m.put(DnsQuestion{a.name, a.type}, DnsResult{a.outcome, a.records, ""});
  return m;
}

using dns::Outcome;
using dns::RrType;

// The DNS of the table: 192.0.2.2 is on bl.example (127.0.0.2) and on wl.example;
// 192.0.2.3 is on bl.example with 127.0.0.20; 192.0.2.4 gets a timeout from bl.example.
const std::vector<Answer> kDns = {
    {"2.2.0.192.bl.example", RrType::A, Outcome::Ok, {"127.0.0.2"}},
    {"2.2.0.192.bl.example", RrType::TXT, Outcome::Ok, {"see https://bl.example/?192.0.2.2"}},
    {"3.2.0.192.bl.example", RrType::A, Outcome::Ok, {"127.0.0.20"}},
    {"3.2.0.192.bl.example", RrType::TXT, Outcome::NoData, {}},
    {"4.2.0.192.bl.example", RrType::A, Outcome::TempFail, {}},
    {"5.2.0.192.bl.example", RrType::A, Outcome::NxDomain, {}},
    {"2.2.0.192.wl.example", RrType::A, Outcome::Ok, {"127.0.0.2"}},
    {"5.2.0.192.wl.example", RrType::A, Outcome::NxDomain, {}},
    {"bad.example.dbl.example", RrType::A, Outcome::Ok, {"127.0.1.2"}},
    {"bad.example.dbl.example", RrType::TXT, Outcome::TempFail, {}},
    {"good.example.dbl.example", RrType::A, Outcome::NxDomain, {}},
    {"host.bad.example.dbl.example", RrType::A, Outcome::Ok, {"127.0.1.2"}},
    {"host.bad.example.dbl.example", RrType::TXT, Outcome::NxDomain, {}},
    {"mx.example", RrType::MX, Outcome::Ok, {"10 mail.mx.example"}},
    {"aonly.example", RrType::MX, Outcome::NoData, {}},
    {"aonly.example", RrType::A, Outcome::Ok, {"192.0.2.9"}},
    {"nothing.example", RrType::MX, Outcome::NoData, {}},
    {"nothing.example", RrType::A, Outcome::NoData, {}},
    {"nothing.example", RrType::AAAA, Outcome::NoData, {}},
    {"gone.example", RrType::MX, Outcome::NxDomain, {}},
    {"broken.example", RrType::MX, Outcome::TempFail, {}},
    {"nullmx.example", RrType::MX, Outcome::Ok, {"0 ."}},
};

}  // namespace

class RestrictionsTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(RestrictionsTest);
  CPPUNIT_TEST(table);
  CPPUNIT_TEST(names);
  CPPUNIT_TEST(memo_is_bounded);
  CPPUNIT_TEST(sender_login_mismatch);
  CPPUNIT_TEST(rbl_replies);
  CPPUNIT_TEST(reply_templates);
  CPPUNIT_TEST_SUITE_END();

 public:
  void table() {
    struct Row {
      const char* client;  // smtpd_client_restrictions
      const char* helo;    // smtpd_helo_restrictions
      const char* sender;  // smtpd_sender_restrictions
      const char* ip;
      const char* name;
      const char* helo_name;
      const char* from;    // nullptr: before MAIL
      const char* want;    // reply summary, "" for none, "? NAME TYPE" for a question
    } rows[] = {
        // DNS lists of client addresses, with and without filters.
        {"reject_rbl_client bl.example", "", "", "192.0.2.2", "unknown", "h.example", "a@mx.example",
         "554 5.7.1 Service unavailable; Client host [192.0.2.2] blocked using bl.example; see https://bl.example/?192.0.2.2"},
        {"reject_rbl_client bl.example", "", "", "192.0.2.3", "unknown", "h.example", "a@mx.example",
         "554 5.7.1 Service unavailable; Client host [192.0.2.3] blocked using bl.example"},
        {"reject_rbl_client bl.example=127.0.0.[2..11]", "", "", "192.0.2.3", "unknown", "h.example",
         "a@mx.example", ""},
        {"reject_rbl_client bl.example=127.0.0.[2..11]", "", "", "192.0.2.2", "unknown", "h.example",
         "a@mx.example", "554 5.7.1 Service unavailable; Client host [192.0.2.2] blocked using bl.example; see https://bl.example/?192.0.2.2"},
        {"reject_rbl_client bl.example=127.0.0.2", "", "", "192.0.2.3", "unknown", "h.example", "a@mx.example", ""},
        {"reject_rbl_client bl.example=127.0.0.[1;20]", "", "", "192.0.2.3", "unknown", "h.example",
         "a@mx.example", "554 5.7.1 Service unavailable; Client host [192.0.2.3] blocked using bl.example"},
        // A failed lookup and a name that is not listed reject nothing.
        {"reject_rbl_client bl.example, reject", "", "", "192.0.2.4", "unknown", "h.example", "a@mx.example",
         "554 5.7.1 <unknown[192.0.2.4]>: Client host rejected: Access denied"},
        {"reject_rbl_client bl.example", "", "", "192.0.2.4", "unknown", "h.example", "a@mx.example", ""},
        {"reject_rbl_client bl.example", "", "", "192.0.2.5", "unknown", "h.example", "a@mx.example", ""},
        // Not asked yet: the question.
        {"reject_rbl_client bl.example", "", "", "192.0.2.6", "unknown", "h.example", "a@mx.example",
         "? 6.2.0.192.bl.example A"},
        {"reject_rbl_client bl.example", "", "", "2001:db8::1", "unknown", "h.example", "a@mx.example",
         "? 1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.example A"},
        // An allowlist ends the client list (the next list still runs).
        {"permit_dnswl_client wl.example, reject_rbl_client bl.example", "", "", "192.0.2.2", "unknown",
         "h.example", "a@mx.example", ""},
        {"permit_dnswl_client wl.example, reject_rbl_client bl.example", "", "reject_rhsbl_sender dbl.example",
         "192.0.2.2", "unknown", "h.example", "a@bad.example",
         "554 5.7.1 Service unavailable; Sender address [bad.example] blocked using dbl.example"},
        {"permit_dnswl_client wl.example, reject_rbl_client bl.example", "", "", "192.0.2.5", "unknown",
         "h.example", "a@mx.example", ""},
        {"permit_dnswl_client wl.example=127.0.0.3, reject_rbl_client bl.example", "", "", "192.0.2.2",
         "unknown", "h.example", "a@mx.example",
         "554 5.7.1 Service unavailable; Client host [192.0.2.2] blocked using bl.example; see https://bl.example/?192.0.2.2"},
        // Domain lists: the client's name (none when unknown) and the sender's domain.
        {"reject_rhsbl_client dbl.example", "", "", "192.0.2.7", "host.bad.example", "h.example", "a@mx.example",
         "554 5.7.1 Service unavailable; Client host [host.bad.example] blocked using dbl.example"},
        {"reject_rhsbl_client dbl.example", "", "", "192.0.2.7", "unknown", "h.example", "a@mx.example", ""},
        {"", "", "reject_rhsbl_sender dbl.example", "192.0.2.7", "unknown", "h.example", "a@good.example", ""},
        {"", "", "reject_rhsbl_sender dbl.example", "192.0.2.7", "unknown", "h.example", "", ""},
        {"", "", "reject_rhsbl_sender dbl.example", "192.0.2.7", "unknown", "h.example", "a@BAD.example",
         "554 5.7.1 Service unavailable; Sender address [BAD.example] blocked using dbl.example"},
        // HELO names.
        {"", "reject_invalid_helo_hostname", "", "192.0.2.7", "unknown", "bad_name!", "a@mx.example",
         "501 5.5.2 <bad_name!>: Helo command rejected: Invalid name"},
        {"", "reject_invalid_helo_hostname", "", "192.0.2.7", "unknown", "1.2.3.4", "a@mx.example",
         "501 5.5.2 <1.2.3.4>: Helo command rejected: Invalid name"},
        {"", "reject_invalid_helo_hostname", "", "192.0.2.7", "unknown", "[1.2.3.4]", "a@mx.example", ""},
        {"", "reject_invalid_helo_hostname", "", "192.0.2.7", "unknown", "[1.2.3]", "a@mx.example",
         "501 5.5.2 <[1.2.3]>: Helo command rejected: Invalid name"},
        {"", "reject_invalid_helo_hostname", "", "192.0.2.7", "unknown", "[IPv6:2001:db8::1]", "a@mx.example", ""},
        {"", "reject_invalid_helo_hostname", "", "192.0.2.7", "unknown", "localhost", "a@mx.example", ""},
        {"", "reject_invalid_helo_hostname", "", "192.0.2.7", "unknown", "a..b", "a@mx.example",
         "501 5.5.2 <a..b>: Helo command rejected: Invalid name"},
        {"", "reject_non_fqdn_helo_hostname", "", "192.0.2.7", "unknown", "localhost", "a@mx.example",
         "504 5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname"},
        {"", "reject_non_fqdn_helo_hostname", "", "192.0.2.7", "unknown", "mail.example.", "a@mx.example", ""},
        {"", "reject_non_fqdn_helo_hostname", "", "192.0.2.7", "unknown", "", "a@mx.example", ""},
        {"", "reject_non_fqdn_helo_hostname, reject", "", "192.0.2.7", "unknown", "[192.0.2.7]", "a@mx.example",
         "554 5.7.1 <[192.0.2.7]>: Helo command rejected: Access denied"},
        // Senders.
        {"", "", "reject_non_fqdn_sender", "192.0.2.7", "unknown", "h.example", "user",
         "504 5.5.2 <user>: Sender address rejected: need fully-qualified address"},
        {"", "", "reject_non_fqdn_sender", "192.0.2.7", "unknown", "h.example", "user@localhost",
         "504 5.5.2 <user@localhost>: Sender address rejected: need fully-qualified address"},
        {"", "", "reject_non_fqdn_sender", "192.0.2.7", "unknown", "h.example", "user@a.example", ""},
        {"", "", "reject_non_fqdn_sender", "192.0.2.7", "unknown", "h.example", "", ""},
        {"", "", "reject_non_fqdn_sender", "192.0.2.7", "unknown", "h.example", "user@[192.0.2.1]", ""},
        {"", "", "reject_unknown_sender_domain", "192.0.2.7", "unknown", "h.example", "a@mx.example", ""},
        {"", "", "reject_unknown_sender_domain", "192.0.2.7", "unknown", "h.example", "a@aonly.example", ""},
        {"", "", "reject_unknown_sender_domain", "192.0.2.7", "unknown", "h.example", "a@nothing.example",
         "550 5.1.8 <a@nothing.example>: Sender address rejected: Domain not found"},
        {"", "", "reject_unknown_sender_domain", "192.0.2.7", "unknown", "h.example", "a@gone.example",
         "550 5.1.8 <a@gone.example>: Sender address rejected: Domain not found"},
        {"", "", "reject_unknown_sender_domain", "192.0.2.7", "unknown", "h.example", "a@broken.example",
         "450 4.1.8 <a@broken.example>: Sender address rejected: Domain not found"},
        {"", "", "reject_unknown_sender_domain", "192.0.2.7", "unknown", "h.example", "a@nullmx.example",
         "550 5.7.27 <a@nullmx.example>: Sender address rejected: Domain nullmx.example does not accept mail (nullMX)"},
        {"", "", "reject_unknown_sender_domain", "192.0.2.7", "unknown", "h.example", "a@new.example",
         "? new.example MX"},
        {"", "", "reject_unknown_sender_domain", "192.0.2.7", "unknown", "h.example", "", ""},
        {"", "", "reject_unknown_sender_domain", "192.0.2.7", "unknown", "h.example", nullptr, ""},
        // The permits and the order of the lists.
        {"permit_mynetworks, reject", "", "", "192.0.2.7", "unknown", "h.example", "a@mx.example",
         "554 5.7.1 <unknown[192.0.2.7]>: Client host rejected: Access denied"},
        {"permit, reject", "reject", "", "192.0.2.7", "unknown", "h.example", "a@mx.example",
         "554 5.7.1 <h.example>: Helo command rejected: Access denied"},
        {"", "", "permit_sasl_authenticated, reject", "192.0.2.7", "unknown", "h.example", "a@mx.example",
         "554 5.7.1 <a@mx.example>: Sender address rejected: Access denied"},
    };
    DnsMemo memo = memo_of(kDns);
    for (const auto& r : rows) {
      auto client = list(r.client), helo = list(r.helo), sender = list(r.sender);
      ClientFacts c{r.ip, r.name, r.helo_name};
      std::string from = r.from ? r.from : "";
      CheckResult got = run_restriction_lists(ListsToRun{&client, &helo, &sender}, c, r.from ? &from : nullptr, memo);
      std::string text = got.question ? "? " + got.question->name + " " + dns::rrtype_name(got.question->type)
                                      : got.reply.empty() ? "" : got.reply.summary();
      CPPUNIT_ASSERT_EQUAL_MESSAGE(std::string(r.client) + " | " + r.helo + " | " + r.sender + " | " + r.ip + " " +
                                       r.helo_name + " " + from,
                                   std::string(r.want), text);
    }
  }

  void names() {
    CPPUNIT_ASSERT_EQUAL(std::string("7.2.0.192.bl.example"), *dnsbl_name("192.0.2.7", "bl.example"));
    CPPUNIT_ASSERT(!dnsbl_name("not an address", "bl.example"));
    CPPUNIT_ASSERT(valid_helo_hostname("mail.example"));
    CPPUNIT_ASSERT(!valid_helo_hostname(""));
    CPPUNIT_ASSERT(!valid_helo_hostname(std::string(300, 'a')));
    CPPUNIT_ASSERT(!valid_helo_hostname("[]"));
    CPPUNIT_ASSERT(!valid_helo_hostname("[IPv6:1.2.3.4]"));
    CPPUNIT_ASSERT(!fqdn_helo_hostname("mail"));
  }

  // smtpd_sender_login_maps: the address, the address without its extension, @domain;
  // values list the logins, compared without regard to case.
  void sender_login_mismatch() {
    auto logins = maps::MapList::open(
        "inline:{alice@ours.example=alice, shared@ours.example={alice, Bob}, @team.example=carol}");
    CPPUNIT_ASSERT(logins.ok());
    struct Row {
      const char* list;
      const char* user;  // "" = not authenticated
      const char* from;
      const char* want;
    } rows[] = {
        {"reject_sender_login_mismatch", "alice", "alice@ours.example", ""},
        {"reject_sender_login_mismatch", "ALICE", "Alice@Ours.Example", ""},
        {"reject_sender_login_mismatch", "alice", "alice+lists@ours.example", ""},
        {"reject_sender_login_mismatch", "bob", "shared@ours.example", ""},
        {"reject_sender_login_mismatch", "carol", "anyone@team.example", ""},
        {"reject_sender_login_mismatch", "alice", "", ""},
        {"reject_sender_login_mismatch", "bob", "alice@ours.example",
         "553 5.7.1 <alice@ours.example>: Sender address rejected: not owned by user bob"},
        {"reject_sender_login_mismatch", "alice", "anyone@team.example",
         "553 5.7.1 <anyone@team.example>: Sender address rejected: not owned by user alice"},
        {"reject_sender_login_mismatch", "alice", "stranger@else.example",
         "553 5.7.1 <stranger@else.example>: Sender address rejected: not owned by user alice"},
        {"reject_sender_login_mismatch", "", "alice@ours.example",
         "553 5.7.1 <alice@ours.example>: Sender address rejected: not logged in"},
        {"reject_sender_login_mismatch", "", "stranger@else.example", ""},
        {"reject_authenticated_sender_login_mismatch", "", "alice@ours.example", ""},
        {"reject_authenticated_sender_login_mismatch", "bob", "alice@ours.example",
         "553 5.7.1 <alice@ours.example>: Sender address rejected: not owned by user bob"},
        {"reject_authenticated_sender_login_mismatch", "alice", "alice@ours.example", ""},
        {"permit_sasl_authenticated, reject_sender_login_mismatch", "bob", "alice@ours.example", ""},
    };
    DnsMemo memo;
    for (const auto& r : rows) {
      auto sender = list(r.list);
      ClientFacts c{"192.0.2.7"};
      c.authenticated = r.user[0] != 0;
      c.sasl_user = r.user;
      std::string from = r.from;
      RestrictionTables t;
      t.sender_logins = &*logins;
      t.delimiter = "+";
      CheckResult got = run_restriction_lists(ListsToRun{nullptr, nullptr, &sender}, c, &from, memo, &t);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(std::string(r.list) + " " + r.user + " " + r.from, std::string(r.want),
                                   got.reply.empty() ? std::string() : got.reply.summary());
    }
    // Before MAIL there is nothing to check.
    auto sender = list("reject_sender_login_mismatch");
    ClientFacts c{"192.0.2.7"};
    RestrictionTables t;
    t.sender_logins = &*logins;
    CPPUNIT_ASSERT(run_restriction_lists(ListsToRun{&sender, nullptr, nullptr}, c, nullptr, memo, &t).reply.empty());
  }

  // rbl_reply_maps by domain (inline: cannot hold the domain=filter keys; the
  // integration test has them), maps_rbl_reject_code as $rbl_code.
  void rbl_replies() {
    auto replies = maps::MapList::open(
        "inline:{bl.example={$rbl_code 5.7.2 Listed by $rbl_domain: $client_address (${rbl_reason})},"
        " dbl.example={450 $rbl_class [$rbl_what] is on a list${rbl_reason?: $rbl_reason}}}");
    CPPUNIT_ASSERT(replies.ok());
    RestrictionTables t;
    t.rbl_replies = &*replies;
    t.rbl_code = 550;
    DnsMemo memo = memo_of(kDns);
    struct Row {
      const char* list;
      const char* ip;
      const char* from;
      const char* want;
    } rows[] = {
        {"reject_rbl_client bl.example=127.0.0.[2..11]", "192.0.2.2", "a@mx.example",
         "550 5.7.2 Listed by bl.example: 192.0.2.2 (see https://bl.example/?192.0.2.2)"},
        {"reject_rbl_client bl.example", "192.0.2.3", "a@mx.example", "550 5.7.2 Listed by bl.example: 192.0.2.3 ()"},
        {"reject_rhsbl_sender dbl.example", "192.0.2.7", "a@bad.example",
         "450 4.7.1 Sender address [bad.example] is on a list"},
    };
    for (const auto& r : rows) {
      auto client = list(r.list);
      auto sender = list("");
      if (std::string(r.list).find("rhsbl_sender") != std::string::npos) std::swap(client, sender);
      ClientFacts c{r.ip};
      std::string from = r.from;
      CheckResult got = run_restriction_lists(ListsToRun{&client, nullptr, &sender}, c, &from, memo, &t);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.list, std::string(r.want), got.reply.empty() ? std::string() : got.reply.summary());
    }
  }

  void reply_templates() {
    std::map<std::string, std::string> vars = {{"rbl_code", "554"}, {"rbl_domain", "bl.example"},
                                               {"rbl_reason", ""}, {"client_address", "192.0.2.2"}};
    struct Row {
      const char* tmpl;
      const char* want;  // summary, or "" when refused
    } rows[] = {
        {"$rbl_code Service unavailable; blocked using $rbl_domain${rbl_reason?; $rbl_reason}",
         "554 5.7.1 Service unavailable; blocked using bl.example"},
        {"${rbl_code} 5.7.9 $client_address ${rbl_reason:no reason} $$5 $unknown.", "554 5.7.9 192.0.2.2 no reason $5 ."},
        {"421 4.7.0 go away", "421 4.7.0 go away"},
        {"450 try later", "450 4.7.1 try later"},
        {"250 fine", ""},
        {"blocked", ""},
        {"", ""},
        {"55 x", ""},
        {"554", ""},
        {"554 ${rbl_domain", "554 5.7.1 ${rbl_domain"},
        {"554 a\r\nb", "554 5.7.1 a\\015\\012b"},
        {"554 ${rbl_code?${rbl_code?${rbl_code?${rbl_code?${rbl_code?${rbl_code?deep}}}}}}x", "554 5.7.1 x"},
    };
    for (const auto& r : rows) {
      auto got = rbl_template_reply(r.tmpl, vars);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.tmpl, std::string(r.want), got ? got->summary() : std::string());
    }
  }

  void memo_is_bounded() {
    DnsMemo m;
    for (size_t i = 0; i < DnsMemo::kMaxAnswers + 10; ++i)
      m.put(DnsQuestion{"n" + std::to_string(i) + ".example", RrType::A}, DnsResult{Outcome::Ok, {"127.0.0.2"}, ""});
    CPPUNIT_ASSERT(m.full());
    const DnsResult* r = m.find(DnsQuestion{"never.example", RrType::A});
    CPPUNIT_ASSERT(r && r->outcome == Outcome::TempFail);
    CPPUNIT_ASSERT_EQUAL(Outcome::Ok, m.find(DnsQuestion{"n0.example", RrType::A})->outcome);
    // A full memo makes the lists ask nothing more: the DNS list rejects nothing.
    auto client = list("reject_rbl_client bl.example");
    ClientFacts c{"192.0.2.2"};
    CheckResult got = run_restriction_lists(ListsToRun{&client, nullptr, nullptr}, c, nullptr, m);
    CPPUNIT_ASSERT(!got.question && got.reply.empty());
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(RestrictionsTest);
