// lib/maps/pattern_table_test.cc - regexp:, pcre: and cidr: tables: rules, flags,
// negation, if/endif, $n substitution, first match wins, and every malformed,
// oversized and hostile line reported with FILE:LINE.
#include "lib/maps/pattern_table.h"

#include <cppunit/extensions/HelperMacros.h>

#include <string>
#include <vector>

#include "lib/base/file.h"
#include "lib/maps/maps.h"
#include "lib/testing/temp_dir.h"

namespace postilion::maps {
namespace {

std::string str_join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : "\n") + s;
  return out;
}

std::unique_ptr<PatternTable> must_parse(std::string_view text, PatternKind kind) {
  std::vector<std::string> errors;
  auto t = PatternTable::parse(text, kind, "t", &errors);
  CPPUNIT_ASSERT_MESSAGE(errors.empty() ? "" : errors.front(), t != nullptr);
  CPPUNIT_ASSERT(errors.empty());
  return t;
}

std::string errors_of(std::string_view text, PatternKind kind) {
  std::vector<std::string> errors;
  auto t = PatternTable::parse(text, kind, "t", &errors);
  CPPUNIT_ASSERT((t == nullptr) == !errors.empty());
  return str_join(errors);
}

std::string get(const PatternTable& t, std::string_view key) { return t.lookup(key).value_or("<none>"); }

}  // namespace

class PatternTableTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(PatternTableTest);
  CPPUNIT_TEST(regexp_rules);
  CPPUNIT_TEST(pcre_rules);
  CPPUNIT_TEST(if_blocks);
  CPPUNIT_TEST(cidr_rules);
  CPPUNIT_TEST(malformed_lines);
  CPPUNIT_TEST(hostile_input);
  CPPUNIT_TEST(maps_open);
  CPPUNIT_TEST_SUITE_END();

 public:
  void regexp_rules() {
    auto t = must_parse(
        "# header checks\n"
        "/^Subject: .*viagra/      REJECT no spam\n"
        "/^Subject: (a+)(b+)$/     PREPEND X-Got: $2 and ${1} cost $$5\n"
        "/^X-Case: Yes$/i          WARN case-sensitive\n"
        "/^Subject: first/         FIRST\n"
        "/^Subject: first/         SECOND\n"
        "%ab|cd%                   PERCENT delimited\n"
        "/^To: a\\/b$/             SLASH\n"
        "!/^(From|To|Subject):/    OTHER\n"
        "  continued\n",
        PatternKind::Regexp);
    CPPUNIT_ASSERT_EQUAL(std::string("REJECT no spam"), get(*t, "Subject: Cheap VIAGRA now"));
    CPPUNIT_ASSERT_EQUAL(std::string("PREPEND X-Got: bb and aaa cost $5"), get(*t, "Subject: aaabb"));
    CPPUNIT_ASSERT_EQUAL(std::string("WARN case-sensitive"), get(*t, "X-Case: Yes"));
    CPPUNIT_ASSERT_EQUAL(std::string("OTHER continued"), get(*t, "X-Case: yes"));
    CPPUNIT_ASSERT_EQUAL(std::string("FIRST"), get(*t, "subject: First things"));
    CPPUNIT_ASSERT_EQUAL(std::string("PERCENT delimited"), get(*t, "Subject: xcdx"));
    CPPUNIT_ASSERT_EQUAL(std::string("SLASH"), get(*t, "To: a/b"));
    CPPUNIT_ASSERT_EQUAL(std::string("<none>"), get(*t, "From: someone"));
    CPPUNIT_ASSERT_EQUAL(std::string("OTHER continued"), get(*t, "Received: x"));
    CPPUNIT_ASSERT_EQUAL(size_t(8), t->rules());
  }

  void pcre_rules() {
    auto t = must_parse(
        "/^Subject:\\s+(\\w+)\\s+(\\w+)/   REPLACE Subject: $2 $1\n"
        "/^Content-Type:.*name\\s*=\\s*\"?[^\"]*\\.(exe|scr)\"?/  REJECT attachment .$1 not allowed\n"
        "/^X-Case: Yes$/i  CASE\n"
        "/a.b/s            DOTALL\n"
        "/(?<word>zz+)/    NAMED $1\n"
        "/^multi$/m        MULTI\n"
        "/^x (y)? z/       OPT [$1]\n"
        "/^(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)$/  MANY $9$1\n",
        PatternKind::Pcre);
    CPPUNIT_ASSERT_EQUAL(std::string("REPLACE Subject: world hello"), get(*t, "Subject: hello world"));
    CPPUNIT_ASSERT_EQUAL(std::string("REJECT attachment .EXE not allowed"),
                         get(*t, "Content-Type: application/octet-stream; name=\"EVIL.EXE\""));
    CPPUNIT_ASSERT_EQUAL(std::string("<none>"), get(*t, "X-Case: yes"));
    CPPUNIT_ASSERT_EQUAL(std::string("CASE"), get(*t, "X-Case: Yes"));
    CPPUNIT_ASSERT_EQUAL(std::string("DOTALL"), get(*t, "a\nb"));
    CPPUNIT_ASSERT_EQUAL(std::string("NAMED zzz"), get(*t, "qzzzq"));
    CPPUNIT_ASSERT_EQUAL(std::string("MULTI"), get(*t, "first\nmulti\nlast"));
    CPPUNIT_ASSERT_EQUAL(std::string("OPT []"), get(*t, "x  z"));
    CPPUNIT_ASSERT_EQUAL(std::string("OPT [y]"), get(*t, "x y z"));
    // More groups than a result can name: $1..$9 still filled.
    CPPUNIT_ASSERT_EQUAL(std::string("MANY ia"), get(*t, "abcdefghijk"));
  }

  void if_blocks() {
    for (PatternKind kind : {PatternKind::Regexp, PatternKind::Pcre}) {
      auto t = must_parse(
          "if /^Subject:/\n"
          "/money/      MONEY\n"
          "if !/urgent/\n"
          "/./          CALM SUBJECT\n"
          "endif\n"
          "/./          URGENT SUBJECT\n"
          "endif\n"
          "/money/      MONEY ELSEWHERE\n",
          kind);
      CPPUNIT_ASSERT_EQUAL(std::string("MONEY"), get(*t, "Subject: money urgent"));
      CPPUNIT_ASSERT_EQUAL(std::string("CALM SUBJECT"), get(*t, "Subject: hi"));
      CPPUNIT_ASSERT_EQUAL(std::string("URGENT SUBJECT"), get(*t, "Subject: urgent hi"));
      CPPUNIT_ASSERT_EQUAL(std::string("MONEY ELSEWHERE"), get(*t, "From: money"));
      CPPUNIT_ASSERT_EQUAL(std::string("<none>"), get(*t, "From: nobody"));
    }
  }

  void cidr_rules() {
    auto t = must_parse(
        "192.0.2.0/24        REJECT net 2\n"
        "192.0.2.7           OK never reached\n"
        "198.51.100.7        OK one host\n"
        "2001:db8::/32       REJECT v6\n"
        "[2001:db9::1]/128   V6 HOST\n"
        "if 10.0.0.0/8\n"
        "!10.1.0.0/16        TEN NOT ONE\n"
        "endif\n"
        "0.0.0.0/0           ANY V4\n",
        PatternKind::Cidr);
    CPPUNIT_ASSERT_EQUAL(std::string("REJECT net 2"), get(*t, "192.0.2.7"));
    CPPUNIT_ASSERT_EQUAL(std::string("OK one host"), get(*t, "198.51.100.7"));
    CPPUNIT_ASSERT_EQUAL(std::string("ANY V4"), get(*t, "198.51.100.8"));
    CPPUNIT_ASSERT_EQUAL(std::string("REJECT v6"), get(*t, "2001:db8::25"));
    CPPUNIT_ASSERT_EQUAL(std::string("V6 HOST"), get(*t, "2001:db9::1"));
    CPPUNIT_ASSERT_EQUAL(std::string("<none>"), get(*t, "2001:db9::2"));
    CPPUNIT_ASSERT_EQUAL(std::string("TEN NOT ONE"), get(*t, "10.2.0.1"));
    CPPUNIT_ASSERT_EQUAL(std::string("ANY V4"), get(*t, "10.1.0.1"));
    CPPUNIT_ASSERT_EQUAL(std::string("<none>"), get(*t, "not-an-address"));
    CPPUNIT_ASSERT_EQUAL(std::string("<none>"), get(*t, ""));
  }

  void malformed_lines() {
    struct Row {
      PatternKind kind;
      std::string in;
      std::string want;
    } rows[] = {
        {PatternKind::Regexp, "/a/ X\n/b/\n", "t:2: missing result after the pattern"},
        {PatternKind::Regexp, "/a X\n", "t:1: missing closing / of the pattern"},
        {PatternKind::Regexp, "abc X\n", "t:1: pattern must start with a delimiter such as /, not \"a\""},
        {PatternKind::Regexp, "/a/q X\n", "t:1: unknown regexp flag \"q\" (i, x, m)"},
        {PatternKind::Pcre, "/a/q X\n", "t:1: unknown pcre flag \"q\" (i, m, s, x, A, E, U, X)"},
        {PatternKind::Regexp, "/(a/ X\n", "t:1: bad regular expression: "},
        {PatternKind::Pcre, "/(a/ X\n", "t:1: bad regular expression at offset 2: "},
        {PatternKind::Pcre, "/(a)/ X $2\n", "t:1: $2 in the result, but the pattern has 1 group"},
        {PatternKind::Pcre, "/a/ X $1\n", "t:1: $1 in the result, but the pattern has 0 groups"},
        {PatternKind::Pcre, "!/(a)/ X $1\n", "t:1: $1 in the result of a negated pattern"},
        {PatternKind::Pcre, "/(a)/ X $0\n", "t:1: $0 in the result: groups are $1..$9"},
        {PatternKind::Pcre, "/(a)/ X $x\n", "t:1: bad \"$\" in the result"},
        {PatternKind::Pcre, "/(a)/ X $\n", "t:1: \"$\" at the end of the result"},
        {PatternKind::Regexp, "endif\n", "t:1: endif without if"},
        {PatternKind::Regexp, "if /a/\n/b/ X\n", "t:1: if without endif"},
        {PatternKind::Regexp, "if /a/ X\nendif\n", "t:1: text after the pattern of an if"},
        {PatternKind::Regexp, "if /a/\nendif junk\n", "t:2: text after endif"},
        {PatternKind::Regexp, "  /a/ X\n", "t:1: continuation line without a preceding line"},
        {PatternKind::Regexp, "/a/ X\n/b\x01/ Y\n/c/ Z\n", "t:2: control character 0x01 in line"},
        {PatternKind::Cidr, "192.0.2.1/24 X\n", "t:1: network \"192.0.2.1/24\" has host bits set beyond /24"},
        {PatternKind::Cidr, "192.0.2.0/33 X\n", "t:1: bad network \"192.0.2.0/33\""},
        {PatternKind::Cidr, "example.com X\n", "t:1: bad network \"example.com\""},
        {PatternKind::Cidr, "192.0.2.0/24\n", "t:1: missing result after the pattern"},
        {PatternKind::Cidr, "2001:db8::1/32 X\n", "t:1: network \"2001:db8::1/32\" has host bits set"},
    };
    for (const Row& r : rows) {
      std::string got = errors_of(r.in, r.kind);
      CPPUNIT_ASSERT_MESSAGE(r.in + " -> " + got, got.starts_with(r.want));
    }
    // Every bad line is reported, not only the first.
    CPPUNIT_ASSERT_EQUAL(std::string("t:1: missing closing / of the pattern\nt:3: endif without if"),
                         errors_of("/a X\n/b/ Y\nendif\n", PatternKind::Regexp));
  }

  void hostile_input() {
    std::string good =
        "if /^Subject:/\n/(x+)(y)/ A $1\n!/z/ B\nendif\n/^(.*)$/ C $1\n";
    // Every truncated prefix either parses or fails with a message; none crashes.
    for (size_t n = 0; n < good.size(); ++n)
      for (PatternKind k : {PatternKind::Regexp, PatternKind::Pcre}) {
        std::vector<std::string> errors;
        auto t = PatternTable::parse(good.substr(0, n), k, "t", &errors);
        if (t) (void)t->lookup("Subject: xxy");
        else CPPUNIT_ASSERT(!errors.empty());
      }
    // Deep nesting stops at the limit.
    std::string deep;
    for (size_t i = 0; i < kMaxIfDepth + 5; ++i) deep += "if /a/\n";
    CPPUNIT_ASSERT(errors_of(deep, PatternKind::Regexp).find("if nested deeper than 100") != std::string::npos);
    // An over-long line.
    std::string longline = "/" + std::string(70000, 'a') + "/ X\n";
    CPPUNIT_ASSERT(errors_of(longline, PatternKind::Pcre).find("line too long") != std::string::npos);
    // Catastrophic backtracking ends at the match limit as no match, with a warning.
    auto t = must_parse("/^(a+)+$/ BAD\n", PatternKind::Pcre);
    std::string warning;
    CPPUNIT_ASSERT(!t->lookup(std::string(40, 'a') + "b", &warning));
    CPPUNIT_ASSERT(warning.find("pattern match failed") != std::string::npos);
    // NUL in a key: PCRE sees all of it, regexp the part before it.
    auto p = must_parse("/b$/ END\n", PatternKind::Pcre);
    CPPUNIT_ASSERT_EQUAL(std::string("END"), get(*p, std::string("a\0b", 3)));
    auto r = must_parse("/b$/ END\n", PatternKind::Regexp);
    CPPUNIT_ASSERT_EQUAL(std::string("<none>"), get(*r, std::string("a\0b", 3)));
  }

  void maps_open() {
    postilion::testing::TempDir tmp;
    std::string good = tmp.file("good"), bad = tmp.file("bad"), net = tmp.file("net");
    CPPUNIT_ASSERT(file::write_file_atomic(good, "/^Subject: (.*)/ WARN $1\n", 0644).ok());
    CPPUNIT_ASSERT(file::write_file_atomic(bad, "/ok/ X\n/broken\n/(a)/ Y $3\n", 0644).ok());
    CPPUNIT_ASSERT(file::write_file_atomic(net, "127.0.0.0/8 REJECT local\n", 0644).ok());
    for (const char* type : {"regexp:", "pcre:"}) {
      auto m = open(type + good);
      CPPUNIT_ASSERT_MESSAGE(m.ok() ? "" : m.error().str(), m.ok());
      auto r = (*m)->lookup("Subject: Hello");
      CPPUNIT_ASSERT(r.ok() && r->has_value());
      CPPUNIT_ASSERT_EQUAL(std::string("WARN Hello"), **r);
      auto b = open(type + bad);
      CPPUNIT_ASSERT(!b.ok());
      CPPUNIT_ASSERT(!b.error().temporary());
      CPPUNIT_ASSERT_EQUAL(bad + ":2: missing closing / of the pattern\n" + bad +
                               ":3: $3 in the result, but the pattern has 1 group",
                           b.error().str());
    }
    auto c = open("cidr:" + net);
    CPPUNIT_ASSERT(c.ok());
    auto r = (*c)->lookup("127.0.0.2");
    CPPUNIT_ASSERT(r.ok() && r->has_value());
    CPPUNIT_ASSERT_EQUAL(std::string("REJECT local"), **r);
    CPPUNIT_ASSERT(!open("regexp:relative/path").ok());
    auto missing = open("pcre:" + tmp.file("none"));
    CPPUNIT_ASSERT(!missing.ok());
    CPPUNIT_ASSERT(missing.error().temporary());
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(PatternTableTest);

}  // namespace postilion::maps
