// lib/config/master_conf_test.cc - the service table: every column, every error.
#include <cppunit/extensions/HelperMacros.h>

#include "lib/config/config.h"

using namespace postilion;
using config::Config;
using config::ConfigError;
using config::ServiceEntry;

namespace {
std::string error_of(const std::string& text) {
  try {
    config::parse_master_conf(text, Config::parse(""));
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

class MasterConfTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(MasterConfTest);
  CPPUNIT_TEST(typical_table);
  CPPUNIT_TEST(inet_addresses);
  CPPUNIT_TEST(errors);
  CPPUNIT_TEST_SUITE_END();

 public:
  void typical_table() {
    auto t = config::parse_master_conf(
        "# service type private unpriv chroot wakeup maxproc command\n"
        "smtp      inet  n  -  n  -  -  smtpd\n"
        "127.0.0.1:2587 inet n - n - 10 smtpd\n"
        "   -o smtpd_sasl_auth_enable=yes -o smtpd_sasl_auth_required=yes\n"
        "qmgr      unix  n  -  n  300?  1  qmgr\n"
        "local     unix  -  n  n  -  -  local\n",
        Config::parse("default_process_limit = 7\n"));
    CPPUNIT_ASSERT_EQUAL(size_t(4), t.size());
    CPPUNIT_ASSERT(t[0].type == ServiceEntry::Type::Inet);
    CPPUNIT_ASSERT_EQUAL(uint16_t(25), t[0].port);
    CPPUNIT_ASSERT_EQUAL(std::string(""), t[0].host);
    CPPUNIT_ASSERT(!t[0].private_);
    CPPUNIT_ASSERT(t[0].unprivileged);
    CPPUNIT_ASSERT_EQUAL(7, t[0].maxproc);
    CPPUNIT_ASSERT_EQUAL(std::string("127.0.0.1"), t[1].host);
    CPPUNIT_ASSERT_EQUAL(uint16_t(2587), t[1].port);
    CPPUNIT_ASSERT_EQUAL(10, t[1].maxproc);
    CPPUNIT_ASSERT_EQUAL(size_t(4), t[1].args.size());
    CPPUNIT_ASSERT_EQUAL(std::string("smtpd_sasl_auth_enable=yes"), t[1].args[1]);
    CPPUNIT_ASSERT_EQUAL(3, t[1].line);
    CPPUNIT_ASSERT(t[2].type == ServiceEntry::Type::Unix);
    CPPUNIT_ASSERT_EQUAL(300, t[2].wakeup);
    CPPUNIT_ASSERT_EQUAL(1, t[2].maxproc);
    CPPUNIT_ASSERT(t[3].private_);
    CPPUNIT_ASSERT(!t[3].unprivileged);
    CPPUNIT_ASSERT_EQUAL(std::string("local"), t[3].command);
  }

  void inet_addresses() {
    auto t = config::parse_master_conf(
        "[::1]:2525 inet n - n - - smtpd\n"
        "*:submission inet n - n - - smtpd\n"
        "127.0.1.1:smtps inet n - n - - smtpd\n",
        Config::parse(""));
    CPPUNIT_ASSERT_EQUAL(std::string("::1"), t[0].host);
    CPPUNIT_ASSERT_EQUAL(uint16_t(2525), t[0].port);
    CPPUNIT_ASSERT_EQUAL(std::string(""), t[1].host);
    CPPUNIT_ASSERT_EQUAL(uint16_t(587), t[1].port);
    CPPUNIT_ASSERT_EQUAL(uint16_t(465), t[2].port);
  }

  void errors() {
    struct Row { const char* text; const char* want; } rows[] = {
        {"smtp inet n - n - smtpd\n", "master.conf:1: expected \"service type private"},
        {"smtp tcp n - n - - smtpd\n", "master.conf:1: type: expected inet or unix"},
        {"smtp inet x - n - - smtpd\n", "master.conf:1: private: expected y, n"},
        {"\nsmtp inet n - n - x smtpd\n", "master.conf:2: maxproc: expected a number or \"-\", got \"x\""},
        {"smtp inet n - n -5 - smtpd\n", "master.conf:1: wakeup: expected a number"},
        {"99999 inet n - n - - smtpd\n", "master.conf:1: port out of range"},
        {"nosuchservice inet n - n - - smtpd\n", "master.conf:1: unknown service port"},
        {"::1:25 inet n - n - - smtpd\n", "master.conf:1: write IPv6 addresses in brackets"},
        {"[::1 inet n - n - - smtpd\n", "master.conf:1: expected [address]:port"},
        {"qmgr unix n - n - 1 qmgr\nqmgr unix n - n - 1 qmgr\n", "master.conf:2: duplicate service \"qmgr\""},
        {"q/x unix n - n - 1 qmgr\n", "master.conf:1: bad unix service name"},
        {"qmgr unix n - n - 1 ../bin/sh\n", "master.conf:1: command: a program name"},
        {"smtp inet n - n - - smtpd -o\n", "master.conf:1: -o without name=value"},
        {"smtp inet n - n - - smtpd -o smtpd_timeout\n", "master.conf:1: -o smtpd_timeout: expected name=value"},
        {"smtp inet n - n - - smtpd -o smtpd_timeout=soon\n", "master.conf:1: -o smtpd_timeout: expected a time"},
        {"smtp inet n - n - - smtpd -o smtpd_tmeout=1\n", "master.conf:1: -o unknown parameter \"smtpd_tmeout\""},
        {"  -o x=y\n", "master.conf:1: continuation line without a service"},
    };
    for (auto& r : rows) {
      std::string got = error_of(r.text);
      CPPUNIT_ASSERT_MESSAGE(std::string("input: ") + r.text + " got: " + got, got.find(r.want) == 0);
    }
    CPPUNIT_ASSERT_EQUAL(std::string(""), error_of(""));
    CPPUNIT_ASSERT_EQUAL(std::string(""), error_of("# only a comment\n"));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(MasterConfTest);
