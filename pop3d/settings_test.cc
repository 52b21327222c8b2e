// pop3d/settings_test.cc - pop3d(8)'s connection limit parameters from main.conf:
// defaults, values, the exceptions list (CIDR, comma or space separated) and what is
// refused at start; table-driven.
#include "pop3d/settings.h"

#include <cppunit/extensions/HelperMacros.h>

using namespace postilion;
using namespace postilion::pop3d;

class SettingsTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(SettingsTest);
  CPPUNIT_TEST(limit_defaults);
  CPPUNIT_TEST(limit_values);
  CPPUNIT_TEST(bad_values);
  CPPUNIT_TEST_SUITE_END();

 public:
  void limit_defaults() {
    Settings s = *Settings::from_config(config::Config::parse(""));
    CPPUNIT_ASSERT_EQUAL(10, s.connection_count_limit);
    CPPUNIT_ASSERT_EQUAL(0, s.connection_rate_limit);
    CPPUNIT_ASSERT_EQUAL(int64_t(60000), s.rate_time_unit_ms);
    CPPUNIT_ASSERT_EQUAL(int64_t(1000), s.anvil_timeout_ms);
    // Loopback clients are limited like any other unless listed.
    CPPUNIT_ASSERT(s.limit_exceptions.empty());
  }

  void limit_values() {
    Settings s = *Settings::from_config(config::Config::parse(
        "pop3d_client_connection_count_limit = 0\n"
        "pop3d_client_connection_rate_limit = 30\n"
        "anvil_rate_time_unit = 2m\n"
        "pop3d_client_connection_limit_exceptions = 127.0.0.0/8, [::1] 192.0.2.7,[2001:db8::]/32\n"));
    CPPUNIT_ASSERT_EQUAL(0, s.connection_count_limit);
    CPPUNIT_ASSERT_EQUAL(30, s.connection_rate_limit);
    CPPUNIT_ASSERT_EQUAL(int64_t(120000), s.rate_time_unit_ms);
    CPPUNIT_ASSERT_EQUAL(size_t(4), s.limit_exceptions.size());
    struct Row {
      const char* ip;
      bool exempt;
    } rows[] = {{"127.0.0.1", true},     {"127.255.0.9", true}, {"::1", true},          {"192.0.2.7", true},
                {"192.0.2.8", false},    {"2001:db8:5::1", true}, {"2001:db9::1", false}, {"10.0.0.1", false},
                {"unknown", false}};
    for (const auto& r : rows)
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.ip, r.exempt, cidr_list_contains(s.limit_exceptions, r.ip));
  }

  void bad_values() {
    const char* bad[] = {
        "pop3d_client_connection_limit_exceptions = 127.0.0.0/8, localhost\n",  // names are not networks
        "pop3d_client_connection_limit_exceptions = 10.0.0.0/33\n",
        "pop3d_client_connection_limit_exceptions = [::1]/129\n",
        "pop3d_client_connection_count_limit = -1\n",
        "pop3d_client_connection_rate_limit = -5\n",
        "pop3d_client_connection_count_limit = many\n",
    };
    for (const char* text : bad) {
      // Refused by the config's type check (a word for a number) or by from_config.
      bool refused = false;
      try {
        refused = !Settings::from_config(config::Config::parse(text)).ok();
      } catch (const config::ConfigError&) {
        refused = true;
      }
      CPPUNIT_ASSERT_MESSAGE(text, refused);
    }
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(SettingsTest);
