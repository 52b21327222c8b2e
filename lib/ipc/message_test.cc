// lib/ipc/message_test.cc - round trips, and garbage frames rejected cleanly.
#include "lib/ipc/message.h"

#include <cppunit/extensions/HelperMacros.h>

using namespace postilion;

namespace {
std::string u32(uint32_t v) {
  return {char(v >> 24), char((v >> 16) & 0xff), char((v >> 8) & 0xff), char(v & 0xff)};
}
std::string attr(const std::string& n, const std::string& v) {
  return std::string{char(n.size() >> 8), char(n.size() & 0xff)} + n + u32(uint32_t(v.size())) + v;
}
}  // namespace

class MessageTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(MessageTest);
  CPPUNIT_TEST(round_trip);
  CPPUNIT_TEST(byte_at_a_time);
  CPPUNIT_TEST(garbage_bodies);
  CPPUNIT_TEST(oversized_frame);
  CPPUNIT_TEST(every_truncation_needs_more);
  CPPUNIT_TEST_SUITE_END();

 public:
  void round_trip() {
    ipc::Message m;
    m.set("cmd", "deliver").set("size", int64_t(2048)).set("rcpt", "a@b").set("rcpt", "c@d");
    m.set("bin", std::string("\0\r\n\xff", 4));
    ipc::Decoder d;
    d.feed(m.encode());
    ipc::Message out;
    std::string why;
    CPPUNIT_ASSERT(d.next(&out, &why) == ipc::Decoder::Status::Ready);
    CPPUNIT_ASSERT_EQUAL(std::string("deliver"), std::string(*out.get("cmd")));
    CPPUNIT_ASSERT_EQUAL(int64_t(2048), *out.get_int("size"));
    CPPUNIT_ASSERT_EQUAL(size_t(2), out.get_all("rcpt").size());
    CPPUNIT_ASSERT_EQUAL(std::string("c@d"), std::string(out.get_all("rcpt")[1]));
    CPPUNIT_ASSERT_EQUAL(std::string("\0\r\n\xff", 4), std::string(*out.get("bin")));
    CPPUNIT_ASSERT(!out.get("missing"));
    CPPUNIT_ASSERT(!out.get_int("cmd"));
    CPPUNIT_ASSERT_EQUAL(std::string("x"), out.get_or("missing", "x"));
    CPPUNIT_ASSERT(d.next(&out, &why) == ipc::Decoder::Status::NeedMore);
    out.replace("cmd", "status");
    CPPUNIT_ASSERT_EQUAL(std::string("status"), std::string(*out.get("cmd")));
  }

  void byte_at_a_time() {
    ipc::Message a, b;
    a.set("cmd", "status");
    b.set("status", "ok").set("text", "all fine");
    std::string wire = a.encode() + b.encode();
    ipc::Decoder d;
    std::vector<ipc::Message> got;
    for (char c : wire) {
      d.feed(std::string_view(&c, 1));
      ipc::Message m;
      std::string why;
      while (d.next(&m, &why) == ipc::Decoder::Status::Ready) got.push_back(m);
    }
    CPPUNIT_ASSERT_EQUAL(size_t(2), got.size());
    CPPUNIT_ASSERT_EQUAL(std::string("all fine"), std::string(*got[1].get("text")));
  }

  void garbage_bodies() {
    struct Row { std::string body; const char* why; } rows[] = {
        {std::string("\x00", 1), "truncated name length"},
        {std::string("\x00\x05", 2) + "ab", "truncated name"},
        {std::string("\x00\x00", 2) + u32(0), "bad attribute name"},
        {std::string("\x00\x03", 2) + "A!b" + u32(0), "bad attribute name"},
        {std::string("\x00\x03", 2) + "cmd" + "\x00\x00", "truncated value length"},
        {std::string("\x00\x03", 2) + "cmd" + u32(100) + "short", "truncated value"},
        {attr("ok", "1") + std::string("\xff\xff", 2), "truncated name"},
    };
    for (auto& r : rows) {
      std::string why;
      ipc::Decoder d;
      d.feed(u32(uint32_t(r.body.size())) + r.body);
      ipc::Message m;
      CPPUNIT_ASSERT(d.next(&m, &why) == ipc::Decoder::Status::Error);
      CPPUNIT_ASSERT_MESSAGE(why, why.find(r.why) != std::string::npos);
      // Once failed, the stream stays failed even if good data follows.
      d.feed(ipc::Message().set("a", "b").encode());
      CPPUNIT_ASSERT(d.next(&m, &why) == ipc::Decoder::Status::Error);
    }
  }

  void oversized_frame() {
    ipc::Decoder d(1024);
    d.feed(u32(1025));
    ipc::Message m;
    std::string why;
    CPPUNIT_ASSERT(d.next(&m, &why) == ipc::Decoder::Status::Error);
    CPPUNIT_ASSERT(why.find("exceeds limit") != std::string::npos);
    ipc::Decoder big;
    big.feed(u32(0xffffffffu));
    CPPUNIT_ASSERT(big.next(&m, &why) == ipc::Decoder::Status::Error);
  }

  void every_truncation_needs_more() {
    std::string good = ipc::Message().set("cmd", "wakeup").set("id", "ABC").encode();
    for (size_t n = 0; n < good.size(); ++n) {
      ipc::Decoder d;
      d.feed(good.substr(0, n));
      ipc::Message m;
      std::string why;
      CPPUNIT_ASSERT(d.next(&m, &why) == ipc::Decoder::Status::NeedMore);
    }
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(MessageTest);
