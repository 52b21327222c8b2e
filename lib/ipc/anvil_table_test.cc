// lib/ipc/anvil_table_test.cc - anvil(8)'s counting: counts per key over links, fixed rate
// windows, a link's sessions ending with it, expiry; and its strict message decoders.
#include "lib/ipc/anvil_table.h"

#include <cppunit/extensions/HelperMacros.h>

using namespace postilion;
using namespace postilion::ipc;

class AnvilTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(AnvilTest);
  CPPUNIT_TEST(counts_over_links);
  CPPUNIT_TEST(rate_windows);
  CPPUNIT_TEST(dropped_link);
  CPPUNIT_TEST(expiry);
  CPPUNIT_TEST(table_limit);
  CPPUNIT_TEST(messages);
  CPPUNIT_TEST_SUITE_END();

 public:
  void counts_over_links() {
    AnvilTable t(60000);
    // Two smtpd processes (links 1 and 2), one client: the count is their sum.
    CPPUNIT_ASSERT_EQUAL(1, t.connect(1, "smtpd:192.0.2.7", 0).count);
    CPPUNIT_ASSERT_EQUAL(2, t.connect(2, "smtpd:192.0.2.7", 0).count);
    CPPUNIT_ASSERT_EQUAL(3, t.connect(1, "smtpd:192.0.2.7", 0).count);
    CPPUNIT_ASSERT_EQUAL(1, t.connect(1, "smtpd:192.0.2.8", 0).count);  // another client
    CPPUNIT_ASSERT_EQUAL(1, t.connect(1, "submission:192.0.2.7", 0).count);  // another service
    t.disconnect(2, "smtpd:192.0.2.7");
    CPPUNIT_ASSERT_EQUAL(2, t.count("smtpd:192.0.2.7"));
    // A disconnect for a session this link never counted changes nothing.
    t.disconnect(2, "smtpd:192.0.2.7");
    t.disconnect(3, "smtpd:192.0.2.7");
    t.disconnect(2, "smtpd:192.0.2.99");
    CPPUNIT_ASSERT_EQUAL(2, t.count("smtpd:192.0.2.7"));
    t.disconnect(1, "smtpd:192.0.2.7");
    t.disconnect(1, "smtpd:192.0.2.7");
    CPPUNIT_ASSERT_EQUAL(0, t.count("smtpd:192.0.2.7"));
    t.disconnect(1, "smtpd:192.0.2.7");
    CPPUNIT_ASSERT_EQUAL(0, t.count("smtpd:192.0.2.7"));
  }

  void rate_windows() {
    AnvilTable t(60000);
    struct Row {
      int64_t now;
      int rate;
    } rows[] = {{0, 1}, {1000, 2}, {59999, 3}, {60000, 1}, {60001, 2}, {200000, 1}};
    for (const auto& r : rows) {
      auto c = t.connect(1, "k", r.now);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(std::to_string(r.now), r.rate, c.rate);
      t.disconnect(1, "k");  // the rate counts connections, not sessions still open
    }
  }

  void dropped_link() {
    AnvilTable t(60000);
    for (int i = 0; i < 5; ++i) t.connect(1, "k", 0);
    for (int i = 0; i < 3; ++i) t.connect(2, "k", 0);
    CPPUNIT_ASSERT_EQUAL(8, t.count("k"));
    t.drop_link(1);  // that smtpd process exited or crashed
    CPPUNIT_ASSERT_EQUAL(3, t.count("k"));
    t.disconnect(1, "k");  // late word from the dead link: ignored
    CPPUNIT_ASSERT_EQUAL(3, t.count("k"));
    t.drop_link(2);
    t.drop_link(2);
    CPPUNIT_ASSERT_EQUAL(0, t.count("k"));
  }

  void expiry() {
    AnvilTable t(1000);
    t.connect(1, "busy", 0);
    t.connect(1, "gone", 0);
    t.disconnect(1, "gone");
    t.expire(500);
    CPPUNIT_ASSERT_EQUAL(size_t(2), t.keys());  // the window of "gone" is still open
    t.expire(1000);
    CPPUNIT_ASSERT_EQUAL(size_t(1), t.keys());  // "busy" has a session
    CPPUNIT_ASSERT_EQUAL(1, t.count("busy"));
  }

  void table_limit() {
    AnvilTable t(1000, 3);
    for (int i = 0; i < 3; ++i) CPPUNIT_ASSERT(t.connect(1, "k" + std::to_string(i), 0).tracked);
    t.disconnect(1, "k0");
    // Full: a known key is still counted, a new one is not (and not remembered).
    auto known = t.connect(2, "k1", 10);
    CPPUNIT_ASSERT(known.tracked && known.count == 2 && known.rate == 2);
    auto fresh = t.connect(1, "new", 10);
    CPPUNIT_ASSERT(!fresh.tracked);
    CPPUNIT_ASSERT_EQUAL(1, fresh.count);
    CPPUNIT_ASSERT_EQUAL(1, fresh.rate);
    CPPUNIT_ASSERT_EQUAL(size_t(3), t.keys());
    CPPUNIT_ASSERT_EQUAL(0, t.count("new"));
    t.disconnect(1, "new");  // its end changes nothing
    CPPUNIT_ASSERT_EQUAL(size_t(3), t.keys());
    // A flood of new keys never grows the table, whatever the time.
    for (int i = 0; i < 1000; ++i) t.connect(3, "flood" + std::to_string(i), 10 + i);
    CPPUNIT_ASSERT(t.keys() <= 3);
    CPPUNIT_ASSERT_EQUAL(2, t.count("k1"));
    // k0 is idle and its window ended: a new key takes its place.
    auto later = t.connect(1, "later", 5000);
    CPPUNIT_ASSERT(later.tracked);
    CPPUNIT_ASSERT_EQUAL(1, t.count("later"));
    CPPUNIT_ASSERT_EQUAL(0, t.count("k0"));
    CPPUNIT_ASSERT(t.keys() <= 3);
  }

  void messages() {
    auto c = parse_anvil_request(anvil_request(true, "smtpd", "192.0.2.7"));
    CPPUNIT_ASSERT(c && c->connect && c->key == "smtpd 192.0.2.7");
    auto d = parse_anvil_request(anvil_request(false, "smtpd", "2001:db8::1"));
    CPPUNIT_ASSERT(d && !d->connect && d->key == "smtpd 2001:db8::1");
    // Service names with ":" (inet services are named ADDR:PORT) cannot collide.
    auto e1 = parse_anvil_request(anvil_request(true, "s:1", "2::3"));
    auto e2 = parse_anvil_request(anvil_request(true, "s", "1:2::3"));
    CPPUNIT_ASSERT(e1 && e2 && e1->key != e2->key);
    struct Bad {
      const char* cmd;
      const char* service;
      const char* client;
    } bad[] = {{"", "smtpd", "192.0.2.7"},     {"count", "smtpd", "192.0.2.7"},
               {"connect", "", "192.0.2.7"},   {"connect", "a b", "192.0.2.7"},
               {"connect", "smtpd", ""},       {"connect", "smtpd", "192.0.2.777"},
               {"connect", "smtpd", "example.org"}, {"connect", "smtpd", "1.2.3.4\n"}};
    for (const auto& b : bad) {
      ipc::Message m;
      m.set("cmd", b.cmd).set("service", b.service).set("client", b.client);
      CPPUNIT_ASSERT_MESSAGE(std::string(b.cmd) + "/" + b.service + "/" + b.client, !parse_anvil_request(m));
    }
    auto r = parse_anvil_reply(anvil_reply(AnvilTable::Counts{3, 7}));
    CPPUNIT_ASSERT(r && r->count == 3 && r->rate == 7);
    ipc::Message no_status;
    no_status.set("count", int64_t(1)).set("rate", int64_t(1));
    CPPUNIT_ASSERT(!parse_anvil_reply(no_status));
    ipc::Message zero;
    zero.set("status", "ok").set("count", int64_t(0)).set("rate", int64_t(1));
    CPPUNIT_ASSERT(!parse_anvil_reply(zero));
    ipc::Message text;
    text.set("status", "ok").set("count", "many").set("rate", int64_t(1));
    CPPUNIT_ASSERT(!parse_anvil_reply(text));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(AnvilTest);
