// lib/ipc/metrics.cc - metric schema, events, the exporter's table, the publishing side.
#include "lib/ipc/metrics.h"

#include <cmath>
#include <cstdio>
#include <memory>

#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/ipc/channel.h"

namespace postilion::ipc {

const std::vector<MetricSpec>& metric_schema() {
  using T = MetricType;
  static const std::vector<MetricSpec> kSchema = {
      {"postilion_connections", T::Gauge, "Client connections open now, per master.conf service.", {"service"}},
      {"postilion_connections_total", T::Counter, "Client connections accepted, per master.conf service.",
       {"service"}},
      {"postilion_tls_handshakes_total", T::Counter, "TLS handshakes with clients, by result (ok, failed).",
       {"service", "result"}},
      {"postilion_messages_received_total", T::Counter,
       "Messages queued, per receiving service (smtpd services; pickup for sendmail/postdrop).", {"service"}},
      {"postilion_smtpd_rejects_total", T::Counter,
       "SMTP commands and messages refused, by stage (connect, helo, mail, rcpt, data, content, milter) and "
       "reply class (4xx, 5xx).",
       {"service", "stage", "code"}},
      {"postilion_deliveries_total", T::Counter,
       "Recipient delivery outcomes, by transport and status (sent, deferred, bounced, expired).",
       {"transport", "status"}},
      {"postilion_delivery_delay_seconds", T::Histogram,
       "Time from arrival in the queue to delivery, of each recipient sent.", {"transport"}},
      {"postilion_queue_messages", T::Gauge, "Messages in each queue folder, counted at scrape time.", {"queue"}},
  };
  return kSchema;
}

const MetricSpec* find_metric(std::string_view name) {
  for (const auto& s : metric_schema())
    if (name == s.name) return &s;
  return nullptr;
}

const std::vector<double>& delay_buckets() {
  static const std::vector<double> kBuckets = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600,
                                               14400, 86400};
  return kBuckets;
}

namespace {

bool label_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("_.:@/+-[]").find(c) != std::string_view::npos;
}

std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.15g", v);
  return buf;
}

std::string series_text(const std::string& name, const Labels& labels, const std::string& extra = "") {
  std::string out = name;
  if (labels.empty() && extra.empty()) return out;
  out += '{';
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out += ',';
    first = false;
    out += k + "=\"" + v + "\"";  // values are checked: nothing to escape
  }
  if (!extra.empty()) out += (first ? "" : ",") + extra;
  return out + '}';
}

}  // namespace

Message encode_metric(const MetricEvent& e) {
  Message m;
  m.set("name", e.name);
  for (const auto& [k, v] : e.labels) m.set("label", k + "=" + v);
  m.set("value", number(e.value));
  return m;
}

Parsed<MetricEvent> parse_metric(const Message& m) {
  auto name = m.get("name");
  if (!name) return std::string("no name");
  const MetricSpec* spec = find_metric(*name);
  if (!spec) return "unknown metric " + str::printable(*name, 80);
  MetricEvent e;
  e.name = std::string(*name);
  auto labels = m.get_all("label");
  if (labels.size() != spec->labels.size()) return e.name + ": wants " + std::to_string(spec->labels.size()) + " labels";
  for (size_t i = 0; i < labels.size(); ++i) {
    std::string_view l = labels[i];
    size_t eq = l.find('=');
    if (eq == std::string_view::npos || l.substr(0, eq) != spec->labels[i])
      return e.name + ": label " + std::to_string(i + 1) + " is not " + spec->labels[i];
    std::string_view v = l.substr(eq + 1);
    if (v.empty() || v.size() > kMaxLabelValue) return e.name + ": empty or long label value";
    for (char c : v)
      if (!label_char(c)) return e.name + ": bad character in label value";
    e.labels.emplace_back(std::string(l.substr(0, eq)), std::string(v));
  }
  auto value = m.get("value");
  if (!value || value->empty() || value->size() > 32) return e.name + ": no value";
  std::string text(*value);
  char* end = nullptr;
  e.value = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || !std::isfinite(e.value)) return e.name + ": bad value";
  if (spec->type == MetricType::Counter && e.value < 0) return e.name + ": a counter only grows";
  return e;
}

bool MetricsTable::known(const Key& k) const {
  return values_.count(k) || histograms_.count(k) ||
         [&] {
           for (const auto& [link, g] : link_gauges_)
             if (g.count(k)) return true;
           return false;
         }();
}

bool MetricsTable::apply(uint64_t link, const MetricEvent& e) {
  const MetricSpec* spec = find_metric(e.name);
  if (!spec) return false;
  Key k{e.name, e.labels};
  if (!known(k)) {
    if (series_ >= kMaxSeries) return false;
    ++series_;
  }
  switch (spec->type) {
    case MetricType::Counter:
      values_[k] += e.value;
      break;
    case MetricType::Gauge:
      link_gauges_[link][k] += e.value;
      break;
    case MetricType::Histogram: {
      auto& h = histograms_[k];
      const auto& bounds = delay_buckets();
      h.buckets.resize(bounds.size());
      for (size_t i = 0; i < bounds.size(); ++i)
        if (e.value <= bounds[i]) {
          ++h.buckets[i];
          break;
        }
      ++h.count;
      h.sum += e.value;
      break;
    }
  }
  return true;
}

void MetricsTable::drop_link(uint64_t link) {
  auto it = link_gauges_.find(link);
  if (it == link_gauges_.end()) return;
  // The series stay (at 0 when no other link adds to them): a gauge that vanished would
  // read as "no data" rather than "none open".
  for (auto& [k, v] : it->second) values_.emplace(k, 0);
  link_gauges_.erase(it);
}

void MetricsTable::set(const std::string& name, const Labels& labels, double value) {
  Key k{name, labels};
  if (!known(k)) {
    if (series_ >= kMaxSeries) return;
    ++series_;
  }
  values_[k] = value;
}

std::string MetricsTable::render() const {
  // Gauges: the table's own values plus every link's deltas.
  std::map<Key, double> all = values_;
  for (const auto& [link, g] : link_gauges_)
    for (const auto& [k, v] : g) all[k] += v;
  std::string out;
  for (const auto& spec : metric_schema()) {
    std::string name = spec.name;
    bool any = false;
    auto head = [&] {
      if (any) return;
      any = true;
      out += "# HELP " + name + " " + spec.help + "\n# TYPE " + name + " " +
             (spec.type == MetricType::Counter ? "counter" : spec.type == MetricType::Gauge ? "gauge" : "histogram") +
             "\n";
    };
    if (spec.type == MetricType::Histogram) {
      for (auto it = histograms_.lower_bound({name, {}}); it != histograms_.end() && it->first.first == name; ++it) {
        head();
        const auto& h = it->second;
        const auto& bounds = delay_buckets();
        uint64_t cumulative = 0;
        for (size_t i = 0; i < bounds.size(); ++i) {
          cumulative += i < h.buckets.size() ? h.buckets[i] : 0;
          out += series_text(name + "_bucket", it->first.second, "le=\"" + number(bounds[i]) + "\"") + " " +
                 std::to_string(cumulative) + "\n";
        }
        out += series_text(name + "_bucket", it->first.second, "le=\"+Inf\"") + " " + std::to_string(h.count) + "\n";
        out += series_text(name + "_sum", it->first.second) + " " + number(h.sum) + "\n";
        out += series_text(name + "_count", it->first.second) + " " + std::to_string(h.count) + "\n";
      }
      continue;
    }
    for (auto it = all.lower_bound({name, {}}); it != all.end() && it->first.first == name; ++it) {
      head();
      out += series_text(name, it->first.second) + " " + number(it->second) + "\n";
    }
  }
  return out;
}

// ---- publishing -------------------------------------------------------------------

namespace {

constexpr int64_t kRetryPauseMs = 5000;
constexpr size_t kMaxBacklog = 256 * 1024;  // bytes waiting for metrics(8): past it, drop

struct Publisher {
  event::EventBase* base = nullptr;
  std::string path;
  std::unique_ptr<Channel> channel;
  int64_t retry_after_ms = 0;
};

Publisher& publisher() {
  static Publisher p;
  return p;
}

Channel* connected() {
  Publisher& p = publisher();
  if (!p.base) return nullptr;
  if (p.channel) return p.channel.get();
  if (file::monotonic_ms() < p.retry_after_ms) return nullptr;
  auto ch = Channel::connect(*p.base, p.path, 4096, -1);
  if (!ch) {
    p.retry_after_ms = file::monotonic_ms() + kRetryPauseMs;
    return nullptr;
  }
  p.channel = std::move(ch.value());
  p.channel->on_message([](Message&&) {});  // metrics(8) says nothing back
  p.channel->on_close([](const std::string&) {
    Publisher& q = publisher();
    q.retry_after_ms = file::monotonic_ms() + kRetryPauseMs;
    if (q.channel && q.base) q.base->defer_delete(std::move(q.channel));
  });
  p.channel->start();
  return p.channel.get();
}

}  // namespace

void metrics_open(event::EventBase& base, const std::string& socket_path) {
  metrics_close();
  publisher().base = &base;
  publisher().path = socket_path;
}

void metrics_close() {
  Publisher& p = publisher();
  if (p.channel) p.channel->shutdown();
  p.channel.reset();
  p.base = nullptr;
  p.retry_after_ms = 0;
}

bool metrics_enabled() { return publisher().base != nullptr; }

void metric(std::string_view name, Labels labels, double value) {
  Channel* ch = connected();
  if (!ch || ch->pending_output() > kMaxBacklog) return;
  ch->send(encode_metric(MetricEvent{std::string(name), std::move(labels), value}));
}

}  // namespace postilion::ipc
