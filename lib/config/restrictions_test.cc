// lib/config/restrictions_test.cc - restriction lists: known words, arguments, and the
// refusal of what smtpd would not run, with file:line through Config::parse.
#include "lib/config/restrictions.h"

#include <cppunit/extensions/HelperMacros.h>

#include "lib/config/config.h"

using namespace postilion;

class RestrictionsTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(RestrictionsTest);
  CPPUNIT_TEST(lists);
  CPPUNIT_TEST(config_refuses_with_file_and_line);
  CPPUNIT_TEST_SUITE_END();

 public:
  void lists() {
    struct Row {
      const char* value;
      const char* want;  // steps joined by "|", or the error
      bool ok;
    } rows[] = {
        {"", "", true},
        {" , ,", "", true},
        {"permit_mynetworks, permit_sasl_authenticated, reject", "permit_mynetworks|permit_sasl_authenticated|reject", true},
        {"PERMIT_MYNETWORKS reject", "permit_mynetworks|reject", true},
        {"permit", "permit", true},
        {"reject_rbl_clent bl.example", "unknown restriction \"reject_rbl_clent\"", false},
        {"permit_mynetworks, check_relay_domains", "unknown restriction \"check_relay_domains\"", false},
        {"permit_mynetworks, bl.example", "unknown restriction \"bl.example\"", false},
        {"reject\x01", "unknown restriction \"reject\\001\"", false},
    };
    for (const auto& r : rows) {
      std::string why;
      auto steps = config::parse_restriction_list(r.value, &why);
      std::string got;
      if (steps)
        for (const auto& s : *steps) got += (got.empty() ? "" : "|") + describe(s);
      std::string msg = std::string("row: ") + r.value + " got: " + got + " why: " + why;
      CPPUNIT_ASSERT_EQUAL_MESSAGE(msg, r.ok, steps.has_value());
      CPPUNIT_ASSERT_EQUAL_MESSAGE(msg, std::string(r.want), r.ok ? got : why);
    }
  }

  void config_refuses_with_file_and_line() {
    std::string err;
    try {
      config::Config::parse("myhostname = a.example\n\nsmtpd_client_restrictions = permit_mynetworks,\n"
                            "  reject_rbl_clnt bl.example\n",
                            "/etc/postilion/main.conf");
    } catch (const config::ConfigError& e) {
      err = e.what();
    }
    CPPUNIT_ASSERT_EQUAL(std::string("/etc/postilion/main.conf:3: smtpd_client_restrictions: unknown restriction "
                                     "\"reject_rbl_clnt\""),
                         err);
    config::Config c = config::Config::parse("smtpd_client_restrictions = permit_mynetworks, reject\n");
    CPPUNIT_ASSERT_THROW(c.set("smtpd_client_restrictions", "permit_tls_clientcerts"), config::ConfigError);
    CPPUNIT_ASSERT_EQUAL(std::string("permit_mynetworks, reject"), c.str("smtpd_client_restrictions"));
  }

 private:
  static std::string describe(const config::RestrictionStep& s) { return config::restriction_name(s.what); }
};

CPPUNIT_TEST_SUITE_REGISTRATION(RestrictionsTest);
