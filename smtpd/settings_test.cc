// smtpd/settings_test.cc - smtpd(8)'s per-client limit parameters from main.conf:
// defaults (the exceptions follow $mynetworks), values, and the exceptions list as the
// server parses it (CIDR, comma or space separated; a malformed entry refused); the mail
// filter parameters, and the malformed ones refused at start.
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
  CPPUNIT_TEST(milter_parameters);
  CPPUNIT_TEST(content_filter_and_receive_overrides);
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

  void milter_parameters() {
    Settings d = *Settings::from_config(config::Config::parse("myhostname = mx.example.org\n"));
    CPPUNIT_ASSERT(d.milters.empty());
    CPPUNIT_ASSERT_EQUAL(6, d.milter_protocol);
    CPPUNIT_ASSERT_EQUAL(std::string("tempfail"), d.milter_default_action);
    CPPUNIT_ASSERT_EQUAL(int64_t{300000}, d.milter_content_timeout_ms);
    CPPUNIT_ASSERT_EQUAL(std::string("mx.example.org"), d.milter_daemon_name);  // $myhostname
    CPPUNIT_ASSERT((d.milter_macros[0] == std::vector<std::string>{"j", "{daemon_name}", "{daemon_addr}", "v", "_"}));
    Settings s = *Settings::from_config(config::Config::parse(
        "smtpd_milters = inet:127.0.0.1:11332, unix:/run/opendkim.sock\n"
        "milter_protocol = 4\nmilter_default_action = accept\nmilter_command_timeout = 5s\n"
        "milter_rcpt_macros = {rcpt_addr} i\nmilter_end_of_header_macros = {client_addr}\n"));
    CPPUNIT_ASSERT((s.milters == std::vector<std::string>{"inet:127.0.0.1:11332", "unix:/run/opendkim.sock"}));
    CPPUNIT_ASSERT_EQUAL(4, s.milter_protocol);
    CPPUNIT_ASSERT_EQUAL(std::string("accept"), s.milter_default_action);
    CPPUNIT_ASSERT_EQUAL(int64_t{5000}, s.milter_command_timeout_ms);
    CPPUNIT_ASSERT((s.milter_macros[3] == std::vector<std::string>{"{rcpt_addr}", "i"}));
    CPPUNIT_ASSERT((s.milter_macros[6] == std::vector<std::string>{"{client_addr}"}));
    // Refused at start, each with why.
    for (const char* bad : {"smtpd_milters = 127.0.0.1:11332\n", "smtpd_milters = { inet:127.0.0.1:1 }\n",
                            "milter_protocol = 5\n", "milter_default_action = discard\n"}) {
      auto r = Settings::from_config(config::Config::parse(bad));
      CPPUNIT_ASSERT_MESSAGE(bad, !r);
      CPPUNIT_ASSERT(!r.error().str().empty());
    }
  }

  // content_filter is kept as written (trimmed); receive_override_options turns off
  // the milters, the content checks and the unknown-recipient check, as on an after-queue
  // filter's re-injection listener; an unknown word is ignored.
  void content_filter_and_receive_overrides() {
    const std::string base =
        "smtpd_milters = inet:127.0.0.1:11332\nheader_checks = regexp:/h\nbody_checks = regexp:/b\n"
        "smtpd_milter_maps = cidr:/etc/postilion/smtpd_milter_map\n"
        "mime_header_checks = regexp:/m\nnested_header_checks = regexp:/n\n";
    Settings d = *Settings::from_config(config::Config::parse(base + "content_filter = smtp:[127.0.0.1]:10025 \n"));
    CPPUNIT_ASSERT_EQUAL(std::string("smtp:[127.0.0.1]:10025"), d.content_filter);
    CPPUNIT_ASSERT_EQUAL(size_t(1), d.milters.size());
    CPPUNIT_ASSERT_EQUAL(std::string("cidr:/etc/postilion/smtpd_milter_map"), d.milter_maps);
    CPPUNIT_ASSERT(d.local_recipient_check && !d.header_checks.empty() && !d.body_checks.empty());
    Settings r = *Settings::from_config(config::Config::parse(
        base + "content_filter = smtp:[127.0.0.1]:10025\ncontent_filter =\n"
               "receive_override_options = no_milters, no_header_body_checks,no_unknown_recipient_checks "
               "no_address_mappings bogus\n"));
    CPPUNIT_ASSERT(r.content_filter.empty());
    CPPUNIT_ASSERT(r.milters.empty());
    CPPUNIT_ASSERT(r.header_checks.empty() && r.body_checks.empty() && r.mime_header_checks.empty() &&
                   r.nested_header_checks.empty());
    CPPUNIT_ASSERT(!r.local_recipient_check);
    Settings m = *Settings::from_config(config::Config::parse(base + "receive_override_options = no_milters\n"));
    CPPUNIT_ASSERT(m.milters.empty() && !m.header_checks.empty() && m.local_recipient_check);
    CPPUNIT_ASSERT(m.milter_maps.empty());  // no_milters: no filters per client either
    for (const char* bad : {"content_filter = smtp\n", "content_filter = :[127.0.0.1]:10025\n",
                            "content_filter = s mtp:[h]\n", "content_filter = sm/tp:[h]\n"}) {
      auto e = Settings::from_config(config::Config::parse(bad));
      CPPUNIT_ASSERT_MESSAGE(bad, !e);
      CPPUNIT_ASSERT(e.error().str().find("content_filter") != std::string::npos);
    }
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(SettingsTest);
