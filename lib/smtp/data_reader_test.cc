// lib/smtp/data_reader_test.cc - table tests of the DATA and BDAT readers, each input
// fed whole, one byte at a time, and split at every position.
#include "lib/smtp/data_reader.h"

#include <cppunit/extensions/HelperMacros.h>

using namespace postilion;
using namespace postilion::smtp;

namespace {

struct Outcome {
  bool ended = false;
  std::string content;
  DataError error = DataError::None;
  size_t consumed = 0;  // of the whole input, up to the end marker
};

// Feeds pieces of at most `step` bytes (0 = all at once).
Outcome run(const std::string& in, size_t step, uint64_t max = 0, size_t max_line = kMaxDataLine) {
  DataReader r(max, true, max_line);
  Outcome o;
  size_t pos = 0;
  while (pos < in.size()) {
    size_t len = step ? std::min(step, in.size() - pos) : in.size() - pos;
    size_t used = 0;
    auto st = r.feed(std::string_view(in).substr(pos, len), &o.content, &used);
    pos += used;
    if (st == DataReader::Status::End) {
      o.ended = true;
      break;
    }
    if (used != len) return o;  // a reader that stops short without End is a bug
  }
  o.error = r.error();
  o.consumed = pos;
  return o;
}

}  // namespace

class DataReaderTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(DataReaderTest);
  CPPUNIT_TEST(table);
  CPPUNIT_TEST(split_everywhere);
  CPPUNIT_TEST(size_limit);
  CPPUNIT_TEST(line_limit);
  CPPUNIT_TEST(chunks);
  CPPUNIT_TEST_SUITE_END();

 public:
  struct Row {
    std::string in;
    bool ended;
    std::string content;
    DataError error;
    size_t consumed;  // npos = all
  };

  std::vector<Row> rows() {
    const size_t all = std::string::npos;
    return {
        // Content before an error stays in the output; the caller drops it all.
        {".\r\n", true, "", DataError::None, all},
        {"a\r\n.\r\n", true, "a\r\n", DataError::None, all},
        {"a\r\n.\r\nMAIL FROM:<x>\r\n", true, "a\r\n", DataError::None, 6},
        {"..a\r\n.\r\n", true, ".a\r\n", DataError::None, all},
        {".a\r\n.\r\n", true, "a\r\n", DataError::None, all},
        {"...\r\n.\r\n", true, "..\r\n", DataError::None, all},
        {"a\r\n. \r\n.\r\n", true, "a\r\n \r\n", DataError::None, all},
        {"Subject: x\r\n\r\nbody\r\n", false, "Subject: x\r\n\r\nbody\r\n", DataError::None, all},
        {"a\r\n.", false, "a\r\n", DataError::None, all},
        {"a\r\n.\r", false, "a\r\n", DataError::None, all},
        // Smuggling shapes: none of these end the message.
        {"a\n.\n", false, "a", DataError::BareLf, all},
        {"a\n.\r\n", false, "a", DataError::BareLf, all},
        {"a\r\n.\n", false, "a\r\n", DataError::BareLf, all},
        {"a\r.\r\n", false, "a", DataError::BareCr, all},
        {"a\n.\nMAIL FROM:<x>\r\n.\r\n", true, "a", DataError::BareLf, all},
        {"a\r\n.\rMAIL FROM:<x>\r\n.\r\n", true, "a\r\n", DataError::BareCr, all},
        {"a\rb\r\n.\r\n", true, "a", DataError::BareCr, all},
        {"a\nb\r\n.\r\n", true, "a", DataError::BareLf, all},
        {std::string("a\0b\r\n.\r\n", 8), true, "a", DataError::Nul, all},
        {"\r\n.\r\n", true, "\r\n", DataError::None, all},
        {"\xff\xfe 8bit\r\n.\r\n", true, "\xff\xfe 8bit\r\n", DataError::None, all},
    };
  }

  void table() {
    for (size_t step : {size_t(0), size_t(1), size_t(2), size_t(7)}) {
      for (const auto& r : rows()) {
        Outcome o = run(r.in, step);
        std::string msg = "step " + std::to_string(step) + ": " + r.in;
        CPPUNIT_ASSERT_EQUAL_MESSAGE(msg, r.ended, o.ended);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(msg, r.content, o.content);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(msg, std::string(data_error_name(r.error)),
                                     std::string(data_error_name(o.error)));
        size_t want = r.consumed == std::string::npos ? r.in.size() : r.consumed;
        CPPUNIT_ASSERT_EQUAL_MESSAGE(msg, want, o.consumed);
      }
    }
  }

  void split_everywhere() {
    std::string in = "From: a\r\n..dots\r\n.\r\n";
    for (size_t cut = 0; cut <= in.size(); ++cut) {
      DataReader r(0);
      std::string out;
      size_t used = 0;
      auto st = r.feed(std::string_view(in).substr(0, cut), &out, &used);
      CPPUNIT_ASSERT_EQUAL(cut, used);
      if (cut < in.size()) {
        CPPUNIT_ASSERT(st == DataReader::Status::NeedMore);
        st = r.feed(std::string_view(in).substr(cut), &out, &used);
      }
      CPPUNIT_ASSERT(st == DataReader::Status::End);
      CPPUNIT_ASSERT_EQUAL(std::string("From: a\r\n.dots\r\n"), out);
    }
  }

  void size_limit() {
    std::string body = std::string(100, 'x') + "\r\n.\r\n";
    Outcome ok = run(body, 0, 102);
    CPPUNIT_ASSERT(ok.ended && ok.error == DataError::None);
    Outcome big = run(body, 1, 101);
    CPPUNIT_ASSERT(big.ended);
    CPPUNIT_ASSERT(big.error == DataError::TooBig);
    CPPUNIT_ASSERT(big.content.size() <= 101);
    CPPUNIT_ASSERT_EQUAL(std::string("552 5.3.4 Error: message file too big\r\n"),
                         data_error_reply(big.error).wire());
  }

  void line_limit() {
    Outcome ok = run(std::string(998, 'x') + "\r\n.\r\n", 0);
    CPPUNIT_ASSERT(ok.ended && ok.error == DataError::None);
    Outcome dot = run("." + std::string(998, 'x') + "\r\n.\r\n", 3);  // stuffed: 999 on the wire
    CPPUNIT_ASSERT(dot.ended && dot.error == DataError::LineTooLong);
    Outcome bad = run(std::string(999, 'x') + "\r\n.\r\n", 1);
    CPPUNIT_ASSERT(bad.ended && bad.error == DataError::LineTooLong);
    Outcome huge = run(std::string(100000, 'x') + "\r\n.\r\n", 4096);
    CPPUNIT_ASSERT(huge.ended && huge.error == DataError::LineTooLong);
    CPPUNIT_ASSERT_EQUAL(size_t(998), huge.content.size());
    // A configured limit (smtpd_line_limit 2000 -> 1998 text octets) replaces 998.
    for (size_t step : {size_t(0), size_t(1), size_t(7)}) {
      Outcome longer = run(std::string(1998, 'x') + "\r\n.\r\n", step, 0, 1998);
      CPPUNIT_ASSERT(longer.ended && longer.error == DataError::None);
      CPPUNIT_ASSERT_EQUAL(size_t(2000), longer.content.size());
      Outcome over = run(std::string(1999, 'x') + "\r\n.\r\n", step, 0, 1998);
      CPPUNIT_ASSERT(over.ended && over.error == DataError::LineTooLong);
    }
  }

  void chunks() {
    ChunkReader c(5, 0, 0);
    std::string out;
    size_t used = 0;
    CPPUNIT_ASSERT(c.feed("abc", &out, &used) == ChunkReader::Status::NeedMore);
    CPPUNIT_ASSERT_EQUAL(size_t(3), used);
    CPPUNIT_ASSERT(c.feed("de\r\nQUIT\r\n", &out, &used) == ChunkReader::Status::End);
    CPPUNIT_ASSERT_EQUAL(size_t(2), used);
    CPPUNIT_ASSERT_EQUAL(std::string("abcde"), out);
    CPPUNIT_ASSERT_EQUAL(uint64_t(5), c.total());
    // The total over chunks counts against the limit.
    ChunkReader d(10, 95, 100);
    out.clear();
    CPPUNIT_ASSERT(d.feed(std::string(10, 'y'), &out, &used) == ChunkReader::Status::End);
    CPPUNIT_ASSERT(d.error() == DataError::TooBig);
    ChunkReader z(3, 0, 0);
    out.clear();
    CPPUNIT_ASSERT(z.feed(std::string("a\0b", 3), &out, &used) == ChunkReader::Status::End);
    CPPUNIT_ASSERT(z.error() == DataError::Nul);
    ChunkReader empty(0, 0, 0);
    CPPUNIT_ASSERT(empty.feed("x", &out, &used) == ChunkReader::Status::End);
    CPPUNIT_ASSERT_EQUAL(size_t(0), used);
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(DataReaderTest);
