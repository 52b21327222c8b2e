// lib/base/parsed_test.cc - Parsed<T, Why>: a value or why the input was refused,
// with the refusal as a text or another type, and when T and Why are the same type.
#include "lib/base/parsed.h"

#include <cppunit/extensions/HelperMacros.h>

using namespace postilion;

namespace {

struct Reply {
  int code;
};

Parsed<int, Reply> number(const std::string& s) {
  if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos) return Reply{501};
  return std::stoi(s);
}

Parsed<std::string> word(const std::string& s) {
  if (s.find(' ') != std::string::npos) return Parsed<std::string>::bad("a space in \"" + s + "\"");
  return s;
}

}  // namespace

class ParsedTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(ParsedTest);
  CPPUNIT_TEST(values_and_refusals);
  CPPUNIT_TEST_SUITE_END();

 public:
  void values_and_refusals() {
    struct Row {
      std::string in;
      bool ok;
      int value;
    } rows[] = {{"0", true, 0}, {"42", true, 42}, {"", false, 0}, {"4x", false, 0},
                {"-1", false, 0}, {std::string(100, '9'), false, 0}, {std::string("1\0", 2), false, 0}};
    for (const auto& r : rows) {
      auto n = number(r.in);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.ok, n.ok());
      if (r.ok) CPPUNIT_ASSERT_EQUAL(r.value, *n);
      else CPPUNIT_ASSERT_EQUAL(501, n.error().code);
    }
    auto w = word("hello");
    CPPUNIT_ASSERT(w && *w == "hello" && w->size() == 5);
    auto bad = word("a b");
    CPPUNIT_ASSERT(!bad);
    CPPUNIT_ASSERT_EQUAL(std::string("a space in \"a b\""), bad.error());
    std::string moved = std::move(w).value();
    CPPUNIT_ASSERT_EQUAL(std::string("hello"), moved);
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ParsedTest);
