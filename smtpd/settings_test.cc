// smtpd/settings_test.cc - smtpd(8)'s per-client limit parameters from main.conf:
// defaults (the exceptions follow $mynetworks), values, and the exceptions list as the
// server parses it (CIDR, comma or space separated; a malformed entry refused).
#include "smtpd/settings.h"

#include <cppunit/extensions/HelperMacros.h>

#include "lib/base/cidr.h"
#include "lib/config/config.h"

using namespace postilion;
using namespace postilion::smtpd;

class SettingsTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(SettingsTest);
  CPPUNIT_TEST(limit_defaults);
  CPPUNIT_TEST(limit_values);
  CPPUNIT_TEST_SUITE_END();

 public:
  void limit_defaults() {
    Settings s = *Settings::from_config(config::Config::parse(""));
    CPPUNIT_ASSERT_EQUAL(0, s.message_rate_limit);
    CPPUNIT_ASSERT_EQUAL(0, s.recipient_rate_limit);
    CPPUNIT_ASSERT_EQUAL(0, s.auth_rate_limit);
    CPPUNIT_ASSERT(s.mynetworks == s.limit_exceptions);
    // $mynetworks follows a changed mynetworks.
    Settings t = *Settings::from_config(config::Config::parse("mynetworks = 192.0.2.0/24\n"));
    CPPUNIT_ASSERT(t.limit_exceptions == std::vector<std::string>{"192.0.2.0/24"});
  }

  void limit_values() {
    Settings s = *Settings::from_config(config::Config::parse(
        "smtpd_client_message_rate_limit = 10\n"
        "smtpd_client_recipient_rate_limit = 100\n"
        "smtpd_client_auth_rate_limit = 5\n"
        "smtpd_client_event_limit_exceptions = 127.0.0.0/8, [::1] 192.0.2.7,[2001:db8::]/32\n"));
    CPPUNIT_ASSERT_EQUAL(10, s.message_rate_limit);
    CPPUNIT_ASSERT_EQUAL(100, s.recipient_rate_limit);
    CPPUNIT_ASSERT_EQUAL(5, s.auth_rate_limit);
    auto ex = parse_cidr_list(s.limit_exceptions);
    CPPUNIT_ASSERT(ex);
    CPPUNIT_ASSERT_EQUAL(size_t(4), ex->size());
    struct Row {
      const char* ip;
      bool exempt;
    } rows[] = {{"127.0.0.1", true}, {"::1", true},           {"192.0.2.7", true}, {"192.0.2.8", false},
                {"2001:db8:5::1", true}, {"2001:db9::1", false}, {"unknown", false}};
    for (const auto& r : rows) CPPUNIT_ASSERT_EQUAL_MESSAGE(r.ip, r.exempt, cidr_list_contains(*ex, r.ip));
    // Empty: nobody is exempt.
    Settings none = *Settings::from_config(config::Config::parse("smtpd_client_event_limit_exceptions =\n"));
    CPPUNIT_ASSERT(none.limit_exceptions.empty());
    // A host name or a broken network is no network: Server::init() refuses it.
    for (const char* bad : {"mail.example.org", "192.0.2.0/33", "192.0.2.300"}) {
      Settings b = *Settings::from_config(
          config::Config::parse(std::string("smtpd_client_event_limit_exceptions = ") + bad + "\n"));
      CPPUNIT_ASSERT_MESSAGE(bad, !parse_cidr_list(b.limit_exceptions));
    }
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(SettingsTest);
