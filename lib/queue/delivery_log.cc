// lib/queue/delivery_log.cc - the delivery outcome line and Postfix's delay notation.
#include "lib/queue/delivery_log.h"

#include <algorithm>

#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/ipc/metrics.h"
#include "lib/log/log.h"

namespace postilion::queue {
namespace {

constexpr int64_t kMillion = 1000000;
constexpr size_t kMaxAddress = 300, kMaxRelay = 300, kMaxDsn = 32, kMaxReason = 500, kMaxWord = 64;

int64_t span(int64_t from, int64_t to) { return std::max<int64_t>(0, to - from); }

}  // namespace

Delays delays_of(const DeliveryTimes& t, int64_t now_us) {
  int64_t done = t.done_us ? t.done_us : now_us;
  Delays d;
  d.total_us = span(t.arrival_us, done);
  if (!t.active_us) {  // no queue manager
    d.before_active_us = d.total_us;
    return d;
  }
  d.before_active_us = span(t.arrival_us, t.active_us);
  if (!t.handoff_us) {  // no delivery agent
    d.in_active_us = span(t.active_us, done);
    return d;
  }
  d.in_active_us = span(t.active_us, t.handoff_us);
  if (t.conn_us) {
    d.setup_us = span(t.handoff_us, t.conn_us);
    d.transmit_us = span(t.conn_us, done);
  } else {  // no network session
    d.transmit_us = span(t.handoff_us, done);
  }
  return d;
}

std::string format_delay(int64_t us) {
  us = std::max<int64_t>(0, us);
  int64_t sec = us / kMillion, usec = us % kMillion;
  // The resolution: two significant digits, never finer than 0.01 s, and whole seconds
  // from 10 s on.
  int64_t res = sec == 0 ? kMillion / 100 : sec < 10 ? kMillion / 10 : kMillion;
  usec += res / 2;  // round half up; what is below the resolution is not printed
  if (usec >= kMillion) {
    sec += 1;
    usec -= kMillion;
  }
  std::string out = std::to_string(sec);
  if (usec >= res) {
    out += '.';
    for (int64_t rem = usec, n = kMillion / 10; rem >= res && n > 0; n /= 10) {
      out += static_cast<char>('0' + rem / n);
      rem %= n;
    }
  }
  return out;
}

std::string delivery_line(const DeliveryEvent& e, int64_t now_us) {
  std::string line = str::printable(e.queue_id, kMaxWord) + ": to=<" + str::printable(e.recipient, kMaxAddress) + ">";
  if (!e.orig_recipient.empty() && e.orig_recipient != e.recipient)
    line += ", orig_to=<" + str::printable(e.orig_recipient, kMaxAddress) + ">";
  line += ", relay=" + str::printable(e.relay, kMaxRelay);
  Delays d = delays_of(e.times, now_us);
  line += ", delay=" + format_delay(d.total_us);
  line += ", delays=" + format_delay(d.before_active_us) + "/" + format_delay(d.in_active_us) + "/" +
          format_delay(d.setup_us) + "/" + format_delay(d.transmit_us);
  line += ", dsn=" + str::printable(e.dsn, kMaxDsn) + ", status=" + str::printable(e.status, kMaxWord) + " (" +
          str::printable(e.reason, kMaxReason) + ")";
  return line;
}

void log_delivery(const DeliveryEvent& e) {
  int64_t now = file::now_us();
  log::info("%s", delivery_line(e, now).c_str());
  if (!ipc::metrics_enabled() || e.status == "expanded") return;
  // The transport from the relay: local, virtual, none (no route), else an SMTP hop.
  std::string transport = e.relay == "local" || e.relay == "virtual" || e.relay == "none" ? std::string(e.relay)
                          : e.relay.rfind("local", 0) == 0                                 ? "local"
                                                                                           : "smtp";
  std::string status(e.status);
  if (status != "sent" && status != "deferred" && status != "bounced" && status != "expired") return;
  ipc::metric("postilion_deliveries_total", {{"transport", transport}, {"status", status}});
  if (status == "sent" && e.times.arrival_us > 0)
    ipc::metric("postilion_delivery_delay_seconds", {{"transport", transport}},
                static_cast<double>(delays_of(e.times, now).total_us) / 1e6);
}

}  // namespace postilion::queue
