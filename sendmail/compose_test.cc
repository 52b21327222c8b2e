// sendmail/compose_test.cc - the message sendmail builds, from hostile and ordinary input.
#include "sendmail/compose.h"

#include <sysexits.h>

#include <cppunit/extensions/HelperMacros.h>

#include "lib/mail/header.h"

using namespace postilion;

namespace {

sendmail::Who who() { return {"joe", 1000, "example.org", "mx.example.org", 1795924877, "U1"}; }

sendmail::Options opts(std::vector<std::string> argv) {
  argv.insert(argv.begin(), "sendmail");
  return *sendmail::parse_options(argv).options;
}

}  // namespace

class ComposeTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(ComposeTest);
  CPPUNIT_TEST(plain_message);
  CPPUNIT_TEST(extract_recipients_and_bcc);
  CPPUNIT_TEST(dots);
  CPPUNIT_TEST(refusals);
  CPPUNIT_TEST_SUITE_END();

 public:
  void plain_message() {
    auto p = sendmail::prepare(opts({"-FJoe \"Q\" User", "bob"}), "Subject: hi\n\nhello\n", who());
    CPPUNIT_ASSERT_EQUAL(std::string(""), p.error);
    CPPUNIT_ASSERT_EQUAL(std::string("joe@example.org"), p.sender);
    CPPUNIT_ASSERT(std::vector<std::string>{"bob@example.org"} == p.recipients);
    auto h = mail::parse_headers(p.content);
    CPPUNIT_ASSERT_EQUAL(std::string("\"Joe Q User\" <joe@example.org>"), *h.get("From"));
    CPPUNIT_ASSERT_EQUAL(std::string("<U1@mx.example.org>"), *h.get("Message-ID"));
    CPPUNIT_ASSERT(h.has("Date") && h.has("Received") && h.has("Subject"));
    CPPUNIT_ASSERT_EQUAL(std::string("Received"), h.fields[0].name);
    CPPUNIT_ASSERT(p.content.ends_with("\r\n\r\nhello\r\n"));
    CPPUNIT_ASSERT(p.content.find("\n") == p.content.find("\r\n") + 1);
    // Existing From/Date/Message-ID are kept; -f sets the envelope sender.
    auto q = sendmail::prepare(opts({"-f", "list-bounces@example.org", "a@b"}),
                               "From: x@y\nDate: yesterday\nMessage-ID: <1@y>\n\nbody", who());
    CPPUNIT_ASSERT_EQUAL(std::string("list-bounces@example.org"), q.sender);
    auto qh = mail::parse_headers(q.content);
    CPPUNIT_ASSERT_EQUAL(std::string("x@y"), *qh.get("From"));
    CPPUNIT_ASSERT_EQUAL(size_t(1), qh.get_all("Date").size());
    CPPUNIT_ASSERT(q.content.ends_with("body\r\n"));
    auto n = sendmail::prepare(opts({"-f", "<>", "a@b"}), "x: y\n\nz\n", who());
    CPPUNIT_ASSERT_EQUAL(std::string(""), n.sender);
  }

  void extract_recipients_and_bcc() {
    auto p = sendmail::prepare(opts({"-t"}),
                               "To: Bob <bob@example.org>, carol\nCc: dave@remote.test\nBcc: secret@remote.test,\n  bob@example.org\n"
                               "Subject: s\n\nBcc: stays in the body\n",
                               who());
    CPPUNIT_ASSERT_EQUAL(std::string(""), p.error);
    std::vector<std::string> want = {"bob@example.org", "carol@example.org", "dave@remote.test", "secret@remote.test"};
    CPPUNIT_ASSERT(want == p.recipients);
    auto h = mail::parse_headers(p.content);
    CPPUNIT_ASSERT(!h.has("Bcc"));
    CPPUNIT_ASSERT(p.content.find("Bcc: stays in the body") != std::string::npos);
    auto none = sendmail::prepare(opts({"-t"}), "Subject: nobody\n\nx\n", who());
    CPPUNIT_ASSERT_EQUAL(EX_NOUSER, none.exit_code);
  }

  void dots() {
    auto a = sendmail::prepare(opts({"a@b"}), "Subject: x\n\nline\n.\nafter\n", who());
    CPPUNIT_ASSERT(a.content.find("after") == std::string::npos);
    auto b = sendmail::prepare(opts({"-i", "a@b"}), "Subject: x\n\nline\n.\nafter\n", who());
    CPPUNIT_ASSERT(b.content.find("\r\n.\r\nafter") != std::string::npos);
    auto c = sendmail::prepare(opts({"-oi", "a@b"}), "Subject: x\n\n..two\n", who());
    CPPUNIT_ASSERT(c.content.find("..two") != std::string::npos);
    auto d = sendmail::prepare(opts({"a@b"}), "no header here at all\n", who());
    CPPUNIT_ASSERT(d.content.find("\r\n\r\nno header here at all\r\n") != std::string::npos);
  }

  void refusals() {
    auto bad_rcpt = sendmail::prepare(opts({"a\rb@x"}), "x: y\n\nz\n", who());
    CPPUNIT_ASSERT_EQUAL(EX_DATAERR, bad_rcpt.exit_code);
    auto bad_sender = sendmail::prepare(opts({"-f", "a@b\r\nRCPT", "c@d"}), "x\n", who());
    CPPUNIT_ASSERT_EQUAL(EX_DATAERR, bad_sender.exit_code);
    auto at = sendmail::prepare(opts({"@nowhere"}), "x\n", who());
    CPPUNIT_ASSERT_EQUAL(EX_DATAERR, at.exit_code);
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ComposeTest);
