// sendmail/smtp_mode_test.cc - the -bs dialogue, scripted, with bad commands.
#include "sendmail/smtp_mode.h"

#include <cppunit/extensions/HelperMacros.h>

#include <sstream>

using namespace postilion;

class SmtpModeTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(SmtpModeTest);
  CPPUNIT_TEST(dialogue);
  CPPUNIT_TEST(failures_and_eof);
  CPPUNIT_TEST_SUITE_END();

 public:
  void dialogue() {
    std::istringstream in(
        "EHLO client\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nRCPT TO:<e@f.example>\r\n"
        "DATA\r\nSubject: x\r\n\r\n..dot\r\nbody\r\n.\r\nNOOP\r\nFOO\r\nQUIT\r\n");
    std::ostringstream out;
    std::vector<std::string> got_rcpts;
    std::string got_content, got_sender;
    sendmail::smtp_session(in, out, "mx.test", [&](const std::string& s, const std::vector<std::string>& r,
                                                   const std::string& c, std::string* id) {
      got_sender = s;
      got_rcpts = r;
      got_content = c;
      *id = "ID1";
      return std::string();
    });
    CPPUNIT_ASSERT_EQUAL(std::string("a@b.example"), got_sender);
    CPPUNIT_ASSERT_EQUAL(size_t(2), got_rcpts.size());
    CPPUNIT_ASSERT_EQUAL(std::string("Subject: x\r\n\r\n.dot\r\nbody\r\n"), got_content);
    std::string o = out.str();
    CPPUNIT_ASSERT(o.starts_with("220 mx.test ESMTP"));
    CPPUNIT_ASSERT(o.find("250 2.0.0 Ok: queued as ID1") != std::string::npos);
    CPPUNIT_ASSERT(o.find("502 5.5.2") != std::string::npos);
    CPPUNIT_ASSERT(o.ends_with("221 2.0.0 Bye\r\n"));
  }

  void failures_and_eof() {
    std::istringstream in("RCPT TO:<c@d>\r\nMAIL FROM:bad\r\nMAIL FROM:<>\r\nDATA\r\nRCPT TO:<>\r\n"
                          "RCPT TO:<c@d>\r\nDATA\r\nx\r\n.\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\ncut off\r\n");
    std::ostringstream out;
    int submits = 0;
    sendmail::smtp_session(in, out, "mx", [&](const std::string& s, const std::vector<std::string>&,
                                              const std::string&, std::string*) {
      ++submits;
      CPPUNIT_ASSERT_EQUAL(std::string(""), s);  // the null sender
      return std::string("disk full");
    });
    std::string o = out.str();
    CPPUNIT_ASSERT(o.find("503 5.5.1 Error: need MAIL") != std::string::npos);
    CPPUNIT_ASSERT(o.find("501 5.1.7") != std::string::npos);
    CPPUNIT_ASSERT(o.find("554 5.5.1 Error: no valid recipients") != std::string::npos);
    CPPUNIT_ASSERT(o.find("501 5.1.3") != std::string::npos);
    CPPUNIT_ASSERT(o.find("451 4.3.0") != std::string::npos);
    CPPUNIT_ASSERT_EQUAL(1, submits);  // the message cut off by EOF is not queued
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(SmtpModeTest);
