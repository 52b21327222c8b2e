// lib/pop3/reply_test.cc - table tests of the reply builder and message encoding
// (CRLF, dot-stuffing, TOP), including hostile text in replies.
#include "lib/pop3/reply.h"

#include <cppunit/extensions/HelperMacros.h>

#include "lib/mail/crlf.h"

using namespace postilion::pop3;

class Pop3ReplyTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(Pop3ReplyTest);
  CPPUNIT_TEST(status_lines);
  CPPUNIT_TEST(messages);
  CPPUNIT_TEST(sizes);
  CPPUNIT_TEST(capa_and_uidl);
  CPPUNIT_TEST_SUITE_END();

 public:
  void status_lines() {
    CPPUNIT_ASSERT_EQUAL(std::string("+OK 2 320\r\n"), ok("2 320"));
    CPPUNIT_ASSERT_EQUAL(std::string("+OK\r\n"), ok(""));
    CPPUNIT_ASSERT_EQUAL(std::string("-ERR no such message\r\n"), err("no such message"));
    CPPUNIT_ASSERT_EQUAL(std::string("-ERR [IN-USE] mailbox locked\r\n"), err(Code::InUse, "mailbox locked"));
    CPPUNIT_ASSERT_EQUAL(std::string("-ERR [AUTH] failed\r\n"), err(Code::Auth, "failed"));
    CPPUNIT_ASSERT_EQUAL(std::string("-ERR [SYS/TEMP] later\r\n"), err(Code::SysTemp, "later"));
    // Peer text cannot inject a line.
    CPPUNIT_ASSERT_EQUAL(std::string("-ERR a??+OK x\r\n"), err("a\r\n+OK x"));
    std::string longline = err(std::string(2000, 'x'));
    CPPUNIT_ASSERT(longline.size() <= 512);
    CPPUNIT_ASSERT_EQUAL(std::string("+ \r\n"), continuation(""));
    CPPUNIT_ASSERT_EQUAL(std::string("+OK list\r\n1 10\r\n..x\r\n.\r\n"), multiline("list", {"1 10", ".x"}));
  }

  void messages() {
    struct Row { std::string raw; std::optional<uint64_t> top; std::string want; } rows[] = {
        {"A: b\n\nbody\n", std::nullopt, "A: b\r\n\r\nbody\r\n.\r\n"},
        {"A: b\r\n\r\nbody\r\n", std::nullopt, "A: b\r\n\r\nbody\r\n.\r\n"},
        {"A: b\n\n.\n..x\n", std::nullopt, "A: b\r\n\r\n..\r\n...x\r\n.\r\n"},
        {"A: b\n\nno final newline", std::nullopt, "A: b\r\n\r\nno final newline\r\n.\r\n"},
        {"", std::nullopt, ".\r\n"},
        {"\n", std::nullopt, "\r\n.\r\n"},
        {"A: b\nC: d\n\n1\n2\n3\n", 0, "A: b\r\nC: d\r\n\r\n.\r\n"},
        {"A: b\nC: d\n\n1\n2\n3\n", 2, "A: b\r\nC: d\r\n\r\n1\r\n2\r\n.\r\n"},
        {"A: b\nC: d\n\n1\n2\n3\n", 99, "A: b\r\nC: d\r\n\r\n1\r\n2\r\n3\r\n.\r\n"},
        {"A: b\n", 3, "A: b\r\n.\r\n"},  // no body at all
        {".hidden: x\n\n.\r\n", 5, "..hidden: x\r\n\r\n..\r\n.\r\n"},
        {"bare\rcr\n", std::nullopt, "bare\rcr\r\n.\r\n"},
    };
    for (auto& r : rows) CPPUNIT_ASSERT_EQUAL_MESSAGE(r.raw, r.want, encode_message(r.raw, r.top));
  }

  // mail::crlf_size (RFC 1939's exact size, what LIST reports) equals the encoded
  // length minus dot-stuffing and the terminator.
  void sizes() {
    const std::string raws[] = {"", "a", "a\n", "a\r\n", "a\n\nb", "\n\n\n", "x\r\ny\nz\r\n", "\r\n"};
    for (const auto& r : raws) {
      std::string enc = encode_message(r);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r, uint64_t(enc.size() - 3), postilion::mail::crlf_size(r));
    }
  }

  void capa_and_uidl() {
    Capabilities c;
    c.stls = true;
    auto v = capa_lines(c);
    auto has = [&](const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); };
    CPPUNIT_ASSERT(has("STLS") && has("UIDL") && has("TOP") && !has("USER") && !has("SASL PLAIN"));
    c.stls = false;
    c.user = c.sasl_plain = true;
    v = capa_lines(c);
    CPPUNIT_ASSERT(!has("STLS") && has("USER") && has("SASL PLAIN"));
    CPPUNIT_ASSERT(valid_uidl("1234.5678"));
    CPPUNIT_ASSERT(!valid_uidl(""));
    CPPUNIT_ASSERT(!valid_uidl("a b"));
    CPPUNIT_ASSERT(!valid_uidl(std::string(71, 'a')));
    CPPUNIT_ASSERT(valid_uidl(std::string(70, 'a')));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(Pop3ReplyTest);
