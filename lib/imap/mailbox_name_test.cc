// lib/imap/mailbox_name_test.cc - modified UTF-7, name validation, Maildir++ names and
// LIST patterns.
#include "lib/imap/mailbox_name.h"

#include <cppunit/extensions/HelperMacros.h>

using namespace postilion;

class MailboxNameTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(MailboxNameTest);
  CPPUNIT_TEST(utf7);
  CPPUNIT_TEST(validation);
  CPPUNIT_TEST(maildir);
  CPPUNIT_TEST(patterns);
  CPPUNIT_TEST_SUITE_END();

 public:
  void utf7() {
    struct Row { const char* wire; const char* utf8; } rows[] = {
        {"INBOX", "INBOX"},
        {"Entw&APw-rfe", "Entw\xC3\xBC" "rfe"},
        {"&-", "&"},
        {"a&-b", "a&b"},
        {"&ZeVnLIqe-", "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E"},
        {"~peter/mail/&U,BTFw-/&ZeVnLIqe-", "~peter/mail/\xE5\x8F\xB0\xE5\x8C\x97/\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E"},
        {"&2D3eAA-", "\xF0\x9F\x98\x80"},  // a surrogate pair (U+1F600)
        {"", ""},
    };
    for (auto& r : rows) {
      auto d = imap::mutf7_decode(r.wire);
      CPPUNIT_ASSERT_MESSAGE(r.wire, d);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.wire, std::string(r.utf8), *d);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.wire, std::string(r.wire), imap::mutf7_encode(r.utf8));
    }
    const char* bad[] = {
        "&", "&ZeVn", "&Ze!-", "&AGE-",   // unterminated, bad base64, encoded 'a'
        "&2D0-", "&3gA-",                 // lone high / low surrogate
        "&APx-",                          // non-zero padding bits
        "a\x80", "tab\there", "&AAA-",    // 8-bit, control, encoded NUL
        "&Z-",                            // too short for one unit
    };
    for (const char* b : bad) CPPUNIT_ASSERT_MESSAGE(b, !imap::mutf7_decode(b));
    CPPUNIT_ASSERT_EQUAL(std::string("&,,0-"), imap::mutf7_encode("\xFF"));  // invalid UTF-8 -> U+FFFD
  }

  void validation() {
    const char* good[] = {"INBOX", "Sent", "Lists/postfix", "a b", "caf\xC3\xA9", "a.b", ".hidden/x", "~x"};
    for (const char* g : good) CPPUNIT_ASSERT_MESSAGE(g, !imap::validate_name(g, true));
    const char* bad[] = {"", "/abs", "a/", "a//b", "a/../b", "..", ".", "a/./b", "a*", "b%", "x\ty",
                         "caf\xE9", "\xC2\x85"};
    for (const char* b : bad) CPPUNIT_ASSERT_MESSAGE(b, imap::validate_name(b, true));
    CPPUNIT_ASSERT(!imap::validate_name("a*", false));  // LIST and SELECT of an existing name
    CPPUNIT_ASSERT(imap::validate_name(std::string(300, 'x'), false));
    CPPUNIT_ASSERT(imap::validate_name(std::string(120, '\xE6') , false));
    std::string err;
    CPPUNIT_ASSERT_EQUAL(std::string("INBOX/x"), *imap::wire_to_name("inbox/x", false, false, &err));
    CPPUNIT_ASSERT_EQUAL(std::string("New"), *imap::wire_to_name("New/", false, true, &err));
    CPPUNIT_ASSERT(!imap::wire_to_name("&AGE-", false, false, &err));
    CPPUNIT_ASSERT(!err.empty());
    CPPUNIT_ASSERT_EQUAL(std::string("caf\xC3\xA9"), *imap::wire_to_name("caf\xC3\xA9", true, true, &err));
    CPPUNIT_ASSERT(!imap::wire_to_name("caf\xC3\xA9", false, true, &err));
  }

  void maildir() {
    struct Row { const char* name; const char* dir; } rows[] = {
        {"INBOX", ""},
        {"Sent", ".Sent"},
        {"Lists/postfix", ".Lists.postfix"},
        {"INBOX/child", ".INBOX.child"},
        {"a.b", ".a&AC4-b"},
        {"Entw\xC3\xBC" "rfe/x.y", ".Entw&APw-rfe.x&AC4-y"},
        {"a&b", ".a&-b"},
        {".hidden", ".&AC4-hidden"},
    };
    for (auto& r : rows) {
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.name, std::string(r.dir), imap::to_maildir(r.name));
      auto back = imap::from_maildir(r.dir);
      CPPUNIT_ASSERT_MESSAGE(r.dir, back);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.dir, std::string(r.name), *back);
    }
    CPPUNIT_ASSERT_EQUAL(std::string(""), imap::to_maildir("inbox"));
    CPPUNIT_ASSERT_EQUAL(std::string("INBOX"), *imap::from_maildir("."));
    const char* bad[] = {"..", "...", "x", ".a..b", ".a.", ".&AC8-", ".&-x&", ".a&AGE-", ".INBOX", ".inbox", ".&AC4-&AC4-"};
    for (const char* b : bad) CPPUNIT_ASSERT_MESSAGE(b, !imap::from_maildir(b));
  }

  void patterns() {
    struct Row { const char* pattern; const char* name; bool match; } rows[] = {
        {"*", "INBOX", true},
        {"*", "a/b/c", true},
        {"%", "a", true},
        {"%", "a/b", false},
        {"a/%", "a/b", true},
        {"a/%", "a/b/c", false},
        {"a/*", "a/b/c", true},
        {"a*", "a", true},
        {"a%c", "abc", true},
        {"a%c", "a/c", false},
        {"%/%", "a/b", true},
        {"Lists/p*", "Lists/postfix", true},
        {"Lists/p*", "lists/postfix", false},
        {"", "", true},
        {"", "a", false},
        {"*x*y*", "axbxcy", true},
        {"*x*y*", "ayx", false},
    };
    for (auto& r : rows)
      CPPUNIT_ASSERT_EQUAL_MESSAGE(std::string(r.pattern) + " " + r.name, r.match, imap::list_match(r.pattern, r.name));
    // Hostile: many wildcards against a long name finish at once (no backtracking blow-up).
    std::string p(2000, '*');
    p += "b";
    CPPUNIT_ASSERT(!imap::list_match(p, std::string(400, 'a')));
    CPPUNIT_ASSERT_EQUAL(std::string("Lists/%"), imap::list_join("Lists/", "%"));
    CPPUNIT_ASSERT_EQUAL(std::string("x"), imap::list_join("Lists/", "/x"));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(MailboxNameTest);
