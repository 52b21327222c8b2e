// lib/base/strings_test.cc - table-driven tests of the string helpers.
#include "lib/base/strings.h"

#include <cppunit/extensions/HelperMacros.h>

using namespace postilion;

class StringsTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(StringsTest);
  CPPUNIT_TEST(trim_and_case);
  CPPUNIT_TEST(split_and_join);
  CPPUNIT_TEST(parse_numbers);
  CPPUNIT_TEST(names_and_brackets);
  CPPUNIT_TEST(printable_escapes_hostile_bytes);
  CPPUNIT_TEST(header_text_keeps_utf8);
  CPPUNIT_TEST(base64_round_trip_and_garbage);
  CPPUNIT_TEST_SUITE_END();

 public:
  void trim_and_case() {
    CPPUNIT_ASSERT_EQUAL(std::string("a b"), std::string(str::trim("  a b \t\r\n")));
    CPPUNIT_ASSERT_EQUAL(std::string(""), std::string(str::trim(" \t ")));
    CPPUNIT_ASSERT_EQUAL(std::string("mail.example"), str::lower("MAIL.Example"));
    CPPUNIT_ASSERT(str::iequals("EHLO", "ehlo"));
    CPPUNIT_ASSERT(!str::iequals("EHLO", "ehl"));
    CPPUNIT_ASSERT(str::istarts_with("MAIL FROM:<a@b>", "mail from:"));
    CPPUNIT_ASSERT(!str::istarts_with("MAIL", "mail from:"));
  }

  void split_and_join() {
    auto v = str::split("a, b,,c  d");
    CPPUNIT_ASSERT_EQUAL(size_t(4), v.size());
    CPPUNIT_ASSERT_EQUAL(std::string("d"), v[3]);
    auto e = str::split_exact("a::b", ':');
    CPPUNIT_ASSERT_EQUAL(size_t(3), e.size());
    CPPUNIT_ASSERT_EQUAL(std::string(""), e[1]);
    CPPUNIT_ASSERT_EQUAL(std::string("a::b"), str::join(e, ":"));
    CPPUNIT_ASSERT(str::split("").empty());
  }

  void names_and_brackets() {
    for (char c : std::string("azAZ09_")) CPPUNIT_ASSERT(str::name_char(c));
    for (char c : std::string("-.$ {}\x80\xff")) CPPUNIT_ASSERT(!str::name_char(c));
    struct Row { const char* text; size_t open; size_t close; } rows[] = {
        {"${a}", 1, 3},          {"$(a)", 1, 3},          {"${a${b}c}", 1, 8},
        {"${a(b}", 1, 5},        {"${a", 1, std::string_view::npos},
        {"x{{}", 1, std::string_view::npos}, {"{a}{b}", 3, 5}};
    for (const auto& r : rows) CPPUNIT_ASSERT_EQUAL_MESSAGE(r.text, r.close, str::closing_bracket(r.text, r.open));
  }

  void parse_numbers() {
    struct Row { const char* in; bool ok; int64_t v; } rows[] = {
        {"0", true, 0}, {"42", true, 42}, {"-7", true, -7}, {"", false, 0}, {"12a", false, 0},
        {" 1", false, 0}, {"99999999999999999999999", false, 0}, {"+", false, 0}};
    for (auto& r : rows) {
      auto got = str::parse_int(r.in);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.ok, got.has_value());
      if (r.ok) CPPUNIT_ASSERT_EQUAL(r.v, *got);
    }
    CPPUNIT_ASSERT(!str::parse_uint("-1"));
    CPPUNIT_ASSERT_EQUAL(uint64_t(10240000), *str::parse_uint("10240000"));
  }

  void header_text_keeps_utf8() {
    struct Row { std::string in; size_t max; std::string out; } rows[] = {
        {"j\xc3\xb6rg@b\xc3\xbc" "cher.example", 998, "j\xc3\xb6rg@b\xc3\xbc" "cher.example"},
        {"a\\b", 998, "a\\b"},                       // a backslash is the reader's byte
        {"a\r\nX-Evil: 1", 998, "a\\015\\012X-Evil: 1"},  // no new field, no fold
        {std::string("\0\x7f", 2), 998, "\\000\\177"},
        {"abcdef", 3, "abc"},
        {"ab\xc3\xb6", 3, "ab"},                     // a cut sequence is dropped whole
        {"ab\xc3\xb6", 4, "ab\xc3\xb6"},
        {"a\xe2\x82\xac", 3, "a"},
        {"a\r", 3, "a"},                              // an escape that does not fit
        {"", 10, ""},
    };
    for (const auto& r : rows) CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.out, str::header_text(r.in, r.max));
  }

  void printable_escapes_hostile_bytes() {
    CPPUNIT_ASSERT_EQUAL(std::string("a\\015\\012b"), str::printable("a\r\nb"));
    CPPUNIT_ASSERT_EQUAL(std::string("\\000\\377\\134"), str::printable(std::string("\0\xff\\", 3)));
    std::string big(1000, 'x');
    CPPUNIT_ASSERT(str::printable(big, 10).size() == 13);
  }

  void base64_round_trip_and_garbage() {
    CPPUNIT_ASSERT_EQUAL(std::string("AHVzZXIAcGFzcw=="), str::base64_encode(std::string("\0user\0pass", 10)));
    auto d = str::base64_decode("AHVzZXIAcGFzcw==");
    CPPUNIT_ASSERT(d);
    CPPUNIT_ASSERT_EQUAL(std::string("\0user\0pass", 10), *d);
    CPPUNIT_ASSERT_EQUAL(std::string(""), *str::base64_decode(""));
    CPPUNIT_ASSERT(!str::base64_decode("abc"));
    CPPUNIT_ASSERT(!str::base64_decode("ab=c"));
    CPPUNIT_ASSERT(!str::base64_decode("a*bc"));
    for (std::string s : {"a", "ab", "abc", "abcd", "\xff\xfe"})
      CPPUNIT_ASSERT_EQUAL(s, *str::base64_decode(str::base64_encode(s)));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(StringsTest);
