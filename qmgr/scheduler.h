// qmgr/scheduler.h - which delivery runs next: per-transport and per-destination
// concurrency limits, round-robin between destinations so one slow site cannot starve
// the rest, and the retry arithmetic for deferred mail. No I/O, no clock of its own.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace postilion::qmgr {

// One request to one agent: some recipients of one message, same transport/nexthop.
struct Job {
  std::string queue_id;
  std::string transport;
  std::string nexthop;
  std::vector<size_t> recipients;  // indexes into the message's recipient list
};

struct Limits {
  int transport = 100;    // agent processes of this transport at once
  int destination = 20;   // of which to one nexthop
};

class Scheduler {
 public:
  void set_limits(const std::string& transport, Limits l) { limits_[transport] = l; }
  void set_default_limits(Limits l) { default_ = l; }

  void enqueue(Job job);
  // The next job allowed to start now (and counted as running), or nullopt.
  std::optional<Job> next();
  // A started job finished (whatever its outcome).
  void finished(const Job& job);
  // Drops every queued (not running) job of a message; returns how many.
  size_t drop(const std::string& queue_id);

  size_t queued() const { return queued_; }
  int running() const { return running_total_; }
  int running(const std::string& transport) const;

 private:
  const Limits& limits(const std::string& transport) const;
  using Key = std::pair<std::string, std::string>;  // transport, nexthop
  std::map<std::string, Limits> limits_;
  Limits default_;
  std::map<Key, std::deque<Job>> queues_;
  std::deque<Key> order_;          // round-robin order of destinations with queued jobs
  std::map<Key, int> running_dest_;
  std::map<std::string, int> running_transport_;
  size_t queued_ = 0;
  int running_total_ = 0;
};

// Seconds until the next attempt of a deferred message, in Postfix's manner: the
// message's age, bounded by [minimal, maximal] - so the wait roughly doubles with
// each attempt - but never past the end of its life (then it is time to bounce).
int64_t retry_delay(int64_t age, int64_t minimal_backoff, int64_t maximal_backoff);

// Whether a deferred recipient has run out of time and must bounce.
bool expired(int64_t age, int64_t maximal_queue_lifetime);

// Whether a delay warning is due: once, after delay_warning_time (0 = never).
bool delay_warning_due(int64_t age, int64_t delay_warning_time, bool already_sent);

}  // namespace postilion::qmgr
