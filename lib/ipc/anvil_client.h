// lib/ipc/anvil_client.h - a server's side of anvil(8) (smtpd, pop3d): per-client
// connection count and rate limits over all processes of one master.conf service,
// asked on private/anvil. While anvil is absent, down or slow, this process's own
// counts decide (the service keeps serving; lib/ipc/service_link.h warns once per
// outage). Clients exempt from the limits are the caller's choice: it does not ask.
// Event rates (messages, recipients, AUTH commands) come from anvil alone: while it
// does not answer, they limit nothing.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>

#include "lib/event/event.h"
#include "lib/ipc/anvil_table.h"
#include "lib/ipc/service_link.h"

namespace postilion::ipc {

struct AnvilLimits {
  int count_limit = 0;  // simultaneous sessions per client IP (0: no limit)
  int rate_limit = 0;   // sessions per client IP per rate_unit_ms (0: no limit)
  int64_t rate_unit_ms = 60000;
  bool any() const { return count_limit > 0 || rate_limit > 0; }
};

enum class AnvilVerdict { Admit, CountExceeded, RateExceeded };

// The warning for a client over an event rate limit, in Postfix's words:
// "Message delivery request rate limit exceeded: 11 from unknown[192.0.2.7] for service smtpd".
std::string anvil_event_warning(AnvilEvent kind, int rate, const std::string& client, const std::string& service);

// The verdict on a session's counts (this session included); the count limit first.
AnvilVerdict anvil_verdict(const AnvilLimits& l, int count, int rate);
// The warning for a refused session, in Postfix's words:
// "Connection concurrency limit exceeded: 11 from unknown[192.0.2.7] for service pop3".
// client: "name[ip]". Empty for AnvilVerdict::Admit.
std::string anvil_warning(AnvilVerdict v, int count, int rate, const std::string& client,
                          const std::string& service);

class AnvilClient {
 public:
  // socket_path: queue_directory/private/anvil; service: the master.conf service name
  // (anvil's key is "service ip"); timeout_ms: the longest wait for anvil's answer.
  AnvilClient(event::EventBase& base, std::string socket_path, std::string service, AnvilLimits limits,
              int timeout_ms);
  AnvilClient(const AnvilClient&) = delete;
  AnvilClient& operator=(const AnvilClient&) = delete;

  const AnvilLimits& limits() const { return limits_; }
  const std::string& service() const { return service_; }

  struct Decision {
    AnvilVerdict verdict = AnvilVerdict::Admit;
    int count = 0;  // the counts the verdict was made on
    int rate = 0;
    bool from_anvil = false;  // false: this process's own counts
  };
  using Ticket = uint64_t;  // never 0
  using DecisionCallback = std::function<void(Ticket, const Decision&)>;

  // A session from ip starts. cb runs once with the verdict - at once when anvil is not
  // reachable (before begin() returns), else on the loop - unless end(ticket) came first.
  // Every ticket is passed to end() exactly once when its session is over, whatever the
  // verdict (anvil counted a refused session too); a second end() is ignored.
  Ticket begin(const std::string& ip, DecisionCallback cb);
  void end(Ticket t);

  // One event of ip counted by anvil over all processes of the service (a user event:
  // of the login in ip, over every service, per hour). cb runs once
  // with its rate in the current window (this one included), or 0 when anvil did not
  // answer well (no limit applies) - at once when anvil is not reachable, else on the
  // loop. The caller makes sure that what cb refers to still exists when it runs.
  using RateCallback = std::function<void(int rate)>;
  void event(AnvilEvent kind, const std::string& ip, RateCallback cb);

  // Sessions begun and not yet ended (tests; leak checks).
  size_t open() const { return open_.size(); }

 private:
  struct Open {
    std::string ip;
    uint64_t generation = 0;  // the anvil connection that counted it (0: none)
    DecisionCallback cb;      // empty once it ran
  };
  void on_answer(Ticket t, const std::string& ip, const Message* reply, const AnvilTable::Counts& local);

  std::string service_;
  AnvilLimits limits_;
  ServiceLink link_;
  // This process's counts (one link, 0): the answer while anvil is away.
  AnvilTable local_;
  int64_t local_expired_ms_ = 0;
  Ticket next_ = 1;
  std::unordered_map<Ticket, Open> open_;
};

}  // namespace postilion::ipc
