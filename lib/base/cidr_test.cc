// lib/base/cidr_test.cc - networks: IPv4 and IPv6 prefixes, bracketed forms, strict
// parsing (a malformed entry is refused, never read as "everything"), lists; table-driven.
#include "lib/base/cidr.h"

#include <cppunit/extensions/HelperMacros.h>

using namespace postilion;

class CidrTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(CidrTest);
  CPPUNIT_TEST(networks);
  CPPUNIT_TEST(lists);
  CPPUNIT_TEST_SUITE_END();

 public:
  void networks() {
    struct Row { const char* net; const char* ip; bool in; } rows[] = {
        {"127.0.0.0/8", "127.1.2.3", true},   {"127.0.0.0/8", "128.0.0.1", false},
        {"10.1.2.0/23", "10.1.3.9", true},    {"10.1.2.0/23", "10.1.4.1", false},
        {"[::1]/128", "::1", true},           {"[::1]/128", "::2", false},
        {"192.0.2.7", "192.0.2.7", true},     {"192.0.2.7", "192.0.2.8", false},
        {"0.0.0.0/0", "203.0.113.1", true},   {"127.0.0.0/8", "::1", false},
        {"2001:db8::/32", "2001:db8:1::5", true},
    };
    for (auto& r : rows) {
      auto c = Cidr::parse(r.net);
      CPPUNIT_ASSERT_MESSAGE(r.net, c.has_value());
      CPPUNIT_ASSERT_EQUAL_MESSAGE(std::string(r.net) + " " + r.ip, r.in, c->contains(r.ip));
    }
    for (const char* bad : {"", "300.0.0.1", "1.2.3.4/33", "::1/129", "foo", "1.2.3.4/x"})
      CPPUNIT_ASSERT_MESSAGE(bad, !Cidr::parse(bad));
  }

  void lists() {
    auto l = parse_cidr_list({"127.0.0.0/8", "[::1]", "192.0.2.0/24"});
    CPPUNIT_ASSERT(l && l->size() == 3);
    struct Row { const char* ip; bool in; } rows[] = {
        {"127.0.0.2", true}, {"::1", true}, {"192.0.2.200", true}, {"192.0.3.1", false},
        {"::2", false}, {"", false}, {"unknown", false}, {"::ffff:127.0.0.1", false},
    };
    for (auto& r : rows) CPPUNIT_ASSERT_EQUAL_MESSAGE(r.ip, r.in, cidr_list_contains(*l, r.ip));
    CPPUNIT_ASSERT(!cidr_list_contains({}, "127.0.0.1"));
    auto empty = parse_cidr_list({});
    CPPUNIT_ASSERT(empty && empty->empty());
    auto bad = parse_cidr_list({"127.0.0.0/8", "localhost", "::1"});
    CPPUNIT_ASSERT(!bad);
    CPPUNIT_ASSERT_EQUAL(std::string("localhost"), bad.error());
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(CidrTest);
