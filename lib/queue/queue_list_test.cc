// lib/queue/queue_list_test.cc - mailq layout (Postfix columns) and JSON escaping.
#include "lib/queue/queue_list.h"

#include <cppunit/extensions/HelperMacros.h>

#include <cstdlib>

using namespace postilion;

class QueueListTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(QueueListTest);
  CPPUNIT_TEST(mailq_layout);
  CPPUNIT_TEST(json_lines);
  CPPUNIT_TEST_SUITE_END();

 public:
  void setUp() override {
    setenv("TZ", "UTC", 1);
    tzset();
  }

  void mailq_layout() {
    CPPUNIT_ASSERT_EQUAL(std::string("Mail queue is empty\n"), queue::format_mailq({}));
    queue::QueueEntry a{"1C92E7D564", "deferred", 4357, 1795924877, "root@example.org",
                       {{"bob@remote.test", "connect to remote.test[127.0.0.9]:25: Connection refused"},
                        {"carol@remote.test", "connect to remote.test[127.0.0.9]:25: Connection refused"}}};
    queue::QueueEntry b{"36BF87D65A", "active", 100, 1795924877, "", {{"x@y", ""}}};
    std::string out = queue::format_mailq({a, b});
    std::string want =
        "-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------\n"
        "1C92E7D564     4357 Sun Nov 29 04:01:17  root@example.org\n"
        "(connect to remote.test[127.0.0.9]:25: Connection refused)\n"
        "                                         bob@remote.test\n"
        "                                         carol@remote.test\n"
        "\n"
        "36BF87D65A*     100 Sun Nov 29 04:01:17  MAILER-DAEMON\n"
        "                                         x@y\n"
        "\n"
        "-- 6 Kbytes in 2 Requests.\n";
    CPPUNIT_ASSERT_EQUAL(want, out);
    b.queue = "hold";
    b.recipients[0].reason = "evil\r\nInjected";
    std::string held = queue::format_mailq({b});
    CPPUNIT_ASSERT(held.find("36BF87D65A!") != std::string::npos);
    CPPUNIT_ASSERT(held.find("(evil\\015\\012Injected)") != std::string::npos);
    CPPUNIT_ASSERT(held.find("in 1 Request.") != std::string::npos);
  }

  void json_lines() {
    queue::QueueEntry e{"ABC", "deferred", 10, 5, "a\"b@c", {{"x@y", "no\nway"}, {"z@w", ""}}};
    CPPUNIT_ASSERT_EQUAL(std::string("{\"queue_name\":\"deferred\",\"queue_id\":\"ABC\",\"arrival_time\":5,"
                                     "\"message_size\":10,\"sender\":\"a\\\"b@c\",\"recipients\":["
                                     "{\"address\":\"x@y\",\"delay_reason\":\"no\\u000away\"},{\"address\":\"z@w\"}]}"),
                         queue::format_json(e));
    CPPUNIT_ASSERT_EQUAL(std::string("\"\\u00ff\\\\\""), queue::json_string("\xff\\"));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(QueueListTest);
