// lib/mail/address_test.cc - table-driven tests of address parsing and formatting.
#include "lib/mail/address.h"

#include <cppunit/extensions/HelperMacros.h>

using namespace postilion;

class AddressTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(AddressTest);
  CPPUNIT_TEST(addresses);
  CPPUNIT_TEST(paths);
  CPPUNIT_TEST(quoting);
  CPPUNIT_TEST(extensions);
  CPPUNIT_TEST(virtual_keys);
  CPPUNIT_TEST(address_lists);
  CPPUNIT_TEST_SUITE_END();

 public:
  void addresses() {
    struct Row { const char* in; bool ok; const char* local; const char* domain; } rows[] = {
        {"user@Example.ORG", true, "user", "example.org"},
        {"user", true, "user", ""},
        {"\"a@b\"@c.d", true, "a@b", "c.d"},
        {"a@b@c", true, "a@b", "c"},
        {"@b", false, "", ""},
        {"a@", false, "", ""},
        {"a\r\n@b", false, "", ""},
        {"a@b c", false, "", ""},
        {"a@[127.0.0.1]", true, "a", "[127.0.0.1]"},
        {"", true, "", ""},
    };
    for (auto& r : rows) {
      auto a = mail::parse_address(r.in);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.ok, a.has_value());
      if (!r.ok) continue;
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, std::string(r.local), a->local);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, std::string(r.domain), a->domain);
    }
    CPPUNIT_ASSERT(!mail::parse_address(std::string(2000, 'a')));
  }

  void paths() {
    struct Row { const char* in; bool ok; const char* out; } rows[] = {
        {"<a@b>", true, "a@b"}, {"<>", true, ""}, {" <A@B.C> ", true, "A@b.c"},
        {"<@r1,@r2:u@d>", true, "u@d"}, {"a@b", false, ""}, {"<a@b", false, ""},
        {"<<a@b>>", false, ""}, {"<@r1>", false, ""}, {"<", false, ""},
        {"<\"x y\"@d>", true, "\"x y\"@d"},
    };
    for (auto& r : rows) {
      auto p = mail::parse_path(r.in);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.ok, p.has_value());
      if (r.ok) CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, std::string(r.out), *p);
    }
  }

  void quoting() {
    CPPUNIT_ASSERT_EQUAL(std::string("a.b"), mail::quote_local("a.b"));
    CPPUNIT_ASSERT_EQUAL(std::string("\"a..b\""), mail::quote_local("a..b"));
    CPPUNIT_ASSERT_EQUAL(std::string("\"a\\\"b\""), mail::quote_local("a\"b"));
    CPPUNIT_ASSERT_EQUAL(std::string("a\"b"), mail::unquote_local("\"a\\\"b\""));
    CPPUNIT_ASSERT_EQUAL(std::string("\".a\""), mail::quote_local(".a"));
  }

  void virtual_keys() {
    struct Row {
      const char* address;
      std::vector<std::string> keys;
    };
    const Row rows[] = {
        {"alice@Virt.TEST", {"alice@virt.test", "@virt.test"}},
        {"alice+lists@virt.test", {"alice+lists@virt.test", "alice@virt.test", "@virt.test"}},
        {"+lists@virt.test", {"+lists@virt.test", "@virt.test"}},
        {"alice", {}},
        {"@virt.test", {}},
        {"", {}},
        {"a\nb@virt.test", {}},
        {"ann-news@virt.test", {"ann-news@virt.test", "@virt.test"}},
    };
    for (const auto& r : rows) CPPUNIT_ASSERT_MESSAGE(r.address, r.keys == mail::virtual_lookup_keys(r.address, "+"));
  }

  void extensions() {
    struct Row { const char* in; const char* delims; const char* user; const char* ext; } rows[] = {
        {"bob+lists", "+", "bob", "lists"}, {"bob+a+b", "+", "bob", "a+b"},
        {"bob-x", "+-", "bob", "x"},        {"+x", "+", "+x", ""},
        {"bob", "+", "bob", ""},            {"bob+x", "", "bob+x", ""},
    };
    for (auto& r : rows) {
      auto p = mail::split_extension(r.in, r.delims);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, std::string(r.user), p.user);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, std::string(r.ext), p.extension);
    }
    CPPUNIT_ASSERT(mail::domain_in("EXAMPLE.org", {"localhost", "example.org"}));
    CPPUNIT_ASSERT(!mail::domain_in("example.org.evil", {"example.org"}));
  }

  void address_lists() {
    struct Row { const char* in; std::vector<std::string> out; } rows[] = {
        {"a@b", {"a@b"}},
        {"John Doe <j@x.org>, k@y.org", {"j@x.org", "k@y.org"}},
        {"\"Doe, John\" <j@x.org>", {"j@x.org"}},
        {"friends: a@b, c@d;, e@f", {"a@b", "c@d", "e@f"}},
        {"a@b (comment, with comma)", {"a@b"}},
        {"undisclosed-recipients:;", {}},
        {"<unterminated@x", {}},
        {"two words@x", {}},
        {"", {}},
        {"a@b,\r\n c@d", {"a@b", "c@d"}},
    };
    for (auto& r : rows) {
      auto got = mail::parse_address_list(r.in);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.out.size(), got.size());
      for (size_t i = 0; i < got.size(); ++i) CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.out[i], got[i]);
    }
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(AddressTest);
