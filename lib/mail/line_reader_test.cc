// lib/mail/line_reader_test.cc - table tests of the command-line reader (line ends,
// the limit, endless lines, byte-at-a-time input) and of SASL PLAIN decoding.
#include "lib/mail/line_reader.h"

#include <cppunit/extensions/HelperMacros.h>

#include <string>
#include <vector>

using namespace postilion::mail;

namespace {

// Feeds input in pieces of `step` bytes (0: all at once) and lists what comes out:
// the lines, "<too long>" for each over-long one.
std::vector<std::string> split(const std::string& input, size_t max_line, size_t step, size_t* max_buffered) {
  LineReader r(max_line);
  std::string buf;
  std::vector<std::string> got;
  *max_buffered = 0;
  size_t fed = 0;
  while (fed < input.size()) {
    size_t n = step == 0 ? input.size() : std::min(step, input.size() - fed);
    buf.append(input, fed, n);
    fed += n;
    for (;;) {
      size_t used = 0;
      std::string_view line;
      auto st = r.next(buf, &used, &line);
      CPPUNIT_ASSERT(used <= buf.size());
      if (st == LineReader::Status::Line) got.emplace_back(line);
      if (st == LineReader::Status::TooLong) got.emplace_back("<too long>");
      buf.erase(0, used);
      if (st == LineReader::Status::NeedMore) break;
    }
    *max_buffered = std::max(*max_buffered, buf.size());
  }
  if (!buf.empty()) got.emplace_back("<pending " + buf + ">");
  return got;
}

}  // namespace

class LineReaderTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(LineReaderTest);
  CPPUNIT_TEST(steps);
  CPPUNIT_TEST(lines);
  CPPUNIT_TEST(sasl_plain);
  CPPUNIT_TEST_SUITE_END();

 public:
  // One call at a time: what is consumed, and the discarding state in between.
  void steps() {
    LineReader r(10);
    size_t used = 0;
    std::string_view line;
    CPPUNIT_ASSERT(r.next("STAT", &used, &line) == LineReader::Status::NeedMore);
    CPPUNIT_ASSERT_EQUAL(size_t(0), used);
    CPPUNIT_ASSERT(r.next("STAT\r\nNOOP\r\n", &used, &line) == LineReader::Status::Line);
    CPPUNIT_ASSERT_EQUAL(std::string("STAT"), std::string(line));
    CPPUNIT_ASSERT_EQUAL(size_t(6), used);
    CPPUNIT_ASSERT(r.next("bare\nx", &used, &line) == LineReader::Status::Line);
    CPPUNIT_ASSERT_EQUAL(std::string("bare"), std::string(line));
    CPPUNIT_ASSERT_EQUAL(size_t(5), used);
    // Exactly at the limit is a line; one more is too long.
    CPPUNIT_ASSERT(r.next(std::string(10, 'a') + "\r\n", &used, &line) == LineReader::Status::Line);
    CPPUNIT_ASSERT(r.next(std::string(11, 'a') + "\r\n", &used, &line) == LineReader::Status::TooLong);
    CPPUNIT_ASSERT_EQUAL(size_t(13), used);
    // The limit plus one may still end in CR LF: not yet discarded.
    CPPUNIT_ASSERT(r.next(std::string(11, 'a'), &used, &line) == LineReader::Status::NeedMore);
    CPPUNIT_ASSERT_EQUAL(size_t(0), used);
    CPPUNIT_ASSERT(!r.discarding());
    // An endless line is swallowed as it comes and answered once at its end.
    CPPUNIT_ASSERT(r.next(std::string(50, 'x'), &used, &line) == LineReader::Status::NeedMore);
    CPPUNIT_ASSERT_EQUAL(size_t(50), used);
    CPPUNIT_ASSERT(r.discarding());
    CPPUNIT_ASSERT(r.next(std::string(5000, 'x'), &used, &line) == LineReader::Status::NeedMore);
    CPPUNIT_ASSERT(r.next("xx\r\nQUIT\r\n", &used, &line) == LineReader::Status::TooLong);
    CPPUNIT_ASSERT_EQUAL(size_t(4), used);
    CPPUNIT_ASSERT(!r.discarding());
    CPPUNIT_ASSERT(r.next("QUIT\r\n", &used, &line) == LineReader::Status::Line);
    CPPUNIT_ASSERT_EQUAL(std::string("QUIT"), std::string(line));
    // Empty lines are lines (the parsers refuse them).
    CPPUNIT_ASSERT(r.next("\r\n", &used, &line) == LineReader::Status::Line);
    CPPUNIT_ASSERT(line.empty());
    // A new limit applies from the next line on.
    r.set_max_line(3);
    CPPUNIT_ASSERT(r.next("QUIT\r\n", &used, &line) == LineReader::Status::TooLong);
  }

  // Whole input, in pieces of every size: the same lines and TooLong reports, and
  // never more than the limit (+ CR) kept buffered.
  void lines() {
    struct Row {
      std::string in;
      size_t max;
      std::vector<std::string> want;
    } rows[] = {
        {"USER alice\r\nPASS a b c\nNOOP\r\n", 20, {"USER alice", "PASS a b c", "NOOP"}},
        {"a\r\n" + std::string(300, 'z') + "\r\nSTAT\r\n", 20, {"a", "<too long>", "STAT"}},
        {std::string(21, 'z') + "\r\nx\n", 20, {"<too long>", "x"}},
        {std::string(20, 'z') + "\r\nx\n", 20, {std::string(20, 'z'), "x"}},
        {"\n\r\n", 20, {"", ""}},
        {"no end", 20, {"<pending no end>"}},
        {"cr\rin\r\n", 20, {"cr\rin"}},
        {std::string(1000, 'q'), 20, {}},  // swallowed, not yet answered
        {std::string("nul\0byte\r\n", 10), 20, {std::string("nul\0byte", 8)}},
    };
    for (const auto& r : rows) {
      for (size_t step : {size_t(0), size_t(1), size_t(2), size_t(7)}) {
        size_t max_buffered = 0;
        auto got = split(r.in, r.max, step, &max_buffered);
        CPPUNIT_ASSERT_MESSAGE(r.in.substr(0, 40) + " step " + std::to_string(step), got == r.want);
        CPPUNIT_ASSERT(max_buffered <= r.max + 1);
      }
    }
  }

  void sasl_plain() {
    auto c = parse_sasl_plain(std::string("\0alice\0secret", 13));
    CPPUNIT_ASSERT(c);
    CPPUNIT_ASSERT_EQUAL(std::string("alice"), c->user);
    CPPUNIT_ASSERT_EQUAL(std::string("secret"), c->password);
    CPPUNIT_ASSERT(c->authzid.empty());
    auto z = parse_sasl_plain(std::string("admin\0alice\0pw", 14));
    CPPUNIT_ASSERT(z && z->authzid == "admin" && z->user == "alice" && z->password == "pw");
    const std::string bad[] = {
        "", std::string("\0\0", 2), std::string("\0alice\0", 7), std::string("\0\0pw", 4),
        "alice", std::string("a\0b", 3), std::string("a\0b\0c\0d", 7),
    };
    for (const auto& b : bad) CPPUNIT_ASSERT_MESSAGE(b, !parse_sasl_plain(b));
    // Limits: at the limit accepted, beyond it refused; no limit by default.
    const std::string user300 = std::string("\0", 1) + std::string(300, 'u') + std::string("\0pw", 3);
    CPPUNIT_ASSERT(parse_sasl_plain(user300));
    CPPUNIT_ASSERT(parse_sasl_plain(user300, 300, 2));
    CPPUNIT_ASSERT(!parse_sasl_plain(user300, 299, 2));
    CPPUNIT_ASSERT(!parse_sasl_plain(user300, 300, 1));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(LineReaderTest);
