// lib/mail/header_test.cc - header section parsing, field removal, line ends.
#include "lib/mail/header.h"

#include <cppunit/extensions/HelperMacros.h>

using namespace postilion;

class HeaderTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(HeaderTest);
  CPPUNIT_TEST(parses_fields_and_body);
  CPPUNIT_TEST(malformed_headers);
  CPPUNIT_TEST(truncated_prefixes);
  CPPUNIT_TEST(removes_fields);
  CPPUNIT_TEST(line_ends_and_folding);
  CPPUNIT_TEST_SUITE_END();

 public:
  void parses_fields_and_body() {
    std::string m = "From: a@b\r\nSubject: one\r\n two\r\nTo: c@d\r\n\r\nbody\r\n";
    auto h = mail::parse_headers(m);
    CPPUNIT_ASSERT(h.complete);
    CPPUNIT_ASSERT_EQUAL(size_t(3), h.fields.size());
    CPPUNIT_ASSERT_EQUAL(std::string("one two"), *h.get("subject"));
    CPPUNIT_ASSERT_EQUAL(std::string("body\r\n"), m.substr(h.body_offset));
    CPPUNIT_ASSERT(!h.has("Cc"));
    auto lf = mail::parse_headers("A: 1\nA: 2\n\nx");
    CPPUNIT_ASSERT_EQUAL(size_t(2), lf.get_all("a").size());
    CPPUNIT_ASSERT_EQUAL(std::string("x"), std::string("A: 1\nA: 2\n\nx").substr(lf.body_offset));
  }

  void malformed_headers() {
    struct Row { const char* in; size_t fields; size_t body; bool complete; } rows[] = {
        {"no colon here\n\n", 0, 0, false},      // body starts at once
        {" leading space\n", 0, 0, false},
        {"A: 1\nbad line\nB: 2\n\n", 1, 5, false},
        {"A: 1", 1, 4, false},
        {": empty name\n\n", 0, 0, false},
        {"\n", 0, 1, true},
        {"", 0, 0, false},
        {"A\x01: x\n\n", 0, 0, false},
    };
    for (auto& r : rows) {
      auto h = mail::parse_headers(r.in);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.fields, h.fields.size());
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.body, h.body_offset);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.complete, h.complete);
    }
  }

  void truncated_prefixes() {
    std::string good = "From: a@b\nSubject: x\n y\n\nbody\n";
    for (size_t n = 0; n < good.size(); ++n) {
      auto h = mail::parse_headers(good.substr(0, n));
      CPPUNIT_ASSERT(h.body_offset <= n);
      if (n < 25) CPPUNIT_ASSERT(!h.complete);
    }
  }

  void removes_fields() {
    std::string m = "To: a@b\nBcc: secret@x,\n  more@y\nSubject: s\n\nBcc: in body\n";
    CPPUNIT_ASSERT_EQUAL(std::string("To: a@b\nSubject: s\n\nBcc: in body\n"),
                         mail::remove_fields(m, {"bcc"}));
    CPPUNIT_ASSERT_EQUAL(m, mail::remove_fields(m, {"Cc"}));
  }

  void line_ends_and_folding() {
    CPPUNIT_ASSERT_EQUAL(std::string("a\r\nb\r\nc"), mail::to_crlf("a\nb\r\nc"));
    CPPUNIT_ASSERT_EQUAL(std::string("a\nb\nc\r"), mail::to_lf("a\r\nb\nc\r"));
    std::string f = mail::fold("To", std::string(60, 'a') + " " + std::string(30, 'b'));
    CPPUNIT_ASSERT(f.find("\n\t") != std::string::npos);
    CPPUNIT_ASSERT_EQUAL(std::string("X: short\n"), mail::fold("X", "short"));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(HeaderTest);
