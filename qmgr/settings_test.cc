// qmgr/settings_test.cc - qmgr's parameters from a main.conf text, good and bad.
#include "qmgr/settings.h"

#include <cppunit/extensions/HelperMacros.h>

#include "lib/config/config.h"

using namespace postilion;

class SettingsTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(SettingsTest);
  CPPUNIT_TEST(times);
  CPPUNIT_TEST(from_main_conf);
  CPPUNIT_TEST(classes_and_scheduling);
  CPPUNIT_TEST(content_filter);
  CPPUNIT_TEST(non_smtpd_milters);
  CPPUNIT_TEST_SUITE_END();

  static Result<qmgr::DaemonConfig> load(const std::string& text, std::vector<std::unique_ptr<maps::MapList>>* maps) {
    auto cfg = config::Config::parse(text);
    return qmgr::settings_from([&](const char* n) { return cfg.str(n); }, maps);
  }

 public:
  // non_smtpd_milters with smtpd's milter_* settings; receive_override_options=no_milters
  // turns them off; bad values are refused by name.
  void non_smtpd_milters() {
    std::vector<std::unique_ptr<maps::MapList>> maps;
    auto none = load("", &maps);
    CPPUNIT_ASSERT(none.ok() && none->pickup_milters.milters.filters.empty());
    auto c = load("queue_directory = /q\nnon_smtpd_milters = inet:127.0.0.1:11332, unix:/run/f.sock\n"
                  "milter_default_action = accept\nmilter_command_timeout = 5s\nmilter_rcpt_macros = {rcpt_addr} i\n",
                  &maps);
    CPPUNIT_ASSERT_MESSAGE(c.ok() ? "" : c.error().str(), c.ok());
    auto& m = c->pickup_milters.milters;
    CPPUNIT_ASSERT((m.filters == std::vector<std::string>{"inet:127.0.0.1:11332", "unix:/run/f.sock"}));
    CPPUNIT_ASSERT_EQUAL(std::string("accept"), m.default_action);
    CPPUNIT_ASSERT_EQUAL(int64_t(5000), m.command_timeout_ms);
    CPPUNIT_ASSERT((m.macros[3] == std::vector<std::string>{"{rcpt_addr}", "i"}));
    CPPUNIT_ASSERT_EQUAL(std::string("/q/maildrop"), c->pickup_milters.maildrop_dir);
    auto off = load("non_smtpd_milters = inet:127.0.0.1:11332\nreceive_override_options = no_header_body_checks, no_milters\n", &maps);
    CPPUNIT_ASSERT(off.ok() && off->pickup_milters.milters.filters.empty());
    for (const char* bad : {"non_smtpd_milters = 127.0.0.1:1\n", "non_smtpd_milters = inet:h:1\nmilter_protocol = 5\n",
                            "non_smtpd_milters = inet:h:1\nmilter_default_action = discard\n",
                            "non_smtpd_milters = inet:h:1, local:/x\n"}) {
      auto r = load(bad, &maps);
      CPPUNIT_ASSERT_MESSAGE(bad, !r.ok());
      CPPUNIT_ASSERT(r.error().str().find("milter") != std::string::npos);
    }
  }

  // content_filter (pickup's) and default_filter_nexthop; a value that is no
  // transport:nexthop is refused by name.
  void content_filter() {
    struct Row { const char* in; bool ok; } rows[] = {
        {"", true}, {"smtp:[127.0.0.1]:10025", true}, {"scan:", true}, {" lmtp:unix:/x ", true},
        {"smtp", false}, {":[127.0.0.1]:10025", false}, {"sm tp:[h]", false}, {"smtp:[h]\x01", false},
    };
    for (auto& r : rows) {
      std::vector<std::unique_ptr<maps::MapList>> maps;
      auto c = load(std::string("content_filter = ") + r.in + "\ndefault_filter_nexthop = [127.0.0.7]\n", &maps);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.ok, c.ok());
      if (!r.ok) CPPUNIT_ASSERT(c.error().str().find("content_filter") != std::string::npos);
      else CPPUNIT_ASSERT_EQUAL(std::string("[127.0.0.7]"), c->manager.route.default_filter_nexthop);
    }
    std::vector<std::unique_ptr<maps::MapList>> maps;
    CPPUNIT_ASSERT_EQUAL(std::string("smtp:[127.0.0.1]:10025"),
                         load("content_filter = smtp:[127.0.0.1]:10025\n", &maps)->manager.content_filter);
  }

  // Times as config's parser reads them (lib/config/value.h); a bad one is refused by name.
  void times() {
    struct Row { const char* in; bool ok; int64_t s; } rows[] = {
        {"300", true, 300}, {"300s", true, 300}, {"5m", true, 300}, {"4h", true, 14400}, {"5d", true, 432000},
        {"1w", true, 604800}, {"", false, 0}, {"m", false, 0}, {"-5s", false, 0}, {"5x", false, 0},
        {"99999999999999999d", false, 0},
    };
    auto cfg = config::Config::parse("");
    for (auto& r : rows) {
      std::vector<std::unique_ptr<maps::MapList>> maps;
      auto c = qmgr::settings_from(
          [&](const char* n) { return std::string(n) == "minimal_backoff_time" ? std::string(r.in) : cfg.str(n); },
          &maps);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.ok, c.ok());
      if (r.ok) CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.s, c->manager.minimal_backoff_time);
      else CPPUNIT_ASSERT_MESSAGE(c.error().str(), c.error().str().find("minimal_backoff_time") != std::string::npos);
    }
  }

  void from_main_conf() {
    std::vector<std::unique_ptr<maps::MapList>> maps;
    auto c = load("myhostname = MX.Example.org\nmydestination = $myhostname, example.org\n"
                  "transport_maps = inline:{special.test=smtp:[127.0.0.9]}\nminimal_backoff_time = 2m\n"
                  "local_destination_concurrency_limit = 3\n",
                  &maps);
    CPPUNIT_ASSERT_MESSAGE(c.ok() ? "" : c.error().str(), c.ok());
    auto& m = c->manager;
    CPPUNIT_ASSERT_EQUAL(std::string("mx.example.org"), m.route.myhostname);
    CPPUNIT_ASSERT_EQUAL(size_t(2), m.route.mydestination.size());
    CPPUNIT_ASSERT_EQUAL(std::string("local"), m.route.local_transport);  // from local:$myhostname
    CPPUNIT_ASSERT_EQUAL(std::string("smtp"), m.route.default_transport);
    CPPUNIT_ASSERT_EQUAL(int64_t(120), m.minimal_backoff_time);
    CPPUNIT_ASSERT_EQUAL(int64_t(5 * 86400), m.maximal_queue_lifetime);
    CPPUNIT_ASSERT_EQUAL(3, m.limits["local"].destination);
    CPPUNIT_ASSERT_EQUAL(1, m.recipient_limits["local"]);
    CPPUNIT_ASSERT(m.route.transport_map);
    CPPUNIT_ASSERT_EQUAL(std::string("smtp:[127.0.0.9]"), *m.route.transport_map("special.test"));
    auto r = qmgr::resolve(m.route, "x@special.test");
    CPPUNIT_ASSERT_EQUAL(std::string("[127.0.0.9]"), r[0].nexthop);
    auto bad = load("virtual_alias_maps = nosuchtype:/x\n", &maps);
    CPPUNIT_ASSERT(!bad.ok());
  }

  void classes_and_scheduling() {
    std::vector<std::unique_ptr<maps::MapList>> maps;
    auto c = load("relay_domains = Relayed.test, other.test\nvirtual_mailbox_domains = vbox.test\n"
                  "virtual_mailbox_maps = inline:{ann@vbox.test=vbox.test/ann/}\n"
                  "relay_transport = relay:[gw.test]:2525\nvirtual_transport = lmtp:[store]\n"
                  "initial_destination_concurrency = 3\ndefault_destination_rate_delay = 2s\n"
                  "smtp_destination_concurrency_limit = 7\nrelay_destination_rate_delay = 0\n"
                  "default_destination_concurrency_failed_cohort_limit = 4\n",
                  &maps);
    CPPUNIT_ASSERT_MESSAGE(c.ok() ? "" : c.error().str(), c.ok());
    auto& m = c->manager;
    CPPUNIT_ASSERT_EQUAL(size_t(2), m.route.relay_domains.size());
    CPPUNIT_ASSERT_EQUAL(std::string("relayed.test"), m.route.relay_domains[0]);
    CPPUNIT_ASSERT_EQUAL(std::string("relay"), m.route.relay_transport);
    CPPUNIT_ASSERT_EQUAL(std::string("[gw.test]:2525"), m.route.relay_nexthop);
    CPPUNIT_ASSERT_EQUAL(std::string("lmtp"), m.route.virtual_transport);
    CPPUNIT_ASSERT_EQUAL(std::string("[store]"), m.route.virtual_nexthop);
    CPPUNIT_ASSERT(m.route.virtual_mailbox_map);
    struct Row { const char* transport; int dest, initial, cohorts; int64_t delay_ms; } rows[] = {
        {"smtp", 7, 3, 4, 2000},    // its own limit, the rest from the defaults
        {"relay", 20, 3, 4, 0},     // relay_destination_rate_delay = 0
        {"local", 2, 3, 4, 2000},   // the scheduler caps local's initial 3 at its limit 2
        {"lmtp", 20, 3, 4, 2000},   // no lmtp_* parameters: the defaults
    };
    for (const auto& r : rows) {
      CPPUNIT_ASSERT_MESSAGE(r.transport, m.limits.count(r.transport));
      const qmgr::Limits& l = m.limits[r.transport];
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.transport, r.dest, l.destination);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.transport, r.initial, l.initial);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.transport, r.cohorts, l.failed_cohort_limit);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.transport, r.delay_ms, l.rate_delay_ms);
    }
    CPPUNIT_ASSERT_EQUAL(20, m.default_limits.destination);
    CPPUNIT_ASSERT_EQUAL(int64_t(2000), m.default_limits.rate_delay_ms);
    auto r = qmgr::resolve(m.route, "x@relayed.test");
    CPPUNIT_ASSERT_EQUAL(std::string("relay"), r[0].transport);
    CPPUNIT_ASSERT_EQUAL(std::string("[gw.test]:2525"), r[0].nexthop);
    CPPUNIT_ASSERT(qmgr::resolve(m.route, "bob@vbox.test")[0].kind == qmgr::Route::Kind::Bounce);
    CPPUNIT_ASSERT_EQUAL(std::string("lmtp"), qmgr::resolve(m.route, "ann@vbox.test")[0].transport);
    auto bad = load("initial_destination_concurrency = 0\n", &maps);
    CPPUNIT_ASSERT(!bad.ok());
    // Feedback: Postfix's forms, per transport or from the default; a bad one is named.
    auto fb = load("default_destination_concurrency_positive_feedback = 1/concurrency\n"
                   "smtp_destination_concurrency_negative_feedback = 1/4\n",
                   &maps);
    CPPUNIT_ASSERT_MESSAGE(fb.ok() ? "" : fb.error().str(), fb.ok());
    CPPUNIT_ASSERT(fb->manager.limits["smtp"].positive.per_window);
    CPPUNIT_ASSERT_DOUBLES_EQUAL(0.25, fb->manager.limits["smtp"].negative.value, 1e-12);
    CPPUNIT_ASSERT(fb->manager.limits["relay"].positive.per_window);
    CPPUNIT_ASSERT_DOUBLES_EQUAL(1.0, fb->manager.limits["relay"].negative.value, 1e-12);
    CPPUNIT_ASSERT(!fb->manager.limits["relay"].negative.per_window);
    auto badfb = load("local_destination_concurrency_negative_feedback = 2\n", &maps);
    CPPUNIT_ASSERT(!badfb.ok());
    CPPUNIT_ASSERT(badfb.error().str().find("local_destination_concurrency_negative_feedback") != std::string::npos);
    auto bad2 = load("relay_transport = :x\n", &maps);
    CPPUNIT_ASSERT(!bad2.ok());
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(SettingsTest);
