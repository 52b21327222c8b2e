// lib/queue/delivery_log.h - the one line a recipient's delivery outcome is logged with,
// by qmgr and by every delivery agent, in Postfix's shape (its log_adhoc):
//   ID: to=<rcpt>[, orig_to=<addr>], relay=R, delay=D, delays=a/b/c/d, dsn=X.Y.Z, status=S (reason)
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace postilion::queue {

// Time stamps of one delivery, in microseconds since the epoch; 0 means "not stamped".
struct DeliveryTimes {
  int64_t arrival_us = 0;  // the message entered the queue
  int64_t active_us = 0;   // qmgr took it in hand (an agent: when it got the request)
  int64_t handoff_us = 0;  // a delivery agent got it
  int64_t conn_us = 0;     // a session with the next hop was ready (network agents)
  int64_t done_us = 0;     // the outcome was known; 0: the time of logging
};

// delays=a/b/c/d, as Postfix splits delay=: a before qmgr (arrival to active), b in
// qmgr (active to hand-off), c connection set-up (hand-off to session), d transmission
// (session, or hand-off without one, to done). A missing stamp ends the chain there:
// without active the whole delay is a; without a hand-off, b runs to done; without a
// session, c is 0. A clock that went back counts as 0.
struct Delays {
  int64_t total_us = 0, before_active_us = 0, in_active_us = 0, setup_us = 0, transmit_us = 0;
};
Delays delays_of(const DeliveryTimes& t, int64_t now_us);

// Postfix's delay notation (format_tv with two significant digits and at most two
// decimals): "0", "0.01" .. "0.99", "1" .. "9.9", then whole seconds ("10", "12",
// "3601"), rounded half up, trailing zeros dropped. Negative is 0.
std::string format_delay(int64_t us);

struct DeliveryEvent {
  std::string_view queue_id;
  std::string_view recipient;       // to=
  std::string_view orig_recipient;  // orig_to=, shown when set and not the recipient
  std::string_view relay;           // local, virtual, none, host[addr]:port
  std::string_view dsn;
  std::string_view status;          // sent, deferred, bounced, expired, expanded
  std::string_view reason;
  DeliveryTimes times;
};

// The line, without the program prefix. Every text, also what a peer sent (reason,
// relay, dsn, addresses), has its control characters, backslashes and non-ASCII bytes
// escaped as \ooo (str::printable) and is cut to a bounded length.
std::string delivery_line(const DeliveryEvent& e, int64_t now_us);

// Logs the line (lib/log, severity info) with the current time.
void log_delivery(const DeliveryEvent& e);

}  // namespace postilion::queue
