// lib/queue/delivery_reply_test.cc - the agents' reply: what the builder writes the
// parser reads back, and the parser refuses malformed and hostile replies as a whole.
#include "lib/queue/delivery_reply.h"

#include <cppunit/extensions/HelperMacros.h>

namespace postilion::queue {

class DeliveryReplyTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(DeliveryReplyTest);
  CPPUNIT_TEST(parsing);
  CPPUNIT_TEST(refused_replies);
  CPPUNIT_TEST(builder_round_trip);
  CPPUNIT_TEST(names);
  CPPUNIT_TEST_SUITE_END();

 public:
  void parsing() {
    ipc::Message ok;
    ok.set("status", "ok").set("rcpt", "a@b").set("result", "sent").set("dsn", "2.0.0").set("text", "x").set("relay", "local");
    ok.set("rcpt", "c@d").set("result", "defer").set("dsn", "4.2.0").set("text", "y").set("relay", "local");
    auto r = parse_delivery_reply(ok);
    CPPUNIT_ASSERT(r.ok);
    CPPUNIT_ASSERT_EQUAL(size_t(2), r.rcpts.size());
    CPPUNIT_ASSERT_EQUAL(std::string("defer"), r.rcpts[1].result);
    CPPUNIT_ASSERT_EQUAL(std::string("4.2.0"), r.rcpts[1].dsn);
    CPPUNIT_ASSERT_EQUAL(std::string("y"), r.rcpts[1].text);
    CPPUNIT_ASSERT_EQUAL(std::string("local"), r.rcpts[1].relay);
    CPPUNIT_ASSERT(!r.rcpts[0].logged && !r.rcpts[1].logged);
    // logged=yes (before the first rcpt): the agent wrote the outcome lines itself.
    ipc::Message self_logged;
    self_logged.set("status", "ok").set("logged", "yes").set("rcpt", "a@b").set("result", "sent");
    self_logged.set("rcpt", "c@d").set("result", "bounce");
    auto sl = parse_delivery_reply(self_logged);
    CPPUNIT_ASSERT(sl.ok && sl.rcpts.size() == 2 && sl.rcpts[0].logged && sl.rcpts[1].logged);
    // logged= after a recipient is that recipient's (unknown) attribute, not the reply's.
    ipc::Message late;
    late.set("status", "ok").set("rcpt", "a@b").set("result", "sent").set("logged", "yes");
    auto lt = parse_delivery_reply(late);
    CPPUNIT_ASSERT(lt.ok && !lt.rcpts[0].logged);
    // Expanded destinations follow their recipient; a dsn or text without one is ignored.
    ipc::Message x;
    x.set("status", "ok").set("rcpt", "team@b").set("result", "sent").set("expanded_dsn", "5.9.9");
    x.set("expanded", "ghost@b").set("expanded_dsn", "5.1.1").set("expanded_text", "unknown user");
    x.set("expanded", "|cmd").set("rcpt", "next@b").set("result", "defer").set("future", "ignored");
    auto xr = parse_delivery_reply(x);
    CPPUNIT_ASSERT(xr.ok);
    CPPUNIT_ASSERT_EQUAL(size_t(2), xr.rcpts[0].expanded.size());
    CPPUNIT_ASSERT_EQUAL(std::string("ghost@b"), xr.rcpts[0].expanded[0].address);
    CPPUNIT_ASSERT_EQUAL(std::string("5.1.1"), xr.rcpts[0].expanded[0].dsn);
    CPPUNIT_ASSERT_EQUAL(std::string("unknown user"), xr.rcpts[0].expanded[0].text);
    CPPUNIT_ASSERT_EQUAL(std::string(""), xr.rcpts[0].expanded[1].dsn);
    CPPUNIT_ASSERT(xr.rcpts[1].expanded.empty());
    // No recipient at all is a well-formed reply with nothing in it.
    ipc::Message bare;
    bare.set("status", "ok");
    auto b = parse_delivery_reply(bare);
    CPPUNIT_ASSERT(b.ok && b.rcpts.empty());
  }

  void refused_replies() {
    struct Row {
      const char* what;
      ipc::Message m;
      const char* error;
    };
    auto msg = [](std::initializer_list<std::pair<const char*, std::string>> attrs) {
      ipc::Message m;
      for (const auto& [n, v] : attrs) m.set(n, v);
      return m;
    };
    Row rows[] = {
        {"empty", ipc::Message(), "agent reply without status"},
        {"no status", msg({{"rcpt", "a@b"}, {"result", "sent"}}), "agent reply without status"},
        {"error", msg({{"status", "error"}, {"text", "bad request"}}), "agent refused the request: bad request"},
        {"hostile error", msg({{"status", "error"}, {"text", "bad\r\n\x07" + std::string(1000, 'x')}}), nullptr},
        {"error without text", msg({{"status", "error"}}), "agent refused the request: no reason given"},
        {"other status", msg({{"status", "OK"}, {"rcpt", "a@b"}, {"result", "sent"}}),
         "agent refused the request: no reason given"},
        {"bad result", msg({{"status", "ok"}, {"rcpt", "a@b"}, {"result", "maybe"}}), "agent reply with bad result \"maybe\""},
        {"no result", msg({{"status", "ok"}, {"rcpt", "a@b"}}), "agent reply with bad result \"\""},
        {"hostile result", msg({{"status", "ok"}, {"rcpt", "a@b"}, {"result", "sent\r\nX: y\x1b[0m"}}),
         "agent reply with bad result \"sent\\015\\012X: y\\033[0m\""},
        {"long result", msg({{"status", "ok"}, {"rcpt", "a@b"}, {"result", std::string(100000, 'x')}}),
         nullptr},
        {"one bad among good", msg({{"status", "ok"}, {"rcpt", "a@b"}, {"result", "sent"}, {"rcpt", "c@d"}, {"result", "Sent"}}),
         "agent reply with bad result \"Sent\""},
        {"expansion of a deferral", msg({{"status", "ok"}, {"rcpt", "team@b"}, {"result", "defer"}, {"expanded", "x@b"}}),
         "agent reply with expanded destinations of an undelivered recipient"},
        {"expansion of a bounce", msg({{"status", "ok"}, {"rcpt", "team@b"}, {"result", "bounce"}, {"expanded", "x@b"}}),
         "agent reply with expanded destinations of an undelivered recipient"},
    };
    for (const auto& row : rows) {
      auto r = parse_delivery_reply(row.m);
      CPPUNIT_ASSERT_MESSAGE(row.what, !r.ok);
      CPPUNIT_ASSERT_MESSAGE(row.what, r.rcpts.empty());
      CPPUNIT_ASSERT_MESSAGE(row.what, !r.error.empty());
      if (row.error) CPPUNIT_ASSERT_EQUAL_MESSAGE(row.what, std::string(row.error), r.error);
      CPPUNIT_ASSERT_MESSAGE(row.what, r.error.size() < 400);  // a bounded, printable reason
      for (unsigned char c : r.error) CPPUNIT_ASSERT_MESSAGE(row.what, c >= 0x20 && c < 0x7f);
    }
  }

  void builder_round_trip() {
    DeliveryReplyBuilder b(true);
    b.add("a@b", Fate::Sent, "2.0.0", "delivered to maildir", "local");
    b.add_expanded({"ghost@b", "5.1.1", "unknown user: \"ghost\""});
    b.add("c\r\n@d", Fate::Deferred, "4.4.1", std::string("conn\0refused", 12), "mx[127.0.0.1]:25");
    b.add("e@f", Fate::Bounced, "5.1.1", "no such user", "none");
    const auto& a = b.message().attrs();
    // The protocol's order: status, logged, then a group per recipient.
    CPPUNIT_ASSERT_EQUAL(std::string("status"), a[0].first);
    CPPUNIT_ASSERT_EQUAL(std::string("logged"), a[1].first);
    CPPUNIT_ASSERT_EQUAL(std::string("rcpt"), a[2].first);
    auto r = parse_delivery_reply(b.message());
    CPPUNIT_ASSERT_MESSAGE(r.error, r.ok);
    CPPUNIT_ASSERT_EQUAL(size_t(3), r.rcpts.size());
    CPPUNIT_ASSERT(r.rcpts[0].logged && r.rcpts[2].logged);
    CPPUNIT_ASSERT_EQUAL(std::string("sent"), r.rcpts[0].result);
    CPPUNIT_ASSERT_EQUAL(size_t(1), r.rcpts[0].expanded.size());
    CPPUNIT_ASSERT_EQUAL(std::string("unknown user: \"ghost\""), r.rcpts[0].expanded[0].text);
    CPPUNIT_ASSERT_EQUAL(std::string("c\r\n@d"), r.rcpts[1].rcpt);
    CPPUNIT_ASSERT_EQUAL(std::string("defer"), r.rcpts[1].result);
    CPPUNIT_ASSERT_EQUAL(std::string("conn\0refused", 12), r.rcpts[1].text);
    CPPUNIT_ASSERT_EQUAL(std::string("mx[127.0.0.1]:25"), r.rcpts[1].relay);
    CPPUNIT_ASSERT_EQUAL(std::string("bounce"), r.rcpts[2].result);
    CPPUNIT_ASSERT(r.rcpts[2].expanded.empty());
    // Without logged=yes, qmgr logs the outcomes.
    DeliveryReplyBuilder quiet(false);
    quiet.add("a@b", Fate::Sent, "2.0.0", "ok", "local");
    CPPUNIT_ASSERT(!quiet.message().has("logged"));
    CPPUNIT_ASSERT(!parse_delivery_reply(quiet.message()).rcpts[0].logged);
    // The error reply is a refusal with its reason.
    auto e = parse_delivery_reply(delivery_error_reply("sender does not match the queue file"));
    CPPUNIT_ASSERT(!e.ok);
    CPPUNIT_ASSERT_EQUAL(std::string("agent refused the request: sender does not match the queue file"), e.error);
  }

  void names() {
    CPPUNIT_ASSERT_EQUAL(std::string("sent"), std::string(reply_result(Fate::Sent)));
    CPPUNIT_ASSERT_EQUAL(std::string("bounce"), std::string(reply_result(Fate::Bounced)));
    CPPUNIT_ASSERT_EQUAL(std::string("defer"), std::string(reply_result(Fate::Deferred)));
    CPPUNIT_ASSERT_EQUAL(std::string("sent"), std::string(log_status(Fate::Sent)));
    CPPUNIT_ASSERT_EQUAL(std::string("bounced"), std::string(log_status(Fate::Bounced)));
    CPPUNIT_ASSERT_EQUAL(std::string("deferred"), std::string(log_status(Fate::Deferred)));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(DeliveryReplyTest);

}  // namespace postilion::queue
