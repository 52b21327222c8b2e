// lib/milter/headers_test.cc - the header section milters see and edit: split from the
// body, values as filters get them, and edits that never break the message.
#include "lib/milter/headers.h"

#include <cppunit/extensions/HelperMacros.h>

using namespace postilion::milter;

class HeadersTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(HeadersTest);
  CPPUNIT_TEST(parse);
  CPPUNIT_TEST(parse_incomplete);
  CPPUNIT_TEST(values);
  CPPUNIT_TEST(edits);
  CPPUNIT_TEST(hostile_values);
  CPPUNIT_TEST_SUITE_END();

 public:
  void parse() {
    std::string msg = "Received: from x\r\n\tby y\r\nSubject: hi\r\nX-Empty:\r\n\r\nbody\r\n";
    size_t body = 0;
    HeaderList h = HeaderList::parse(msg, &body);
    CPPUNIT_ASSERT_EQUAL(size_t(3), h.fields().size());
    CPPUNIT_ASSERT_EQUAL(std::string("Received"), h.fields()[0].name);
    CPPUNIT_ASSERT_EQUAL(std::string("Received: from x\r\n\tby y\r\n"), h.fields()[0].raw);
    CPPUNIT_ASSERT_EQUAL(std::string("body\r\n"), msg.substr(body));
    CPPUNIT_ASSERT_EQUAL(msg.substr(0, body - 2), h.text());
    // No empty line: a line that is no header field starts the body.
    std::string odd = "Subject: x\r\nthis is text\r\n";
    h = HeaderList::parse(odd, &body);
    CPPUNIT_ASSERT_EQUAL(size_t(1), h.fields().size());
    CPPUNIT_ASSERT_EQUAL(std::string("this is text\r\n"), odd.substr(body));
    // Headers only, and a message that starts with the body.
    h = HeaderList::parse("Subject: x\r\n", &body);
    CPPUNIT_ASSERT_EQUAL(size_t(12), body);
    h = HeaderList::parse("\r\nbody", &body);
    CPPUNIT_ASSERT(h.fields().empty());
    CPPUNIT_ASSERT_EQUAL(size_t(2), body);
    // A continuation line before any field is body.
    h = HeaderList::parse(" folded\r\nSubject: x\r\n\r\n", &body);
    CPPUNIT_ASSERT(h.fields().empty());
    CPPUNIT_ASSERT_EQUAL(size_t(0), body);
    // An oversized header section ends at the limit; the rest is body.
    std::string big;
    while (big.size() < kMaxHeaderSection + 100) big += "X-Filler: 0123456789012345678901234567890123456789\r\n";
    h = HeaderList::parse(big, &body);
    CPPUNIT_ASSERT(body >= kMaxHeaderSection && body < big.size());
  }

  void parse_incomplete() {
    std::string msg = "Subject: hi\r\nFrom: a@b\r\n\r\nbody";
    for (size_t n = 0; n < 26; ++n) {
      size_t body = 0;
      HeaderList::parse(msg.substr(0, n), &body, false);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(std::to_string(n), std::string::npos, body);
    }
    size_t body = 0;
    HeaderList h = HeaderList::parse(msg.substr(0, 26), &body, false);
    CPPUNIT_ASSERT_EQUAL(size_t(26), body);
    CPPUNIT_ASSERT_EQUAL(size_t(2), h.fields().size());
  }

  void values() {
    size_t body = 0;
    HeaderList h = HeaderList::parse("Subject:  two spaces\r\n\tand a fold\r\nX:\r\n\r\n", &body);
    CPPUNIT_ASSERT_EQUAL(std::string("two spaces\n\tand a fold"), HeaderList::value_for_filter(h.fields()[0], false));
    CPPUNIT_ASSERT_EQUAL(std::string("  two spaces\n\tand a fold"), HeaderList::value_for_filter(h.fields()[0], true));
    CPPUNIT_ASSERT_EQUAL(std::string(""), HeaderList::value_for_filter(h.fields()[1], false));
  }

  void edits() {
    size_t body = 0;
    HeaderList h = HeaderList::parse("Received: r\r\nSubject: a\r\nX-Tag: 1\r\nX-Tag: 2\r\n\r\n", &body);
    h.add("X-Added", "yes", false);
    h.insert(0, "X-First", "top", false);
    h.insert(99, "X-Last", "end", false);
    h.change("x-tag", 2, "two", false);    // case-insensitive, second occurrence
    h.change("Subject", 0, "", false);     // index 0 counts as 1; empty deletes
    h.change("X-Missing", 1, "", false);   // deleting what is not there: nothing
    h.change("X-New", 3, "made", false);   // changing what is not there adds it
    h.add("X-Lead", " kept", true);
    CPPUNIT_ASSERT_EQUAL(std::string("X-First: top\r\nReceived: r\r\nX-Tag: 1\r\nX-Tag: two\r\nX-Added: yes\r\n"
                                     "X-Last: end\r\nX-New: made\r\nX-Lead: kept\r\n"),
                         h.text());
    HeaderList f;
    f.add("X-Multi", "one\ntwo\r\n  three", false);
    CPPUNIT_ASSERT_EQUAL(std::string("X-Multi: one\r\n\ttwo\r\n  three\r\n"), f.text());
  }

  void hostile_values() {
    // A filter cannot end the header section early or smuggle a field in.
    const std::string values[] = {"a\r\n\r\nInjected: 1", "a\n\nInjected: 1", "a\nInjected: 1", "x\n",
                                  std::string("nul\0here", 8), "cr\ronly", "\n", "\r\n\r\n"};
    for (const auto& v : values) {
      HeaderList h;
      h.add("X-Test", v, false);
      std::string text = h.text() + "\r\nbody";
      size_t body = 0;
      HeaderList again = HeaderList::parse(text, &body);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(v, size_t(1), again.fields().size());
      CPPUNIT_ASSERT_EQUAL_MESSAGE(v, std::string("body"), text.substr(body));
      CPPUNIT_ASSERT(text.find('\0') == std::string::npos);
    }
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(HeadersTest);
