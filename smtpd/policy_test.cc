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
      smtp::Reply rep = p.value()->check_rcpt(*r.c, "sender@example.test", path(r.rcpt));
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
      smtp::Reply rep = p.value()->check_rcpt(c, r.from, path(r.rcpt));
      CPPUNIT_ASSERT_EQUAL_MESSAGE(std::string(r.ip) + " " + r.from + " " + r.rcpt + ": " + rep.summary(),
                                   r.code, rep.code);
    }
    ClientFacts c{"203.0.113.5"};
    smtp::Reply rep = p.value()->check_rcpt(c, "", path("<root@ours.test>"));
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
};

CPPUNIT_TEST_SUITE_REGISTRATION(PolicyTest);
