// qmgr/scheduler.h - which delivery runs next: per-transport and per-destination
// concurrency limits with Postfix's slow start (a destination starts at its initial
// concurrency, grows by one after each success up to its limit, shrinks by one after
// each connection-level failure and is suspended as "dead" after too many failed
// cohorts), a per-destination rate delay, round-robin between destinations so one slow
// site cannot starve the rest, and the retry arithmetic for deferred mail. No I/O and
// no clock of its own: every call that needs the time takes it (milliseconds).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace postilion::qmgr {

// One request to one agent: some recipients of one message, same transport/nexthop.
struct Job {
  std::string queue_id;
  std::string transport;
  std::string nexthop;
  std::vector<size_t> recipients;  // indexes into the message's recipient list
  // The scheduling destination: "" means the nexthop; a transport whose recipient
  // limit is 1 (local) schedules per recipient, as Postfix does.
  std::string destination;

  const std::string& dest() const { return destination.empty() ? nexthop : destination; }
};

// How much one delivery moves a destination's concurrency window (Postfix's
// *_destination_concurrency_positive_feedback and _negative_feedback): a number from
// 0 to 1, or that number divided by the window ("1/concurrency").
struct FeedbackAmount {
  double value = 1.0;
  bool per_window = false;
  double at(int window) const { return per_window ? value / (window > 1 ? window : 1) : value; }
};

// Parses Postfix's forms: "N", "N/M" and "N/concurrency", N and M decimal numbers, the
// result within 0..1 (blanks around the '/' allowed). nullopt for anything else.
std::optional<FeedbackAmount> parse_feedback(std::string_view text);

// Per transport; the defaults are Postfix's.
struct Limits {
  int transport = 100;            // agent processes of this transport at once
  int destination = 20;           // <t>_destination_concurrency_limit; 0 = no limit
  int initial = 5;                // <t>_initial_destination_concurrency
  int failed_cohort_limit = 1;    // <t>_destination_concurrency_failed_cohort_limit; 0 = never dead
  int64_t rate_delay_ms = 0;      // <t>_destination_rate_delay; > 0 also means concurrency 1
  FeedbackAmount positive;        // <t>_destination_concurrency_positive_feedback
  FeedbackAmount negative;        // <t>_destination_concurrency_negative_feedback
};

// What a finished delivery says about its destination.
enum class Feedback {
  Success,      // the destination was reached (whatever each recipient's fate)
  SiteFailure,  // connection-level failure: no server of the destination could be used
  None,         // says nothing about the destination (agent unreachable, garbage reply)
};

// Why a dead destination's deliveries are deferred without trying.
struct Suspension {
  std::string dsn;     // of the failure that killed it, e.g. 4.4.1
  std::string reason;  // its text, e.g. "connect to x[1.2.3.4]:25: Connection refused"
  int64_t until_ms = 0;
};

class Scheduler {
 public:
  void set_limits(const std::string& transport, Limits l) { limits_[transport] = l; }
  void set_default_limits(Limits l) { default_ = l; }
  // How long a dead destination stays suspended (Postfix: minimal_backoff_time).
  void set_dead_time(int64_t ms) { dead_time_ms_ = ms; }

  void enqueue(Job job);
  // The next job allowed to start at now_ms (and counted as running), or nullopt.
  std::optional<Job> next(int64_t now_ms);

  // A started job finished. Adjusts its destination's concurrency by the feedback; when
  // this failure makes the destination dead, died is set and the destination's queued
  // jobs are taken out of the scheduler and returned, to be deferred by the caller.
  struct Verdict {
    bool died = false;
    std::vector<Job> suspended;
  };
  Verdict finished(const Job& job, Feedback fb, int64_t now_ms, const std::string& dsn = "",
                   const std::string& reason = "");

  // The suspension of a dead destination, or nullptr (also once its time is over:
  // then it starts again at its initial concurrency). Valid until the next call.
  const Suspension* dead(const std::string& transport, const std::string& destination, int64_t now_ms);

  // Ends every suspension now (a flush, as Postfix's qmgr re-enables dead destinations
  // on postqueue -f): each dead destination starts again at its initial concurrency.
  void revive_all(int64_t now_ms);

  // Drops every queued (not running) job of a message; returns how many. Free for a
  // message with nothing queued (the usual case: its jobs have all run).
  size_t drop(const std::string& queue_id);
  // Queued (not running) jobs of one message.
  size_t queued(const std::string& queue_id) const;

  // When a rate-delayed destination with queued jobs may start next (the caller sets a
  // timer), or nullopt. Also forgets destinations whose state no longer matters.
  std::optional<int64_t> next_wakeup(int64_t now_ms);

  size_t queued() const { return queued_; }
  int running() const { return running_total_; }
  int running(const std::string& transport) const;
  // The destination's current concurrency window (its initial one when unknown); 0 when dead.
  int window(const std::string& transport, const std::string& destination) const;

 private:
  using Key = std::pair<std::string, std::string>;  // transport, destination
  struct Dest {
    std::deque<Job> jobs;
    int running = 0;
    int window = 0;            // set from the initial concurrency when the state is made
    double success = 0;        // positive feedback towards the next +1
    double failure = 0;        // negative feedback credit: below 0 takes one off
    double fail_cohorts = 0;   // pseudo-cohorts failed since the last success
    int64_t resume_ms = 0;     // rate delay: no start before this
    std::optional<Suspension> dead;
  };

  const Limits& limits(const std::string& transport) const;
  int initial_window(const Limits& l) const;
  int concurrency(const Dest& d, const Limits& l) const;
  Dest& state(const Key& key);
  void revive_if_due(Dest& d, const Limits& l, int64_t now_ms);
  void unqueued(const std::string& queue_id);  // one of its queued jobs left the queue
  bool idle(const Dest& d, int64_t now_ms) const;

  std::map<std::string, Limits> limits_;
  Limits default_;
  int64_t dead_time_ms_ = 300000;
  std::map<Key, Dest> dests_;
  std::deque<Key> order_;          // round-robin order of destinations with queued jobs
  std::map<std::string, int> running_transport_;
  size_t queued_ = 0;
  std::unordered_map<std::string, size_t> queued_of_;  // queue ID -> its queued jobs
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
