// lib/service/mail_session_test.cc - the mailbox servers' listener parameters read under
// either prefix, what they refuse (naming the parameter), where a password may go in
// clear text; table-driven.
#include "lib/service/mail_session.h"

#include <cppunit/extensions/HelperMacros.h>

using namespace postilion;
using namespace postilion::service;

class MailListenerTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(MailListenerTest);
  CPPUNIT_TEST(prefixes);
  CPPUNIT_TEST(refused);
  CPPUNIT_TEST(plaintext);
  CPPUNIT_TEST_SUITE_END();

 public:
  void prefixes() {
    auto cfg = config::Config::parse(
        "imapd_timeout = 45s\nimapd_client_limit = 7\nimapd_client_connection_count_limit = 3\n"
        "pop3d_timeout = 2m\npop3d_client_limit = 9\npop3d_plaintext_auth = yes\n"
        "imapd_tls_cert_file = /etc/imap.pem\n");
    auto imap = MailListener::from_config(cfg, "imapd_");
    auto pop = MailListener::from_config(cfg, "pop3d_");
    CPPUNIT_ASSERT(imap.ok() && pop.ok());
    CPPUNIT_ASSERT_EQUAL(int64_t(45000), imap->timeout_ms);
    CPPUNIT_ASSERT_EQUAL(int64_t(120000), pop->timeout_ms);
    CPPUNIT_ASSERT_EQUAL(int64_t(7), imap->client_limit);
    CPPUNIT_ASSERT_EQUAL(int64_t(9), pop->client_limit);
    CPPUNIT_ASSERT_EQUAL(3, imap->connection_count_limit);
    CPPUNIT_ASSERT(imap->plaintext == Plaintext::Loopback && pop->plaintext == Plaintext::Yes);
    // The key file defaults to the certificate file.
    CPPUNIT_ASSERT_EQUAL(std::string("/etc/imap.pem"), imap->key_file);
    CPPUNIT_ASSERT(pop->cert_file.empty());
    auto limits = pop->session_limits("pop3d_", "-ERR a\r\n", "-ERR b\r\n");
    CPPUNIT_ASSERT_EQUAL(std::string("pop3d_client_limit"), limits.client_limit_name);
    CPPUNIT_ASSERT_EQUAL(int64_t(9), limits.client_limit);
    CPPUNIT_ASSERT(!limits.tls.valid());
  }

  void refused() {
    struct Row {
      const char* text;
      const char* names;
    } rows[] = {
        {"imapd_plaintext_auth = sometimes\n", "imapd_plaintext_auth"},
        {"imapd_client_connection_count_limit = -1\n", "imapd_client_connection_count_limit"},
        {"imapd_client_connection_limit_exceptions = localhost\n", "imapd_client_connection_limit_exceptions"},
        {"imapd_tls_wrappermode = yes\n", "imapd_tls_wrappermode"},
        {"imapd_timeout = 0\n", "imapd_timeout"},
    };
    for (const auto& r : rows) {
      auto s = MailListener::from_config(config::Config::parse(r.text), "imapd_");
      CPPUNIT_ASSERT_MESSAGE(r.text, !s.ok());
      CPPUNIT_ASSERT_MESSAGE(s.error().str(), s.error().str().find(r.names) != std::string::npos);
      // The other daemon's parameters are not its business.
      CPPUNIT_ASSERT_MESSAGE(r.text, MailListener::from_config(config::Config::parse(r.text), "pop3d_").ok());
    }
  }

  void plaintext() {
    struct Row {
      Plaintext mode;
      bool tls;
      const char* ip;
      bool allowed;
    } rows[] = {
        {Plaintext::No, true, "192.0.2.1", true},         {Plaintext::No, false, "127.0.0.1", false},
        {Plaintext::Loopback, false, "127.3.0.9", true},  {Plaintext::Loopback, false, "::1", true},
        {Plaintext::Loopback, false, "::ffff:127.0.0.1", true}, {Plaintext::Loopback, false, "192.0.2.1", false},
        {Plaintext::Loopback, false, "1127.0.0.1", false}, {Plaintext::Yes, false, "192.0.2.1", true},
    };
    for (const auto& r : rows) {
      MailListener s;
      s.plaintext = r.mode;
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.ip, r.allowed, s.plaintext_allowed(r.tls, r.ip));
    }
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(MailListenerTest);
