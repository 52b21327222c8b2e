// lib/imap/response_test.cc - string forms, mailbox names and FETCH response assembly.
#include "lib/imap/response.h"

#include <cppunit/extensions/HelperMacros.h>

using namespace postilion;

class ResponseTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(ResponseTest);
  CPPUNIT_TEST(strings);
  CPPUNIT_TEST(fetch_lines);
  CPPUNIT_TEST_SUITE_END();

 public:
  void strings() {
    struct Row { std::string in; std::string astring, string; } rows[] = {
        {"abc", "abc", "\"abc\""},
        {"", "\"\"", "\"\""},
        {"NIL", "\"NIL\"", "\"NIL\""},
        {"a b", "\"a b\"", "\"a b\""},
        {"q\"b\\", "\"q\\\"b\\\\\"", "\"q\\\"b\\\\\""},
        {"a\r\nb", "{4}\r\na\r\nb", "{4}\r\na\r\nb"},
        {"caf\xC3\xA9", "{5}\r\ncaf\xC3\xA9", "{5}\r\ncaf\xC3\xA9"},
        {std::string("a\0b", 3), std::string("{3}\r\na\0b", 8), std::string("{3}\r\na\0b", 8)},
        {"x(", "\"x(\"", "\"x(\""},
        {"%*", "\"%*\"", "\"%*\""},
        {std::string(2000, 'a'), "{2000}\r\n" + std::string(2000, 'a'), "{2000}\r\n" + std::string(2000, 'a')},
    };
    for (auto& r : rows) {
      std::string a, s;
      imap::append_astring(a, r.in);
      imap::append_string(s, r.in);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.astring, a);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.string, s);
    }
    std::string u;
    imap::append_string(u, "caf\xC3\xA9", true);  // UTF8=ACCEPT
    CPPUNIT_ASSERT_EQUAL(std::string("\"caf\xC3\xA9\""), u);
    u.clear();
    imap::append_string(u, "caf\xE9", true);  // not UTF-8 at all
    CPPUNIT_ASSERT_EQUAL(std::string("{4}\r\ncaf\xE9"), u);
    std::string n;
    imap::append_nstring(n, std::nullopt);
    n += ' ';
    imap::append_nstring(n, std::string_view("x"));
    CPPUNIT_ASSERT_EQUAL(std::string("NIL \"x\""), n);
    std::string b;
    imap::append_literal(b, "ab", true);
    CPPUNIT_ASSERT_EQUAL(std::string("~{2}\r\nab"), b);
    std::string m;
    imap::append_mailbox(m, "INBOX");
    m += ' ';
    imap::append_mailbox(m, "Entw\xC3\xBC" "rfe/a b");
    m += ' ';
    imap::append_mailbox(m, "Entw\xC3\xBC" "rfe", true);
    CPPUNIT_ASSERT_EQUAL(std::string("INBOX \"Entw&APw-rfe/a b\" \"Entw\xC3\xBC" "rfe\""), m);
  }

  void fetch_lines() {
    imap::FetchResponse f(12);
    CPPUNIT_ASSERT(f.empty());
    f.add("UID", "7").add("FLAGS", "(\\Seen)");
    imap::append_literal(f.begin_item("BODY[]"), "hello");
    CPPUNIT_ASSERT_EQUAL(std::string("* 12 FETCH (UID 7 FLAGS (\\Seen) BODY[] {5}\r\nhello)\r\n"), f.finish());
    CPPUNIT_ASSERT_EQUAL(std::string("a1 OK [READ-WRITE] SELECT completed\r\n"),
                         imap::tagged("a1", "OK", "READ-WRITE", "SELECT completed"));
    CPPUNIT_ASSERT_EQUAL(std::string("* BYE bye\r\n"), imap::untagged("BYE", "", "bye"));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ResponseTest);
