// smtp/session_test.cc - the AUTH= parameter of MAIL FROM (RFC 4954 5): the mailbox in
// xtext (RFC 3461 4) only to a server this connection authenticated to, <> otherwise,
// nothing to a server without AUTH.
#include "smtp/session.h"

#include <cppunit/extensions/HelperMacros.h>

using namespace postilion;
using namespace postilion::smtp_client;

class SessionTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(SessionTest);
  CPPUNIT_TEST(mail_auth);
  CPPUNIT_TEST_SUITE_END();

 public:
  void mail_auth() {
    Capabilities with, without;
    with.auth = {"PLAIN", "LOGIN"};
    struct Row {
      const Capabilities* caps;
      bool authenticated;
      std::string auth;
      std::string want;
    } rows[] = {
        {&without, true, "alice@example.org", ""},
        {&without, false, "<>", ""},
        {&with, true, "alice@example.org", " AUTH=alice@example.org"},
        {&with, false, "alice@example.org", " AUTH=<>"},  // not authenticated to this server
        {&with, true, "<>", " AUTH=<>"},
        {&with, true, "", " AUTH=<>"},
        {&with, false, "", " AUTH=<>"},
        // xtext: '+', '=', controls, space and bytes past 126 as +HH (upper-case hex).
        {&with, true, "a+b=c@example.org", " AUTH=a+2Bb+3Dc@example.org"},
        {&with, true, "j\xc3\xb6rg@example.org", " AUTH=j+C3+B6rg@example.org"},
        {&with, true, "\"a b\"@example.org", " AUTH=\"a+20b\"@example.org"},
        {&with, true, "x\x7f\x01@example.org", " AUTH=x+7F+01@example.org"},
    };
    for (const auto& r : rows)
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.auth, r.want, mail_auth_param(*r.caps, r.authenticated, r.auth));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(SessionTest);
