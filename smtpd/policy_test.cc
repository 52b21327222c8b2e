// smtpd/policy_test.cc - relay control and recipient checks: the open-relay tricks,
// mynetworks, authenticated clients, unknown users, access maps; table-driven.
#include "smtpd/policy.h"

#include <cppunit/extensions/HelperMacros.h>

using namespace postilion;
using namespace postilion::smtpd;

class PolicyTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(PolicyTest);
  CPPUNIT_TEST(keys);
  CPPUNIT_TEST(relay);
  CPPUNIT_TEST(access);
  CPPUNIT_TEST(restrictions);
  CPPUNIT_TEST(relay_lists);
  CPPUNIT_TEST(recipient_lists);
  CPPUNIT_TEST_SUITE_END();

 public:
  void keys() {
    CPPUNIT_ASSERT((client_keys("192.0.2.7") ==
                    std::vector<std::string>{"192.0.2.7", "192.0.2", "192.0", "192"}));
    CPPUNIT_ASSERT((domain_keys("a.B.example") ==
                    std::vector<std::string>{"a.b.example", "b.example", "example"}));
    CPPUNIT_ASSERT((address_keys("U", "x.example") ==
                    std::vector<std::string>{"u@x.example", "x.example", "example", "u@"}));
  }

  Settings base_settings() {
    Settings s;
    s.myhostname = "mail.ours.test";
    s.mydestination = {"mail.ours.test", "ours.test", "localhost"};
    s.relay_domains = {"relayed.test"};
    s.virtual_alias_domains = {"valias.test"};
    s.virtual_alias_maps = "inline:{bob@valias.test=bob, info@ours.test=root}";
    s.alias_maps = "inline:{postmaster=root, listname=root}";
    s.mynetworks = {"127.0.0.0/8"};
    return s;
  }

  // Policy::check_rcpt without DNS: a check that asks a question fails the test.
  smtp::Reply check(Policy& p, const ClientFacts& c, const std::string& from, const smtp::Path& rcpt,
                    const DnsMemo& memo = DnsMemo()) {
    CheckResult r = p.check_rcpt(c, from, rcpt, memo);
    CPPUNIT_ASSERT_MESSAGE(rcpt.address + " asked " + (r.question ? r.question->name : ""), !r.question);
    return r.reply;
  }

  smtp::Path path(const std::string& text) {
    auto p = smtp::parse_path(text, smtp::PathKind::Recipient, true);
    CPPUNIT_ASSERT_MESSAGE(text, p.ok());
    return p.value();
  }

  void relay() {
    Settings s = base_settings();
    auto p = Policy::create(s);
    CPPUNIT_ASSERT(p.ok());
    ClientFacts outsider{"203.0.113.9"};
    ClientFacts inside{"127.0.0.1"};
    inside.in_mynetworks = true;
    ClientFacts authed{"203.0.113.9"};
    authed.authenticated = true;
    struct Row { const ClientFacts* c; const char* rcpt; int code; } rows[] = {
        // The open-relay set, from outside: every one refused.
        {&outsider, "<victim@elsewhere.test>", 554},
        {&outsider, "<victim%elsewhere.test@ours.test>", 554},
        {&outsider, "<elsewhere.test!victim@ours.test>", 554},
        {&outsider, "<\"victim@elsewhere.test\"@ours.test>", 554},
        {&outsider, "<@ours.test:victim@elsewhere.test>", 554},
        {&outsider, "<victim@[192.0.2.1]>", 554},
        {&outsider, "<victim%elsewhere.test@[127.0.0.1]>", 554},
        {&outsider, "<victim@ours.test.elsewhere.test>", 554},
        // Our own domains from outside: accepted for known users, 550 for unknown.
        {&outsider, "<root@ours.test>", 0},
        {&outsider, "<root+tag@ours.test>", 0},
        {&outsider, "<ROOT@OURS.TEST>", 0},
        {&outsider, "<postmaster@ours.test>", 0},
        {&outsider, "<postmaster>", 0},
        {&outsider, "<listname@mail.ours.test>", 0},
        {&outsider, "<info@ours.test>", 0},
        {&outsider, "<no-such-user-xyz@ours.test>", 550},
        {&outsider, "<bob@valias.test>", 0},
        {&outsider, "<alice@valias.test>", 550},
        {&outsider, "<anyone@relayed.test>", 0},
        {&outsider, "<@elsewhere.test:root@ours.test>", 0},
        // mynetworks and authenticated clients relay.
        {&inside, "<victim@elsewhere.test>", 0},
        {&authed, "<victim@elsewhere.test>", 0},
        {&authed, "<victim%elsewhere.test@ours.test>", 550},
    };
    for (auto& r : rows) {
      smtp::Reply rep = check(*p.value(), *r.c, "sender@example.test", path(r.rcpt));
      CPPUNIT_ASSERT_EQUAL_MESSAGE(std::string(r.rcpt) + " from " + r.c->ip + ": " + rep.summary(),
                                   r.code, rep.code);
      if (r.code == 554)
        CPPUNIT_ASSERT_MESSAGE(rep.summary(), rep.summary().find("5.7.1") != std::string::npos &&
                                                  rep.summary().find("Relay access denied") != std::string::npos);
      if (r.code == 550) CPPUNIT_ASSERT_EQUAL(std::string("5.1.1"), rep.status);
    }
  }

  void access() {
    Settings s = base_settings();
    s.client_access = "inline:{203.0.113=REJECT go away, 198.51.100.7=DEFER later}";
    s.sender_access = "inline:{spam.test=REJECT, friend@x.test=OK}";
    s.recipient_access = "inline:{blocked@ours.test=550 no such luck, open@partner.test=OK}";
    s.helo_access = "inline:{bad.helo.test=REJECT}";
    auto p = Policy::create(s);
    CPPUNIT_ASSERT(p.ok());
    struct Row { const char* ip; const char* helo; const char* from; const char* rcpt; int code; } rows[] = {
        {"203.0.113.5", "x", "a@b.test", "<root@ours.test>", 554},
        {"198.51.100.7", "x", "a@b.test", "<root@ours.test>", 450},
        {"192.0.2.1", "x", "a@b.test", "<root@ours.test>", 0},
        {"192.0.2.1", "mx.bad.helo.test", "a@b.test", "<root@ours.test>", 554},
        {"192.0.2.1", "x", "a@mail.spam.test", "<root@ours.test>", 554},
        {"192.0.2.1", "x", "friend@x.test", "<root@ours.test>", 0},
        {"192.0.2.1", "x", "a@b.test", "<blocked@ours.test>", 550},
        {"192.0.2.1", "x", "a@b.test", "<open@partner.test>", 0},
    };
    for (auto& r : rows) {
      ClientFacts c{r.ip};
      c.helo = r.helo;
      smtp::Reply rep = check(*p.value(), c, r.from, path(r.rcpt));
      CPPUNIT_ASSERT_EQUAL_MESSAGE(std::string(r.ip) + " " + r.from + " " + r.rcpt + ": " + rep.summary(),
                                   r.code, rep.code);
    }
    ClientFacts c{"203.0.113.5"};
    smtp::Reply rep = check(*p.value(), c, "", path("<root@ours.test>"));
    CPPUNIT_ASSERT(rep.summary().find("go away") != std::string::npos);
    CPPUNIT_ASSERT(rep.summary().find("Client host rejected") != std::string::npos);
  }

  void restrictions() {
    Settings s = base_settings();
    s.client_restrictions = *config::parse_restriction_list("permit_sasl_authenticated, reject");
    auto p = Policy::create(s);
    CPPUNIT_ASSERT(p.ok());
    DnsMemo memo;
    std::string sender = "a@b.example";
    ClientFacts c{"192.0.2.1"};
    // smtpd_delay_reject: nothing before RCPT.
    CPPUNIT_ASSERT(p.value()->check_restrictions(CheckStage::Helo, c, nullptr, memo).reply.empty());
    CPPUNIT_ASSERT(p.value()->check_restrictions(CheckStage::Mail, c, &sender, memo).reply.empty());
    CPPUNIT_ASSERT_EQUAL(std::string("554 5.7.1 <unknown[192.0.2.1]>: Client host rejected: Access denied"),
                         p.value()->check_restrictions(CheckStage::Rcpt, c, &sender, memo).reply.summary());
    c.authenticated = true;
    CPPUNIT_ASSERT(p.value()->check_restrictions(CheckStage::Rcpt, c, &sender, memo).reply.empty());
    s.client_restrictions = *config::parse_restriction_list("permit_mynetworks reject");
    s.delay_reject = false;
    auto q = Policy::create(s);
    ClientFacts d{"192.0.2.1"};
    CPPUNIT_ASSERT_EQUAL(554, q.value()->check_restrictions(CheckStage::Helo, d, nullptr, memo).reply.code);
    CPPUNIT_ASSERT_EQUAL(554, q.value()->check_restrictions(CheckStage::Mail, d, &sender, memo).reply.code);
    CPPUNIT_ASSERT(q.value()->check_restrictions(CheckStage::Rcpt, d, &sender, memo).reply.empty());
    d.in_mynetworks = true;
    CPPUNIT_ASSERT(q.value()->check_restrictions(CheckStage::Mail, d, &sender, memo).reply.empty());
    s.mynetworks = {"not-a-network"};
    CPPUNIT_ASSERT(!Policy::create(s).ok());
  }

  // smtpd_relay_restrictions: the default is the built-in rule (relay() above); other
  // lists change who relays and with which reply, never making an outsider a relay
  // unless the admin says so.
  void relay_lists() {
    ClientFacts outsider{"203.0.113.9"};
    ClientFacts inside{"127.0.0.1"};
    inside.in_mynetworks = true;
    ClientFacts authed{"203.0.113.9"};
    authed.authenticated = true;
    struct Row {
      const char* relay;
      const char* recipient;
      const ClientFacts* c;
      const char* rcpt;
      const char* want;  // the reply's summary, "" for accepted
    } rows[] = {
        // Postfix's default today: defer_unauth_destination answers 454.
        {"permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination", "", &outsider,
         "<victim@elsewhere.test>", "454 4.7.1 <victim@elsewhere.test>: Relay access denied"},
        {"permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination", "", &outsider,
         "<victim%elsewhere.test@ours.test>", "454 4.7.1 <victim%elsewhere.test@ours.test>: Relay access denied"},
        {"permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination", "", &authed,
         "<victim@elsewhere.test>", ""},
        // Authenticated clients no longer relay when the list does not say so.
        {"permit_mynetworks, reject_unauth_destination", "", &authed, "<victim@elsewhere.test>",
         "554 5.7.1 <victim@elsewhere.test>: Relay access denied"},
        {"permit_mynetworks, reject_unauth_destination", "", &inside, "<victim@elsewhere.test>", ""},
        {"permit_mynetworks, reject_unauth_destination", "", &authed, "<root@ours.test>", ""},
        // The old Postfix way: the relay rule in smtpd_recipient_restrictions.
        {"", "permit_mynetworks, reject_unauth_destination", &outsider, "<victim@elsewhere.test>",
         "554 5.7.1 <victim@elsewhere.test>: Relay access denied"},
        {"", "permit_mynetworks, reject_unauth_destination", &inside, "<victim@elsewhere.test>", ""},
        {"", "permit_mynetworks, reject_unauth_destination", &outsider, "<root@ours.test>", ""},
        // A permit in the relay list ends that list only: the recipient list still runs.
        {"permit", "reject", &inside, "<root@ours.test>", "554 5.7.1 <root@ours.test>: Recipient address rejected: Access denied"},
        {"defer", "", &inside, "<root@ours.test>", "450 4.3.2 <root@ours.test>: Recipient address rejected: Try again later"},
        // Unknown local users are refused after the lists, whatever they permitted.
        {"permit", "permit", &outsider, "<no-such-user-xyz@ours.test>",
         "550 5.1.1 <no-such-user-xyz@ours.test>: Recipient address rejected: User unknown in local recipient table"},
        // The client list's reject names the client.
        {"check_client_access inline:{203.0.113.9=REJECT not you}, reject_unauth_destination", "", &outsider,
         "<root@ours.test>", "554 5.7.1 <unknown[203.0.113.9]>: Client host rejected: not you"},
        {"check_client_access inline:{203.0.113=OK}, reject_unauth_destination", "", &outsider,
         "<victim@elsewhere.test>", ""},
        {"check_client_access inline:{203.0.113=DUNNO}, reject_unauth_destination", "", &outsider,
         "<victim@elsewhere.test>", "554 5.7.1 <victim@elsewhere.test>: Relay access denied"},
    };
    for (const auto& r : rows) {
      Settings s = base_settings();
      auto relay = config::parse_restriction_list(r.relay);
      auto rcpt = config::parse_restriction_list(r.recipient);
      CPPUNIT_ASSERT_MESSAGE(r.relay, relay.ok() && rcpt.ok());
      s.relay_restrictions = *relay;
      s.recipient_restrictions = *rcpt;
      auto p = Policy::create(s);
      CPPUNIT_ASSERT_MESSAGE(r.relay, p.ok());
      smtp::Reply rep = check(*p.value(), *r.c, "sender@example.test", path(r.rcpt));
      CPPUNIT_ASSERT_EQUAL_MESSAGE(std::string(r.relay) + " / " + r.recipient + " / " + r.rcpt + " from " + r.c->ip,
                                   std::string(r.want), rep.empty() ? std::string() : rep.summary());
    }
  }

  void recipient_lists() {
    ClientFacts c{"127.0.0.9"};  // relays: the recipient list decides alone
    c.in_mynetworks = true;
    c.helo = "mx.example.test";
    struct Row {
      const char* recipient;
      const char* from;
      const char* rcpt;
      const char* want;
    } rows[] = {
        {"reject_non_fqdn_recipient", "a@b.test", "<root@ours>", "504 5.5.2 <root@ours>: Recipient address rejected: need fully-qualified address"},
        {"reject_non_fqdn_recipient", "a@b.test", "<root@ours.test>", ""},
        {"reject_non_fqdn_recipient", "a@b.test", "<postmaster>", ""},
        {"check_recipient_access inline:{root@ours.test=REJECT closed}", "a@b.test", "<root@ours.test>",
         "554 5.7.1 <root@ours.test>: Recipient address rejected: closed"},
        {"check_recipient_access inline:{ours.test=450 later}", "a@b.test", "<root@ours.test>",
         "450 4.7.1 <root@ours.test>: Recipient address rejected: later"},
        {"check_recipient_access inline:{root@ours.test=OK}, reject", "a@b.test", "<root@ours.test>", ""},
        {"check_sender_access inline:{b.test=REJECT}", "a@b.test", "<root@ours.test>",
         "554 5.7.1 <a@b.test>: Sender address rejected: Access denied"},
        {"check_sender_access inline:{b.test=REJECT}", "", "<root@ours.test>", ""},
        {"check_helo_access inline:{example.test=DEFER slow down}", "a@b.test", "<root@ours.test>",
         "450 4.7.1 <mx.example.test>: Helo command rejected: slow down"},
        // Explicit, before other checks: the unknown user, not the later reject.
        {"reject_unlisted_recipient, reject", "a@b.test", "<nobody-xyz@ours.test>",
         "550 5.1.1 <nobody-xyz@ours.test>: Recipient address rejected: User unknown in local recipient table"},
        {"reject_unlisted_recipient, reject", "a@b.test", "<bob@valias.test>",
         "554 5.7.1 <bob@valias.test>: Recipient address rejected: Access denied"},
        // Domains of ours need no DNS.
        {"reject_unknown_recipient_domain", "a@b.test", "<root@ours.test>", ""},
    };
    for (const auto& r : rows) {
      Settings s = base_settings();
      s.recipient_restrictions = *config::parse_restriction_list(r.recipient);
      auto p = Policy::create(s);
      CPPUNIT_ASSERT_MESSAGE(r.recipient, p.ok());
      smtp::Reply rep = check(*p.value(), c, r.from, path(r.rcpt));
      CPPUNIT_ASSERT_EQUAL_MESSAGE(std::string(r.recipient) + " / " + r.rcpt, std::string(r.want),
                                   rep.empty() ? std::string() : rep.summary());
    }
    // reject_unauth_pipelining: in the data list, and in the others as Postfix allows.
    {
      Settings d = base_settings();
      d.data_restrictions = *config::parse_restriction_list("reject_unauth_pipelining");
      d.client_restrictions = *config::parse_restriction_list("reject_unauth_pipelining");
      auto p = Policy::create(d);
      ClientFacts talker{"192.0.2.1"};
      std::string from = "a@b.test";
      DnsMemo none;
      CPPUNIT_ASSERT(p.value()->check_restrictions(CheckStage::Data, talker, &from, none).reply.empty());
      CPPUNIT_ASSERT(check(*p.value(), talker, from, path("<root@ours.test>")).empty());
      talker.improper_pipelining = true;
      CPPUNIT_ASSERT_EQUAL(std::string("503 5.5.0 <DATA>: Data command rejected: Improper use of SMTP command pipelining"),
                           p.value()->check_restrictions(CheckStage::Data, talker, &from, none).reply.summary());
      CPPUNIT_ASSERT_EQUAL(std::string("503 5.5.0 <unknown[192.0.2.1]>: Client host rejected: Improper use of SMTP "
                                       "command pipelining"),
                           check(*p.value(), talker, from, path("<root@ours.test>")).summary());
      // The data list runs at DATA only.
      d.client_restrictions.clear();
      auto q = Policy::create(d);
      CPPUNIT_ASSERT(check(*q.value(), talker, from, path("<root@ours.test>")).empty());
    }
    // reject_unknown_recipient_domain asks the DNS (a relaying client, else the relay
    // rule would refuse first), then answers from the memo.
    Settings s = base_settings();
    s.recipient_restrictions = *config::parse_restriction_list("reject_unknown_recipient_domain");
    auto p = Policy::create(s);
    ClientFacts inside{"127.0.0.1"};
    inside.in_mynetworks = true;
    DnsMemo memo;
    smtp::Path to = path("<x@gone.example>");
    CheckResult r = p.value()->check_rcpt(inside, "a@b.test", to, memo);
    CPPUNIT_ASSERT(r.question);
    CPPUNIT_ASSERT_EQUAL(std::string("gone.example"), r.question->name);
    memo.put(*r.question, DnsResult{dns::Outcome::NxDomain, {}, ""});
    r = p.value()->check_rcpt(inside, "a@b.test", to, memo);
    CPPUNIT_ASSERT_EQUAL(std::string("550 5.1.2 <x@gone.example>: Recipient address rejected: Domain not found"),
                         r.reply.summary());
    DnsMemo failing;
    failing.put(DnsQuestion{"gone.example", dns::RrType::MX}, DnsResult{dns::Outcome::TempFail, {}, "timeout"});
    r = p.value()->check_rcpt(inside, "a@b.test", to, failing);
    CPPUNIT_ASSERT_EQUAL(std::string("450 4.1.2 <x@gone.example>: Recipient address rejected: Domain not found"),
                         r.reply.summary());
    // Unknown client names: no PTR (450 by default), a PTR that does not map back, and a
    // lookup that failed for now (always 450).
    {
      Settings h = base_settings();
      h.client_restrictions = *config::parse_restriction_list("reject_unknown_reverse_client_hostname");
      h.unknown_client_code = 550;
      auto hp = Policy::create(h);
      ClientFacts noptr{"192.0.2.9"};
      noptr.name_tempfail = false;
      std::string from = "a@b.test";
      DnsMemo none;
      CPPUNIT_ASSERT_EQUAL(std::string("550 5.7.1 Client host rejected: cannot find your reverse hostname, [192.0.2.9]"),
                           hp.value()->check_restrictions(CheckStage::Rcpt, noptr, &from, none).reply.summary());
      ClientFacts failed{"192.0.2.9"};
      CPPUNIT_ASSERT_EQUAL(std::string("450 4.7.1 Client host rejected: cannot find your reverse hostname, [192.0.2.9]"),
                           hp.value()->check_restrictions(CheckStage::Rcpt, failed, &from, none).reply.summary());
      ClientFacts liar{"192.0.2.9"};
      liar.name_tempfail = false;
      liar.reverse_name = "liar.example";
      CPPUNIT_ASSERT(hp.value()->check_restrictions(CheckStage::Rcpt, liar, &from, none).reply.empty());
      h.client_restrictions = *config::parse_restriction_list("reject_unknown_client_hostname");
      auto hq = Policy::create(h);
      CPPUNIT_ASSERT_EQUAL(std::string("550 5.7.1 Client host rejected: cannot find your hostname, [192.0.2.9]"),
                           hq.value()->check_restrictions(CheckStage::Rcpt, liar, &from, none).reply.summary());
      liar.name = "good.example";
      CPPUNIT_ASSERT(hq.value()->check_restrictions(CheckStage::Rcpt, liar, &from, none).reply.empty());
    }
    // check_policy_service in the recipient list: check_rcpt hands its question up.
    s.recipient_restrictions = *config::parse_restriction_list("check_policy_service inet:127.0.0.1:10023");
    auto pol = Policy::create(s);
    CPPUNIT_ASSERT(pol.ok());
    CheckResult asked = pol.value()->check_rcpt(inside, "a@b.test", path("<root@ours.test>"), memo);
    CPPUNIT_ASSERT(asked.policy && asked.reply.empty());
    memo.put_policy(*asked.policy, "REJECT go away");
    CPPUNIT_ASSERT_EQUAL(std::string("554 5.7.1 <root@ours.test>: Recipient address rejected: go away"),
                         pol.value()->check_rcpt(inside, "a@b.test", path("<root@ours.test>"), memo).reply.summary());
    // A check_*_access table that cannot be opened stops the start.
    s.recipient_restrictions = *config::parse_restriction_list("check_recipient_access hash:/nonexistent/access");
    CPPUNIT_ASSERT(!Policy::create(s).ok());
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(PolicyTest);
