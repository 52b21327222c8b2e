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
  CPPUNIT_TEST(filters);
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
        // DNS lists take a domain, with an optional reply filter.
        {"reject_rbl_client bl.example", "reject_rbl_client bl.example", true},
        {"reject_rbl_client, BL.Example=127.0.0.[2..11], permit_dnswl_client wl.example=127.0.[0..255].[2;3]",
         "reject_rbl_client bl.example=127.0.0.[2..11]|permit_dnswl_client wl.example=127.0.[0..255].[2;3]", true},
        {"reject_rhsbl_client dbl.example reject_rhsbl_sender dbl.example=127.0.1.2",
         "reject_rhsbl_client dbl.example|reject_rhsbl_sender dbl.example=127.0.1.2", true},
        {"reject_rbl_client", "reject_rbl_client needs a DNS list domain (reject_rbl_client domain[=filter])", false},
        {"reject_rbl_client, permit", "reject_rbl_client needs a DNS list domain (reject_rbl_client domain[=filter])", false},
        {"permit_dnswl_client reject", "permit_dnswl_client needs a DNS list domain (permit_dnswl_client domain[=filter])", false},
        {"reject_rbl_client bl..example", "reject_rbl_client: bad DNS list domain \"bl..example\"", false},
        {"reject_rbl_client .bl.example", "reject_rbl_client: bad DNS list domain \".bl.example\"", false},
        {"reject_rbl_client bl.example.", "reject_rbl_client: bad DNS list domain \"bl.example.\"", false},
        {"reject_rbl_client =127.0.0.2", "reject_rbl_client: bad DNS list domain \"\"", false},
        {"reject_rbl_client bl/example", "reject_rbl_client: bad DNS list domain \"bl/example\"", false},
        {"reject_rbl_client bl.example=", "reject_rbl_client bl.example: bad reply filter \"\": a number from 0 to 255 or [...] expected (expected d.d.d.d, each d a number or [n;n..m])", false},
        {"reject_rbl_client bl.example=127.0.0", "reject_rbl_client bl.example: bad reply filter \"127.0.0\": four octets needed (expected d.d.d.d, each d a number or [n;n..m])", false},
        {"reject_rbl_client bl.example=127.0.0.256", "reject_rbl_client bl.example: bad reply filter \"127.0.0.256\": a number from 0 to 255 or [...] expected (expected d.d.d.d, each d a number or [n;n..m])", false},
        {"reject_rbl_client bl.example=127.0.0.[11..2]", "reject_rbl_client bl.example: bad reply filter \"127.0.0.[11..2]\": range 11..2 runs backwards (expected d.d.d.d, each d a number or [n;n..m])", false},
        {"reject_rbl_client bl.example=127.0.0.[2..11", "reject_rbl_client bl.example: bad reply filter \"127.0.0.[2..11\": ';' or ']' expected (expected d.d.d.d, each d a number or [n;n..m])", false},
        {"reject_rbl_client bl.example=127.0.0.2.5", "reject_rbl_client bl.example: bad reply filter \"127.0.0.2.5\": text after the fourth octet (expected d.d.d.d, each d a number or [n;n..m])", false},
        {"reject_sender_login_mismatch, reject_authenticated_sender_login_mismatch",
         "reject_sender_login_mismatch|reject_authenticated_sender_login_mismatch", true},
        // The relay and recipient words, and the access tables they name.
        {"permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination",
         "permit_mynetworks|permit_sasl_authenticated|defer_unauth_destination", true},
        {"reject_unauth_destination reject_unlisted_recipient reject_non_fqdn_recipient reject_unknown_recipient_domain defer",
         "reject_unauth_destination|reject_unlisted_recipient|reject_non_fqdn_recipient|reject_unknown_recipient_domain|defer", true},
        {"check_recipient_access hash:/etc/postilion/access, check_client_access cidr:/etc/postilion/clients",
         "check_recipient_access hash:/etc/postilion/access|check_client_access cidr:/etc/postilion/clients", true},
        {"check_sender_access inline:{a.example=OK, b.example=REJECT no}, reject",
         "check_sender_access inline:{a.example=OK, b.example=REJECT no}|reject", true},
        {"check_helo_access inline:{x=OK", "check_helo_access inline:{x=OK", true},
        {"check_recipient_access", "check_recipient_access needs a lookup table (check_recipient_access type:name)", false},
        {"check_recipient_access, reject", "check_recipient_access needs a lookup table (check_recipient_access type:name)", false},
        {"check_recipient_access /etc/postilion/access", "check_recipient_access: bad lookup table \"/etc/postilion/access\" (expected type:name)", false},
        {"check_client_access :x", "check_client_access: bad lookup table \":x\" (expected type:name)", false},
        {"check_client_access hash:", "check_client_access: bad lookup table \"hash:\" (expected type:name)", false},
        {"check_client_access Hash/x:y", "check_client_access: bad lookup table \"Hash/x:y\" (expected type:name)", false},
        {"reject_unauth_pipelining", "reject_unauth_pipelining", true},
        {"check_policy_service inet:127.0.0.1:10023, check_policy_service unix:private/policy",
         "check_policy_service inet:127.0.0.1:10023|check_policy_service unix:private/policy", true},
        {"check_policy_service inet:[::1]:10023 check_policy_service inet:localhost:1",
         "check_policy_service inet:[::1]:10023|check_policy_service inet:localhost:1", true},
        {"check_policy_service", "check_policy_service needs a server (check_policy_service inet:host:port or unix:/path)", false},
        {"check_policy_service reject", "check_policy_service needs a server (check_policy_service inet:host:port or unix:/path)", false},
        {"check_policy_service inet:policy.example:10023", "check_policy_service: bad server \"inet:policy.example:10023\" (expected inet:host:port, host an IP address or localhost, or unix:/path)", false},
        {"check_policy_service inet:127.0.0.1", "check_policy_service: bad server \"inet:127.0.0.1\" (expected inet:host:port, host an IP address or localhost, or unix:/path)", false},
        {"check_policy_service inet:127.0.0.1:port", "check_policy_service: bad server \"inet:127.0.0.1:port\" (expected inet:host:port, host an IP address or localhost, or unix:/path)", false},
        {"check_policy_service 127.0.0.1:10023", "check_policy_service: bad server \"127.0.0.1:10023\" (expected inet:host:port, host an IP address or localhost, or unix:/path)", false},
        {"check_policy_service unix:", "check_policy_service: bad server \"unix:\" (expected inet:host:port, host an IP address or localhost, or unix:/path)", false},
        {"reject_unknown_reverse_client_hostname, reject_unknown_client_hostname",
         "reject_unknown_reverse_client_hostname|reject_unknown_client_hostname", true},
        {"permit_tls_clientcerts", "unknown restriction \"permit_tls_clientcerts\"", false},
        {"reject_unauth_destinaton", "unknown restriction \"reject_unauth_destinaton\"", false},
        {"reject_invalid_helo_hostname reject_non_fqdn_helo_hostname reject_non_fqdn_sender reject_unknown_sender_domain",
         "reject_invalid_helo_hostname|reject_non_fqdn_helo_hostname|reject_non_fqdn_sender|reject_unknown_sender_domain", true},
    };
    for (const auto& r : rows) {
      auto steps = config::parse_restriction_list(r.value);
      std::string got, why;
      if (steps)
        for (const auto& s : *steps) got += (got.empty() ? "" : "|") + describe(s);
      else
        why = steps.error();
      std::string msg = std::string("row: ") + r.value + " got: " + got + " why: " + why;
      CPPUNIT_ASSERT_EQUAL_MESSAGE(msg, r.ok, steps.ok());
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
    // The login mismatch checks need their table.
    err.clear();
    try {
      config::Config::parse("smtpd_sender_restrictions = reject_sender_login_mismatch\n", "main.conf");
    } catch (const config::ConfigError& e) {
      err = e.what();
    }
    CPPUNIT_ASSERT_EQUAL(std::string("main.conf:1: smtpd_sender_restrictions: reject_sender_login_mismatch needs "
                                     "smtpd_sender_login_maps"),
                         err);
    config::Config::parse("smtpd_sender_restrictions = reject_authenticated_sender_login_mismatch\n"
                          "smtpd_sender_login_maps = hash:/etc/postilion/senders\n");
    // A master.conf override is held to the same rules.
    err.clear();
    try {
      config::parse_master_conf("smtp inet n - n - - smtpd\nsubmission inet n - n - - smtpd\n"
                                "  -o smtpd_sender_restrictions=reject_rhsbl_sender\n",
                                config::Config::parse(""), "master.conf");
    } catch (const config::ConfigError& e) {
      err = e.what();
    }
    CPPUNIT_ASSERT_EQUAL(std::string("master.conf:2: -o smtpd_sender_restrictions: reject_rhsbl_sender needs a DNS "
                                     "list domain (reject_rhsbl_sender domain[=filter])"),
                         err);
    // Every list smtpd runs is held to the same rules, with file:line.
    for (const char* name : {"smtpd_relay_restrictions", "smtpd_recipient_restrictions", "smtpd_data_restrictions"}) {
      err.clear();
      try {
        config::Config::parse("# relay\n" + std::string(name) + " = permit_mynetworks,\n reject_unauth_destinaton\n",
                              "main.conf");
      } catch (const config::ConfigError& e) {
        err = e.what();
      }
      CPPUNIT_ASSERT_EQUAL(std::string("main.conf:2: ") + name + ": unknown restriction \"reject_unauth_destinaton\"",
                           err);
    }
    // Neither list able to refuse a relay attempt: an open relay, refused as Postfix does.
    for (const char* text : {"smtpd_relay_restrictions =\n",
                             "smtpd_relay_restrictions = permit_mynetworks\nsmtpd_recipient_restrictions = "
                             "permit_sasl_authenticated, reject_unlisted_recipient\n"}) {
      err.clear();
      try {
        config::Config::parse(text, "main.conf");
      } catch (const config::ConfigError& e) {
        err = e.what();
      }
      CPPUNIT_ASSERT_EQUAL(std::string("main.conf:1: smtpd_relay_restrictions, smtpd_recipient_restrictions: specify "
                                       "at least one working instance of reject_unauth_destination, "
                                       "defer_unauth_destination, reject or defer in one of them (else this server "
                                       "is an open relay)"),
                           err);
    }
    config::Config::parse("smtpd_relay_restrictions =\nsmtpd_recipient_restrictions = permit_mynetworks, "
                          "reject_unauth_destination\n");
    config::Config::parse("smtpd_relay_restrictions = permit_mynetworks, defer_unauth_destination\n");
    config::Config::parse("smtpd_relay_restrictions = permit_mynetworks, defer\n");
    config::Config relay = config::Config::parse("");
    CPPUNIT_ASSERT_THROW(relay.set("smtpd_relay_restrictions", "permit_mynetworks"), config::ConfigError);
    CPPUNIT_ASSERT_EQUAL(std::string("permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination"),
                         relay.str("smtpd_relay_restrictions"));
    err.clear();
    try {
      config::parse_master_conf("smtp inet n - n - - smtpd\n  -o smtpd_relay_restrictions=\n",
                                config::Config::parse(""), "master.conf");
    } catch (const config::ConfigError& e) {
      err = e.what();
    }
    CPPUNIT_ASSERT_MESSAGE(err, err.find("open relay") != std::string::npos);
    config::Config c = config::Config::parse("smtpd_client_restrictions = permit_mynetworks, reject\n");
    CPPUNIT_ASSERT_THROW(c.set("smtpd_client_restrictions", "permit_tls_clientcerts"), config::ConfigError);
    CPPUNIT_ASSERT_EQUAL(std::string("permit_mynetworks, reject"), c.str("smtpd_client_restrictions"));
  }

  // Reply filters: what they accept and which A records they match, with malformed,
  // oversized and hostile rows.
  void filters() {
    struct Row {
      std::string filter;
      bool ok;
      std::vector<std::string> match, miss;
    } rows[] = {
        {"127.0.0.2", true, {"127.0.0.2"}, {"127.0.0.3", "127.0.0.20", "127.0.0.2 ", "127.0.0", "::1", ""}},
        {"127.0.0.[2..11]", true, {"127.0.0.2", "127.0.0.11", "127.0.0.5"}, {"127.0.0.1", "127.0.0.12", "127.0.1.2"}},
        {"127.0.[0..255].[2;4;10..12]", true, {"127.0.9.2", "127.0.255.4", "127.0.0.11"}, {"127.0.0.3", "127.0.0.13"}},
        {"[0..255].[0..255].[0..255].[0..255]", true, {"0.0.0.0", "255.255.255.255"}, {"256.0.0.0", "1.2.3"}},
        {"127.0.0.[2]", true, {"127.0.0.2"}, {"127.0.0.22"}},
        {"127.0.0.002", true, {"127.0.0.2"}, {}},
        {"", false, {}, {}},
        {"127.0.0.", false, {}, {}},
        {"127.0.0.2.", false, {}, {}},
        {".127.0.0.2", false, {}, {}},
        {"127.0.0.-1", false, {}, {}},
        {"127.0.0.1000", false, {}, {}},
        {"127.0.0.[]", false, {}, {}},
        {"127.0.0.[;]", false, {}, {}},
        {"127.0.0.[2..]", false, {}, {}},
        {"127.0.0.[..2]", false, {}, {}},
        {"127.0.0.[2...3]", false, {}, {}},
        {"127.0.0.[2;]", false, {}, {}},
        {"127.0.0.[[2]]", false, {}, {}},
        {"127.0.0.x", false, {}, {}},
        {"127.0.0.2\n", false, {}, {}},
        {std::string("127.0.0.2\0", 10), false, {}, {}},
        {"127.0.0.[" + std::string(300, '2') + "]", false, {}, {}},
        {"127.0.0.[" + [] { std::string s; for (int i = 0; i < 60; ++i) s += "1;"; return s; }() + "2]", true, {"127.0.0.2"}, {}},
    };
    for (const auto& r : rows) {
      auto f = config::DnsblFilter::parse(r.filter);
      CPPUNIT_ASSERT_EQUAL_MESSAGE("filter: " + r.filter + " why: " + (f ? "" : f.error()), r.ok, f.ok());
      if (!f) CPPUNIT_ASSERT_MESSAGE("filter: " + r.filter, !f.error().empty());
      for (const auto& m : r.match) CPPUNIT_ASSERT_MESSAGE(r.filter + " should match " + m, f->matches(m));
      for (const auto& m : r.miss) CPPUNIT_ASSERT_MESSAGE(r.filter + " should not match " + m, !f->matches(m));
    }
    // Every truncated prefix of a good filter is refused, or is itself a shorter filter.
    std::string good = "127.0.[0..255].[2;4;10..12]";
    for (size_t n = 0; n < good.size(); ++n) {
      auto f = config::DnsblFilter::parse(good.substr(0, n));
      CPPUNIT_ASSERT_MESSAGE(good.substr(0, n), f.ok() || !f.error().empty());
    }
  }

 private:
  static std::string describe(const config::RestrictionStep& s) {
    std::string out = config::restriction_name(s.what);
    if (!s.domain.empty()) out += " " + s.domain;
    if (s.filter) out += "=" + s.filter->text();
    if (!s.table.empty()) out += " " + s.table;
    return out;
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(RestrictionsTest);
