// lib/queue/delivery_log_test.cc - the delivery outcome line: Postfix's delay notation,
// the split of the delay, and peer text that must not forge or break a log line.
#include "lib/queue/delivery_log.h"

#include <cppunit/extensions/HelperMacros.h>

namespace postilion::queue {

class DeliveryLogTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(DeliveryLogTest);
  CPPUNIT_TEST(delay_notation);
  CPPUNIT_TEST(delay_split);
  CPPUNIT_TEST(lines);
  CPPUNIT_TEST_SUITE_END();

  static constexpr int64_t kT0 = 1700000000000000;  // an arrival, in microseconds

 public:
  void delay_notation() {
    struct Row {
      int64_t us;
      const char* out;
    } rows[] = {
        {0, "0"},
        {4999, "0"},               // below the resolution of 0.01 s
        {5000, "0.01"},            // rounded half up
        {10000, "0.01"},
        {100000, "0.1"},           // no trailing zero
        {120000, "0.12"},
        {123456, "0.12"},
        {125000, "0.13"},
        {994999, "0.99"},
        {995000, "1"},             // rounds up into whole seconds
        {1000000, "1"},
        {1049999, "1"},
        {1050000, "1.1"},
        {1200000, "1.2"},          // two significant digits
        {1250000, "1.3"},
        {9940000, "9.9"},
        {9950000, "10"},
        {12000000, "12"},          // whole seconds from 10 s on
        {12499999, "12"},
        {12500000, "13"},
        {99500000, "100"},
        {3601000000, "3601"},
        {int64_t(86400) * 365 * 1000000, "31536000"},
        {-1, "0"},                 // a clock that went back
        {INT64_MIN, "0"},
        {INT64_MAX, "9223372036855"},
    };
    for (const auto& r : rows)
      CPPUNIT_ASSERT_EQUAL_MESSAGE(std::to_string(r.us), std::string(r.out), format_delay(r.us));
  }

  void delay_split() {
    struct Row {
      const char* what;
      DeliveryTimes t;
      int64_t now;
      Delays want;
    } rows[] = {
        {"agent with a session", {kT0, kT0 + 10, kT0 + 30, kT0 + 60, kT0 + 100}, 0, {100, 10, 20, 30, 40}},
        {"agent without a session", {kT0, kT0 + 10, kT0 + 30, 0, kT0 + 100}, 0, {100, 10, 20, 0, 70}},
        {"qmgr alone", {kT0, kT0 + 10, 0, 0, 0}, kT0 + 100, {100, 10, 90, 0, 0}},
        {"before qmgr", {kT0, 0, 0, 0, 0}, kT0 + 100, {100, 100, 0, 0, 0}},
        {"done stamped wins over now", {kT0, kT0, kT0, 0, kT0 + 5}, kT0 + 1000, {5, 0, 0, 0, 5}},
        {"clock went back", {kT0, kT0 - 50, kT0 + 30, kT0 + 10, kT0 + 20}, 0, {20, 0, 80, 0, 10}},
        {"arrival in the future", {kT0 + 500, kT0, kT0, 0, kT0 + 100}, 0, {0, 0, 0, 0, 100}},
    };
    for (const auto& r : rows) {
      Delays d = delays_of(r.t, r.now);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.what, r.want.total_us, d.total_us);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.what, r.want.before_active_us, d.before_active_us);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.what, r.want.in_active_us, d.in_active_us);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.what, r.want.setup_us, d.setup_us);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.what, r.want.transmit_us, d.transmit_us);
    }
  }

  void lines() {
    DeliveryTimes smtp{kT0, kT0 + 10000, kT0 + 10000, kT0 + 1210000, kT0 + 1260000};
    DeliveryTimes local{kT0, kT0 + 120000, kT0 + 120000, 0, kT0 + 123000};
    std::string long_reason(2000, 'r');
    struct Row {
      const char* what;
      DeliveryEvent e;
      const char* line;
    } rows[] = {
        {"smtp",
         {"4F3A2B1C9D", "a@b.test", "", "mx.b.test[127.0.3.1]:25", "2.0.0", "sent", "250 2.0.0 Ok: queued as X", smtp},
         "4F3A2B1C9D: to=<a@b.test>, relay=mx.b.test[127.0.3.1]:25, delay=1.3, delays=0.01/0/1.2/0.05, dsn=2.0.0, "
         "status=sent (250 2.0.0 Ok: queued as X)"},
        {"local, orig_to",
         {"4F3A2B1C9D", "bob@example.org", "info@alias.test", "local", "2.0.0", "sent", "delivered to maildir", local},
         "4F3A2B1C9D: to=<bob@example.org>, orig_to=<info@alias.test>, relay=local, delay=0.12, delays=0.12/0/0/0, "
         "dsn=2.0.0, status=sent (delivered to maildir)"},
        {"orig_to equal to the recipient is not shown",
         {"ID", "a@b", "a@b", "virtual", "5.1.1", "bounced", "user unknown", local},
         "ID: to=<a@b>, relay=virtual, delay=0.12, delays=0.12/0/0/0, dsn=5.1.1, status=bounced (user unknown)"},
        {"qmgr, no agent",
         {"ID", "x@y", "", "none", "4.4.7", "expired", "message delivery time expired", {kT0, kT0 + 3000000, 0, 0, kT0 + 15000000}},
         "ID: to=<x@y>, relay=none, delay=15, delays=3/12/0/0, dsn=4.4.7, status=expired (message delivery time expired)"},
        {"hostile reason: a forged second line and terminal escapes",
         {"ID", "a@b", "", "h[1.2.3.4]:25", "4.0.0", "deferred",
          "451 x\r\nID: to=<a@b>, status=sent (ok)\x1b[2J\x07\\", local},
         "ID: to=<a@b>, relay=h[1.2.3.4]:25, delay=0.12, delays=0.12/0/0/0, dsn=4.0.0, status=deferred "
         "(451 x\\015\\012ID: to=<a@b>, status=sent (ok)\\033[2J\\007\\134)"},
        {"hostile addresses, relay and dsn",
         {"ID", std::string_view("a\0b\n@c", 6), "\xc3\xa9t\xc3\xa9@x", "mx\r[1.2.3.4]", "5.1.1\n", "bounced", "no", local},
         "ID: to=<a\\000b\\012@c>, orig_to=<\\303\\251t\\303\\251@x>, relay=mx\\015[1.2.3.4], delay=0.12, "
         "delays=0.12/0/0/0, dsn=5.1.1\\012, status=bounced (no)"},
    };
    for (const auto& r : rows) CPPUNIT_ASSERT_EQUAL_MESSAGE(r.what, std::string(r.line), delivery_line(r.e, 0));
    // A reason of any length ends the line within a bound, cut visibly.
    DeliveryEvent e{"ID", "a@b", "", "none", "4.0.0", "deferred", long_reason, local};
    std::string line = delivery_line(e, 0);
    CPPUNIT_ASSERT(line.size() < 700);
    CPPUNIT_ASSERT(line.find("rrr...)") != std::string::npos);
    // Nothing in a line is a control character, whatever it was given.
    std::string all;
    for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
    DeliveryEvent every{all, all, all, all, all, all, all, local};
    for (unsigned char c : delivery_line(every, 0)) CPPUNIT_ASSERT(c >= 0x20 && c < 0x7f);
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(DeliveryLogTest);

}  // namespace postilion::queue
