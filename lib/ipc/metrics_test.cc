// lib/ipc/metrics_test.cc - metrics(8)'s table and event decoder: the schema is enforced
// (names, labels, values), counters add, a publisher's gauges go with its link,
// histograms bucket cumulatively, the series limit holds, and the exposition text is
// Prometheus's format.
#include "lib/ipc/metrics.h"

#include <cppunit/extensions/HelperMacros.h>

using namespace postilion;
using namespace postilion::ipc;

namespace {

Message metric_message(const std::string& name, std::vector<std::string> labels, const std::string& value) {
  Message m;
  m.set("name", name);
  for (auto& l : labels) m.set("label", l);
  m.set("value", value);
  return m;
}

}  // namespace

class MetricsTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(MetricsTest);
  CPPUNIT_TEST(round_trip);
  CPPUNIT_TEST(refused_events);
  CPPUNIT_TEST(counters_gauges_links);
  CPPUNIT_TEST(histogram);
  CPPUNIT_TEST(series_limit);
  CPPUNIT_TEST_SUITE_END();

 public:
  void round_trip() {
    MetricEvent e{"postilion_smtpd_rejects_total", {{"service", "127.0.0.1:25"}, {"stage", "rcpt"}, {"code", "5xx"}}, 2};
    auto back = parse_metric(encode_metric(e));
    CPPUNIT_ASSERT(back.ok());
    CPPUNIT_ASSERT(back->name == e.name && back->labels == e.labels && back->value == 2);
    auto g = parse_metric(metric_message("postilion_connections", {"service=smtp"}, "-1"));
    CPPUNIT_ASSERT(g.ok() && g->value == -1);
  }

  void refused_events() {
    const std::vector<Message> bad = {
        Message(),
        metric_message("postilion_nonsense_total", {}, "1"),
        metric_message("postilion_connections", {}, "1"),                                  // label missing
        metric_message("postilion_connections", {"service=a", "extra=b"}, "1"),            // one too many
        metric_message("postilion_connections", {"servic=a"}, "1"),                        // wrong name
        metric_message("postilion_connections", {"service="}, "1"),                        // empty value
        metric_message("postilion_connections", {"service=a\"b"}, "1"),                    // quote: would break the text
        metric_message("postilion_connections", {"service=a\nb"}, "1"),
        metric_message("postilion_connections", {"service=" + std::string(65, 'a')}, "1"),  // too long
        metric_message("postilion_connections", {"service=a"}, "one"),
        metric_message("postilion_connections", {"service=a"}, "1e999"),                   // not finite
        metric_message("postilion_connections", {"service=a"}, "nan"),
        metric_message("postilion_connections", {"service=a"}, ""),
        metric_message("postilion_connections_total", {"service=a"}, "-1"),                // counters only grow
        metric_message("postilion_deliveries_total", {"status=sent", "transport=local"}, "1"),  // order
    };
    for (const auto& m : bad) {
      auto r = parse_metric(m);
      CPPUNIT_ASSERT(!r.ok());
      CPPUNIT_ASSERT(!r.error().empty());
    }
  }

  void counters_gauges_links() {
    MetricsTable t;
    Labels smtp{{"service", "smtp"}};
    CPPUNIT_ASSERT(t.apply(1, {"postilion_connections_total", smtp, 1}));
    CPPUNIT_ASSERT(t.apply(2, {"postilion_connections_total", smtp, 1}));
    CPPUNIT_ASSERT(t.apply(1, {"postilion_connections", smtp, 1}));
    CPPUNIT_ASSERT(t.apply(2, {"postilion_connections", smtp, 1}));
    CPPUNIT_ASSERT(t.apply(2, {"postilion_connections", smtp, 1}));
    t.set("postilion_queue_messages", {{"queue", "deferred"}}, 7);
    std::string text = t.render();
    CPPUNIT_ASSERT(text.find("# TYPE postilion_connections gauge\npostilion_connections{service=\"smtp\"} 3\n") !=
                   std::string::npos);
    CPPUNIT_ASSERT(text.find("postilion_connections_total{service=\"smtp\"} 2\n") != std::string::npos);
    CPPUNIT_ASSERT(text.find("postilion_queue_messages{queue=\"deferred\"} 7\n") != std::string::npos);
    // Link 2 (a process killed with its two sessions open) goes: its gauge share goes.
    t.drop_link(2);
    text = t.render();
    CPPUNIT_ASSERT(text.find("postilion_connections{service=\"smtp\"} 1\n") != std::string::npos);
    CPPUNIT_ASSERT(text.find("postilion_connections_total{service=\"smtp\"} 2\n") != std::string::npos);
    t.drop_link(1);
    CPPUNIT_ASSERT(t.render().find("postilion_connections{service=\"smtp\"} 0\n") != std::string::npos);
    // HELP and TYPE once per metric.
    CPPUNIT_ASSERT_EQUAL(std::string::npos, text.find("# TYPE postilion_connections gauge", text.find("# TYPE postilion_connections gauge") + 1));
  }

  void histogram() {
    MetricsTable t;
    Labels local{{"transport", "local"}};
    for (double v : {0.01, 0.2, 0.2, 3.0, 100000.0}) CPPUNIT_ASSERT(t.apply(1, {"postilion_delivery_delay_seconds", local, v}));
    std::string text = t.render();
    CPPUNIT_ASSERT(text.find("# TYPE postilion_delivery_delay_seconds histogram\n") != std::string::npos);
    CPPUNIT_ASSERT(text.find("postilion_delivery_delay_seconds_bucket{transport=\"local\",le=\"0.05\"} 1\n") != std::string::npos);
    CPPUNIT_ASSERT(text.find("postilion_delivery_delay_seconds_bucket{transport=\"local\",le=\"0.25\"} 3\n") != std::string::npos);
    CPPUNIT_ASSERT(text.find("postilion_delivery_delay_seconds_bucket{transport=\"local\",le=\"5\"} 4\n") != std::string::npos);
    CPPUNIT_ASSERT(text.find("postilion_delivery_delay_seconds_bucket{transport=\"local\",le=\"86400\"} 4\n") != std::string::npos);
    CPPUNIT_ASSERT(text.find("postilion_delivery_delay_seconds_bucket{transport=\"local\",le=\"+Inf\"} 5\n") != std::string::npos);
    CPPUNIT_ASSERT(text.find("postilion_delivery_delay_seconds_count{transport=\"local\"} 5\n") != std::string::npos);
    CPPUNIT_ASSERT(text.find("postilion_delivery_delay_seconds_sum{transport=\"local\"} 100003.41\n") != std::string::npos);
  }

  void series_limit() {
    MetricsTable t;
    size_t taken = 0;
    for (size_t i = 0; i < MetricsTable::kMaxSeries + 10; ++i)
      taken += t.apply(1, {"postilion_connections_total", {{"service", "s" + std::to_string(i)}}, 1});
    CPPUNIT_ASSERT_EQUAL(MetricsTable::kMaxSeries, taken);
    CPPUNIT_ASSERT_EQUAL(MetricsTable::kMaxSeries, t.series());
    // Known series still count.
    CPPUNIT_ASSERT(t.apply(1, {"postilion_connections_total", {{"service", "s1"}}, 1}));
    CPPUNIT_ASSERT(t.render().find("postilion_connections_total{service=\"s1\"} 2\n") != std::string::npos);
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(MetricsTest);
