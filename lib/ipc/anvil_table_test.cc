// lib/ipc/anvil_table_test.cc - anvil(8)'s counting: counts per key over links, fixed rate
// windows, a link's sessions ending with it, expiry, event rates (messages, recipients,
// AUTH); and its strict message decoders.
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
  CPPUNIT_TEST(event_rates);
  CPPUNIT_TEST(event_expiry_and_limit);
  CPPUNIT_TEST(event_messages);
  CPPUNIT_TEST(user_events);
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

  void event_rates() {
    AnvilTable t(60000);
    // Each kind has its own window per key; links do not matter (no link is passed):
    // two smtpd processes that count for one client add up.
    struct Row {
      AnvilEvent kind;
      const char* key;
      int64_t now;
      int rate;
    } rows[] = {
        {AnvilEvent::Message, "smtpd 192.0.2.7", 0, 1},
        {AnvilEvent::Message, "smtpd 192.0.2.7", 10, 2},
        {AnvilEvent::Recipient, "smtpd 192.0.2.7", 20, 1},   // another kind
        {AnvilEvent::Auth, "smtpd 192.0.2.7", 20, 1},
        {AnvilEvent::Message, "smtpd 192.0.2.8", 30, 1},     // another client
        {AnvilEvent::Message, "smtps 192.0.2.7", 30, 1},     // another service
        {AnvilEvent::Recipient, "smtpd 192.0.2.7", 59999, 2},
        {AnvilEvent::Message, "smtpd 192.0.2.7", 59999, 3},  // the window opened at 0
        {AnvilEvent::Message, "smtpd 192.0.2.7", 60000, 1},  // ... and ended at 60000
        {AnvilEvent::Recipient, "smtpd 192.0.2.7", 60019, 3},  // its own window: 20 + 60000
        {AnvilEvent::Recipient, "smtpd 192.0.2.7", 60020, 1},
        {AnvilEvent::Auth, "smtpd 192.0.2.7", 500000, 1},
    };
    for (const auto& r : rows)
      CPPUNIT_ASSERT_EQUAL_MESSAGE(std::string(anvil_event_name(r.kind)) + " " + r.key + " " + std::to_string(r.now),
                                   r.rate, t.event(r.kind, r.key, r.now));
    // Events are no sessions, and sessions have their own rate.
    CPPUNIT_ASSERT_EQUAL(0, t.count("smtpd 192.0.2.7"));
    auto c = t.connect(1, "smtpd 192.0.2.7", 500000);
    CPPUNIT_ASSERT_EQUAL(1, c.count);
    CPPUNIT_ASSERT_EQUAL(1, c.rate);
    CPPUNIT_ASSERT_EQUAL(2, t.event(AnvilEvent::Auth, "smtpd 192.0.2.7", 500001));
  }

  void event_expiry_and_limit() {
    AnvilTable t(1000, 2);
    t.event(AnvilEvent::Message, "a", 0);
    t.event(AnvilEvent::Recipient, "b", 0);
    t.event(AnvilEvent::Recipient, "b", 800);  // same window, still from 0
    t.event(AnvilEvent::Auth, "a", 900);       // a's newest window opened at 900
    // Full: a new key is not counted (rate 1 each time, nothing remembered).
    CPPUNIT_ASSERT_EQUAL(1, t.event(AnvilEvent::Message, "c", 950));
    CPPUNIT_ASSERT_EQUAL(1, t.event(AnvilEvent::Message, "c", 960));
    CPPUNIT_ASSERT_EQUAL(size_t(2), t.keys());
    t.expire(1000);  // b's only window ended; a's AUTH window is open until 1900
    CPPUNIT_ASSERT_EQUAL(size_t(1), t.keys());
    CPPUNIT_ASSERT_EQUAL(2, t.event(AnvilEvent::Auth, "a", 1000));
    CPPUNIT_ASSERT_EQUAL(1, t.event(AnvilEvent::Message, "c", 1000));
    CPPUNIT_ASSERT_EQUAL(2, t.event(AnvilEvent::Message, "c", 1001));
    t.expire(1900);
    CPPUNIT_ASSERT_EQUAL(size_t(1), t.keys());  // c's window is open until 2000
    t.expire(2000);
    CPPUNIT_ASSERT_EQUAL(size_t(0), t.keys());
    // A key with an open session stays whatever its event windows.
    t.connect(1, "d", 0);
    t.event(AnvilEvent::Message, "d", 0);
    t.expire(100000);
    CPPUNIT_ASSERT_EQUAL(size_t(1), t.keys());
    t.drop_link(1);
    t.expire(100000);
    CPPUNIT_ASSERT_EQUAL(size_t(0), t.keys());
  }

  // Per-user events: keyed by login over every service, windows of an hour whatever the
  // table's unit, kept through expiry as long as their hour runs.
  void user_events() {
    AnvilTable t(60000);
    CPPUNIT_ASSERT_EQUAL(1, t.event(AnvilEvent::UserMessage, "sasl alice", 0));
    CPPUNIT_ASSERT_EQUAL(2, t.event(AnvilEvent::UserMessage, "sasl alice", 60000));  // past the 60 s unit
    CPPUNIT_ASSERT_EQUAL(1, t.event(AnvilEvent::UserRecipient, "sasl alice", 60000));
    CPPUNIT_ASSERT_EQUAL(1, t.event(AnvilEvent::UserMessage, "sasl bob", 60000));
    t.expire(120000);  // a minute-unit expiry must not forget the hour's count
    CPPUNIT_ASSERT_EQUAL(3, t.event(AnvilEvent::UserMessage, "sasl alice", 3599999));
    CPPUNIT_ASSERT_EQUAL(1, t.event(AnvilEvent::UserMessage, "sasl alice", kUserRateUnitMs));
    t.expire(kUserRateUnitMs + 60000 + kUserRateUnitMs);
    CPPUNIT_ASSERT_EQUAL(size_t(0), t.keys());
    // The requests: service "sasl", a login (no IP address needed, no blanks or controls).
    auto m = anvil_event_request(AnvilEvent::UserMessage, kUserEventService, "alice@example.org");
    CPPUNIT_ASSERT_EQUAL(std::string("user_message"), m.get_or("cmd", ""));
    auto r = parse_anvil_request(m);
    CPPUNIT_ASSERT(r && r->event == AnvilEvent::UserMessage && r->key == "sasl alice@example.org");
    r = parse_anvil_request(anvil_event_request(AnvilEvent::UserRecipient, kUserEventService, "bob"));
    CPPUNIT_ASSERT(r && r->event == AnvilEvent::UserRecipient && r->key == "sasl bob");
    for (const char* bad : {"", "a b", "a\tb", "a\nb"}) {
      ipc::Message b;
      b.set("cmd", "user_message").set("service", "sasl").set("client", bad);
      CPPUNIT_ASSERT(!parse_anvil_request(b));
    }
    ipc::Message b;
    b.set("cmd", "user_recipient").set("service", "sasl").set("client", std::string(kMaxUserName + 1, 'a'));
    CPPUNIT_ASSERT(!parse_anvil_request(b));
    b = ipc::Message();
    b.set("cmd", "user_message").set("service", "smtpd").set("client", "alice");  // only under "sasl"
    CPPUNIT_ASSERT(!parse_anvil_request(b));
  }

  void event_messages() {
    struct Good {
      AnvilEvent kind;
      const char* cmd;
    } good[] = {{AnvilEvent::Message, "message"}, {AnvilEvent::Recipient, "recipient"}, {AnvilEvent::Auth, "auth"}};
    for (const auto& g : good) {
      CPPUNIT_ASSERT_EQUAL(std::string(g.cmd), std::string(anvil_event_name(g.kind)));
      auto m = anvil_event_request(g.kind, "127.0.0.1:25", "192.0.2.7");
      CPPUNIT_ASSERT_EQUAL(std::string(g.cmd), m.get_or("cmd", ""));
      auto r = parse_anvil_request(m);
      CPPUNIT_ASSERT(r && !r->connect && r->event && *r->event == g.kind && r->key == "127.0.0.1:25 192.0.2.7");
    }
    // connect and disconnect carry no event.
    auto c = parse_anvil_request(anvil_request(true, "smtpd", "192.0.2.7"));
    CPPUNIT_ASSERT(c && !c->event);
    struct Bad {
      const char* cmd;
      const char* service;
      const char* client;
    } bad[] = {{"messages", "smtpd", "192.0.2.7"},   {"MESSAGE", "smtpd", "192.0.2.7"},
               {"rcpt", "smtpd", "192.0.2.7"},       {"auth ", "smtpd", "192.0.2.7"},
               {"message", "", "192.0.2.7"},         {"recipient", "a\tb", "192.0.2.7"},
               {"recipient", "smtpd", ""},           {"auth", "smtpd", "192.0.2.256"},
               {"auth", "smtpd", "host.example"},    {"message", "smtpd", "[192.0.2.7]"}};
    for (const auto& b : bad) {
      ipc::Message m;
      m.set("cmd", b.cmd).set("service", b.service).set("client", b.client);
      auto r = parse_anvil_request(m);
      CPPUNIT_ASSERT_MESSAGE(std::string(b.cmd) + "/" + b.service + "/" + b.client, !r);
      CPPUNIT_ASSERT(!r.error().empty());
    }
    ipc::Message no_client;
    no_client.set("cmd", "message").set("service", "smtpd");
    CPPUNIT_ASSERT(!parse_anvil_request(no_client));
    // Replies.
    auto r = parse_anvil_event_reply(anvil_event_reply(12));
    CPPUNIT_ASSERT(r && *r == 12);
    ipc::Message bad_replies[4];
    bad_replies[0].set("rate", int64_t(3));                                  // no status
    bad_replies[1].set("status", "ok").set("rate", int64_t(0));              // below 1
    bad_replies[2].set("status", "ok").set("rate", "lots");                  // no number
    bad_replies[3].set("status", "ok").set("rate", int64_t(0x80000000LL));  // past int
    for (const auto& m : bad_replies) CPPUNIT_ASSERT(!parse_anvil_event_reply(m));
    // A connect reply is no event reply's twin, and the other way round.
    CPPUNIT_ASSERT(!parse_anvil_reply(anvil_event_reply(3)));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(AnvilTest);
