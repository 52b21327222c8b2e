// lib/ipc/metrics.h - the counters daemons publish for metrics(8), the Prometheus
// exporter: the schema (every metric's name, type, help and labels, in one place), the
// wire form of one event (protocols.h), the table metrics(8) keeps and renders, and a
// daemon's publishing side.
//
// Publishing never waits and never fails a daemon: while metrics_listen is empty (the
// default) nothing is sent at all; while metrics(8) is absent, down or slow, events are
// dropped. Gauges a process publishes (connections) are deltas kept per publishing
// connection in the table, so a process that dies takes its share with it, as anvil's
// counts do.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lib/base/parsed.h"
#include "lib/event/event.h"
#include "lib/ipc/message.h"

namespace postilion::ipc {

enum class MetricType { Counter, Gauge, Histogram };

struct MetricSpec {
  const char* name;
  MetricType type;
  const char* help;
  std::vector<const char*> labels;  // every event names exactly these, in this order
};

// The metrics Postilion exports; metrics(8) accepts events for these only.
const std::vector<MetricSpec>& metric_schema();
const MetricSpec* find_metric(std::string_view name);
// The histogram's bucket bounds (seconds), ascending; +Inf is implied.
const std::vector<double>& delay_buckets();

using Labels = std::vector<std::pair<std::string, std::string>>;

struct MetricEvent {
  std::string name;
  Labels labels;
  double value = 1;  // counter: increment (>= 0); gauge: delta; histogram: observation
};

// Wire form: name=NAME, one label=KEY=VALUE per label in schema order, value=NUMBER.
Message encode_metric(const MetricEvent& e);
// Checks everything against the schema: a known name, its labels in order, label
// values of at most kMaxLabelValue bytes of [A-Za-z0-9_.:@/+-], a finite value (a
// counter's not negative).
constexpr size_t kMaxLabelValue = 64;
Parsed<MetricEvent> parse_metric(const Message& m);

// What metrics(8) keeps: counters and histograms for the life of the process, gauges
// per publishing link plus the ones it sets itself at scrape time.
class MetricsTable {
 public:
  static constexpr size_t kMaxSeries = 5000;  // label combinations over all metrics

  // False when the event would add a series past kMaxSeries (then it is dropped).
  bool apply(uint64_t link, const MetricEvent& e);
  // A publisher went away: its gauge deltas go with it.
  void drop_link(uint64_t link);
  // A gauge metrics(8) measures itself (queue sizes): replaces the value.
  void set(const std::string& name, const Labels& labels, double value);
  size_t series() const { return series_; }

  // The Prometheus text exposition format (version 0.0.4): # HELP and # TYPE once per
  // metric, series sorted, histograms as _bucket{le=...}, _sum and _count.
  std::string render() const;

 private:
  struct Histogram {
    std::vector<uint64_t> buckets;  // cumulative counts are made at render
    uint64_t count = 0;
    double sum = 0;
  };
  using Key = std::pair<std::string, Labels>;
  bool known(const Key& k) const;
  std::map<Key, double> values_;  // counters and metrics(8)'s own gauges
  std::map<uint64_t, std::map<Key, double>> link_gauges_;
  std::map<Key, Histogram> histograms_;
  size_t series_ = 0;
};

// ---- a daemon's side ------------------------------------------------------------
// Opens the link to metrics(8) at socket_path (queue_directory/private/metrics) for
// this process; before (or without) it the calls below do nothing. lib/service does it
// for every daemon when metrics_listen is set.
void metrics_open(event::EventBase& base, const std::string& socket_path);
void metrics_close();
bool metrics_enabled();
// Counter + n; gauge + delta; histogram observation.
void metric(std::string_view name, Labels labels, double value = 1);

}  // namespace postilion::ipc
