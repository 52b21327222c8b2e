// smtp/content_test.cc - the streamed message: DATA transparency fed in pieces of every
// size gives the same bytes as in one go, reads from a file at an offset in bounded
// pieces, the 8-bit scan, and a file shorter than recorded is an error, not a short send.
#include "smtp/content.h"

#include <cppunit/extensions/HelperMacros.h>
#include <fcntl.h>

#include "lib/base/file.h"
#include "lib/base/unique_fd.h"
#include "lib/testing/temp_dir.h"
#include "smtp/session.h"

using namespace postilion;
using namespace postilion::smtp_client;

class ContentTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(ContentTest);
  CPPUNIT_TEST(stuffing_in_pieces);
  CPPUNIT_TEST(file_pieces);
  CPPUNIT_TEST(eight_bit);
  CPPUNIT_TEST(short_file);
  CPPUNIT_TEST_SUITE_END();

 public:
  void stuffing_in_pieces() {
    const char* rows[] = {"Subject: x\n\nbody\n", "a\r\n.b\r\n.\r\n", ".start", "no newline", "bare\rcr\n",
                          "", "\r\r\n\n.", "..\r\n..\r\n", "x\r", ".\r\n.\n.\r.", "a\n\r.b"};
    for (std::string in : rows) {
      std::string whole = data_payload(in);
      // Every split into two pieces, and one byte at a time.
      for (size_t cut = 0; cut <= in.size(); ++cut) {
        DotStuffer d;
        std::string out;
        d.add(std::string_view(in).substr(0, cut), &out);
        d.add(std::string_view(in).substr(cut), &out);
        d.finish(&out);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(in + " cut " + std::to_string(cut), whole, out);
      }
      DotStuffer d;
      std::string out;
      for (char c : in) d.add(std::string_view(&c, 1), &out);
      d.finish(&out);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(in, whole, out);
    }
    CPPUNIT_ASSERT_EQUAL(std::string("a\r\n..b\r\n\r\n.\r\n"), data_payload("a\n.b\r\n\n"));
  }

  void file_pieces() {
    testing::TempDir dir;
    // A message bigger than three pieces, with a dot at the start of a line right at a
    // piece boundary, behind 100 bytes of something else.
    std::string msg;
    while (msg.size() < 3 * Content::kPiece + 100) msg += "line of text that goes on for a while\n";
    msg.resize(Content::kPiece - 1);
    msg += "\n.dot at a boundary\n";
    while (msg.size() < 3 * Content::kPiece + 100) msg += "more text\n";
    std::string path = dir.file("q");
    CPPUNIT_ASSERT(file::write_file_atomic(path, std::string(100, 'H') + msg + "TRAILER", 0600).ok());
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    CPPUNIT_ASSERT(fd.valid());
    Content c(fd.get(), 100, msg.size());
    CPPUNIT_ASSERT_EQUAL(uint64_t(msg.size()), c.size());
    std::string got, stuffed;
    size_t pieces = 0, biggest = 0;
    DotStuffer d;
    CPPUNIT_ASSERT(c.each([&](std::string_view p) {
                      ++pieces;
                      biggest = std::max(biggest, p.size());
                      got.append(p);
                      d.add(p, &stuffed);
                      return Status{};
                    }).ok());
    d.finish(&stuffed);
    CPPUNIT_ASSERT_EQUAL(msg, got);
    CPPUNIT_ASSERT_EQUAL(size_t(4), pieces);
    CPPUNIT_ASSERT(biggest <= Content::kPiece);
    CPPUNIT_ASSERT_EQUAL(data_payload(msg), stuffed);
    CPPUNIT_ASSERT(stuffed.find("\r\n..dot at a boundary\r\n") != std::string::npos);
    auto whole = c.load();
    CPPUNIT_ASSERT(whole.ok());
    CPPUNIT_ASSERT_EQUAL(msg, *whole);
    // A sink error stops the reading and comes back as is.
    int calls = 0;
    auto st = c.each([&](std::string_view) {
      ++calls;
      return Status(Error("peer gone", EPIPE));
    });
    CPPUNIT_ASSERT(!st.ok());
    CPPUNIT_ASSERT_EQUAL(EPIPE, st.error().code());
    CPPUNIT_ASSERT_EQUAL(1, calls);
  }

  void eight_bit() {
    CPPUNIT_ASSERT_EQUAL(false, *Content(std::string("plain\r\n")).has_8bit());
    CPPUNIT_ASSERT_EQUAL(true, *Content(std::string("gr\xc3\xbc\xc3\x9f\r\n")).has_8bit());
    CPPUNIT_ASSERT_EQUAL(false, *Content(std::string()).has_8bit());
    testing::TempDir dir;
    std::string msg(2 * Content::kPiece + 7, 'a');
    msg[Content::kPiece + 3] = '\x80';  // only in the second piece
    CPPUNIT_ASSERT(file::write_file_atomic(dir.file("m"), msg, 0600).ok());
    UniqueFd fd(::open(dir.file("m").c_str(), O_RDONLY | O_CLOEXEC));
    CPPUNIT_ASSERT_EQUAL(true, *Content(fd.get(), 0, msg.size()).has_8bit());
    CPPUNIT_ASSERT_EQUAL(false, *Content(fd.get(), 0, Content::kPiece).has_8bit());
  }

  void short_file() {
    testing::TempDir dir;
    CPPUNIT_ASSERT(file::write_file_atomic(dir.file("m"), "short", 0600).ok());
    UniqueFd fd(::open(dir.file("m").c_str(), O_RDONLY | O_CLOEXEC));
    Content c(fd.get(), 0, 100);
    auto st = c.each([](std::string_view) { return Status{}; });
    CPPUNIT_ASSERT(!st.ok());
    CPPUNIT_ASSERT(st.error().str().find("shorter than recorded") != std::string::npos);
    CPPUNIT_ASSERT(!c.has_8bit().ok());
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ContentTest);
