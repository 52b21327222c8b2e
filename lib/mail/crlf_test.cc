// lib/mail/crlf_test.cc - message sizes with CRLF line ends: bare LF, CRLF, mixed, a
// missing last line end, bare CR (not a line end), and a large message.
#include "lib/mail/crlf.h"

#include <cppunit/extensions/HelperMacros.h>

#include <string>

using namespace postilion;

class CrlfTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(CrlfTest);
  CPPUNIT_TEST(sizes);
  CPPUNIT_TEST_SUITE_END();

 public:
  void sizes() {
    struct Row {
      std::string raw;
      uint64_t want;
    } rows[] = {
        {"", 0},
        {"a", 3},
        {"a\n", 3},
        {"a\r\n", 3},
        {"\n", 2},
        {"\r\n", 2},
        {"\n\n\n", 6},
        {"a\n\nb", 8},
        {"x\r\ny\nz\r\n", 9},
        {"bare\rcr\n", 9},
        {"\r", 3},
        {"\r\r\n", 3},
        {std::string("nul\0\n", 5), 6},
    };
    for (const Row& r : rows) CPPUNIT_ASSERT_EQUAL_MESSAGE(r.raw, r.want, mail::crlf_size(r.raw));
    std::string big;
    for (int i = 0; i < 100000; ++i) big += "0123456789\n";
    CPPUNIT_ASSERT_EQUAL(uint64_t(100000 * 12), mail::crlf_size(big));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(CrlfTest);
