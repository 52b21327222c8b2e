// qmgr/scheduler.cc - concurrency-limited, round-robin job selection with slow start,
// dead destinations and rate delays; retry timing.
#include "qmgr/scheduler.h"

#include <algorithm>
#include <charconv>

#include "lib/base/strings.h"

namespace postilion::qmgr {
namespace {

// Runs of 1/3 or 1/concurrency add up to 1 only up to rounding: 1/3 + 1/3 + 1/3 must
// count as a whole run.
constexpr double kFeedbackSlack = 1e-9;

}  // namespace

const Limits& Scheduler::limits(const std::string& transport) const {
  auto it = limits_.find(transport);
  return it == limits_.end() ? default_ : it->second;
}

int Scheduler::initial_window(const Limits& l) const {
  int w = std::max(1, l.initial);
  return l.destination > 0 ? std::min(w, l.destination) : w;
}

int Scheduler::concurrency(const Dest& d, const Limits& l) const {
  if (d.dead) return 0;
  if (l.rate_delay_ms > 0) return 1;  // Postfix: a rate delay limits the destination to one
  return l.destination > 0 ? std::min(d.window, l.destination) : d.window;
}

Scheduler::Dest& Scheduler::state(const Key& key) {
  auto [it, made] = dests_.try_emplace(key);
  if (made) it->second.window = initial_window(limits(key.first));
  return it->second;
}

void Scheduler::revive_if_due(Dest& d, const Limits& l, int64_t now_ms) {
  if (d.dead && now_ms >= d.dead->until_ms) {
    d.dead.reset();
    d.window = initial_window(l);
    d.success = d.fail_cohorts = 0;
  }
}

void Scheduler::revive_all(int64_t now_ms) {
  for (auto& [key, d] : dests_)
    if (d.dead) {
      d.dead->until_ms = now_ms;
      revive_if_due(d, limits(key.first), now_ms);
    }
}

bool Scheduler::idle(const Dest& d, int64_t now_ms) const {
  // A destination without work forgets its window (Postfix drops idle queues), but a
  // dead one or one inside its rate delay is remembered until that is over.
  return d.jobs.empty() && d.running == 0 && !d.dead && d.resume_ms <= now_ms;
}

int Scheduler::running(const std::string& transport) const {
  auto it = running_transport_.find(transport);
  return it == running_transport_.end() ? 0 : it->second;
}

int Scheduler::window(const std::string& transport, const std::string& destination) const {
  auto it = dests_.find({transport, destination});
  if (it == dests_.end()) return initial_window(limits(transport));
  return it->second.dead ? 0 : it->second.window;
}

std::optional<FeedbackAmount> parse_feedback(std::string_view text) {
  // A plain decimal number: no sign, no exponent, no "inf" or "nan".
  auto number = [](std::string_view v) -> std::optional<double> {
    v = str::trim(v);
    if (v.empty() || v.size() > 20 || v.find_first_not_of("0123456789.") != std::string_view::npos)
      return std::nullopt;
    double d = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), d, std::chars_format::fixed);
    if (ec != std::errc() || end != v.data() + v.size()) return std::nullopt;
    return d;
  };
  size_t slash = text.find('/');
  auto n = number(text.substr(0, slash));
  if (!n) return std::nullopt;
  FeedbackAmount f{*n, false};
  if (slash != std::string_view::npos) {
    std::string_view d = str::trim(text.substr(slash + 1));
    if (d == "concurrency") {
      f.per_window = true;
    } else {
      auto m = number(d);
      if (!m || *m == 0) return std::nullopt;
      f.value /= *m;
    }
  }
  if (!(f.value >= 0 && f.value <= 1)) return std::nullopt;
  return f;
}

void Scheduler::enqueue(Job job) {
  Key key{job.transport, job.dest()};
  Dest& d = state(key);
  if (d.jobs.empty()) order_.push_back(key);
  ++queued_of_[job.queue_id];
  d.jobs.push_back(std::move(job));
  ++queued_;
}

void Scheduler::unqueued(const std::string& queue_id) {
  auto it = queued_of_.find(queue_id);
  if (it != queued_of_.end() && --it->second == 0) queued_of_.erase(it);
}

size_t Scheduler::queued(const std::string& queue_id) const {
  auto it = queued_of_.find(queue_id);
  return it == queued_of_.end() ? 0 : it->second;
}

std::optional<Job> Scheduler::next(int64_t now_ms) {
  // One pass over the destinations in round-robin order; the first whose transport and
  // destination both have a free slot (and whose rate delay is over) gives its oldest
  // job and moves to the back.
  for (size_t n = order_.size(); n > 0; --n) {
    Key key = order_.front();
    order_.pop_front();
    Dest& d = dests_[key];
    const Limits& l = limits(key.first);
    revive_if_due(d, l, now_ms);
    if (running(key.first) < l.transport && d.running < concurrency(d, l) && now_ms >= d.resume_ms) {
      Job job = std::move(d.jobs.front());
      d.jobs.pop_front();
      --queued_;
      unqueued(job.queue_id);
      if (!d.jobs.empty()) order_.push_back(key);
      ++running_transport_[key.first];
      ++d.running;
      ++running_total_;
      return job;
    }
    order_.push_back(key);
  }
  return std::nullopt;
}

Scheduler::Verdict Scheduler::finished(const Job& job, Feedback fb, int64_t now_ms, const std::string& dsn,
                                       const std::string& reason) {
  Verdict v;
  Key key{job.transport, job.dest()};
  const Limits& l = limits(key.first);
  Dest& d = state(key);
  int busy = d.running;  // including this job, as Postfix counts it
  if (d.running > 0) --d.running;
  if (--running_transport_[key.first] <= 0) running_transport_.erase(key.first);
  --running_total_;
  if (l.rate_delay_ms > 0) d.resume_ms = now_ms + l.rate_delay_ms;

  if (fb == Feedback::Success) {
    if (d.dead) {
      // A delivery that started before the destination died got through: alive again.
      d.dead.reset();
      d.window = initial_window(l);
      d.success = 0;
    } else if ((l.destination == 0 || d.window < l.destination) && d.window < busy + l.initial) {
      // Positive feedback (1 by default: +1 per success), but only while the window is
      // in use - within the initial concurrency of what is running - so an idle trickle
      // of mail does not open it all the way. The window grows at the end of a run of
      // 1/feedback successes, as in Postfix.
      d.success += l.positive.at(d.window);
      if (d.success >= 1.0 - kFeedbackSlack) {
        d.window += 1;
        d.success = 0;
        d.failure = 0;
      }
    }
    d.fail_cohorts = 0;
  } else if (fb == Feedback::SiteFailure && !d.dead) {
    // A pseudo-cohort is as many deliveries as the window: each failure adds 1/window,
    // so at window 1 every failure is a whole cohort.
    d.fail_cohorts += 1.0 / std::max(1, d.window);
    d.success = 0;
    if (l.failed_cohort_limit > 0 && d.fail_cohorts >= l.failed_cohort_limit) {
      d.dead = Suspension{dsn.empty() ? "4.4.1" : dsn, reason.empty() ? "destination unavailable" : reason,
                          now_ms + dead_time_ms_};
      v.died = true;
      for (auto& j : d.jobs) {
        unqueued(j.queue_id);
        v.suspended.push_back(std::move(j));
      }
      queued_ -= d.jobs.size();
      d.jobs.clear();
      order_.erase(std::remove(order_.begin(), order_.end(), key), order_.end());
    } else {
      // Negative feedback (1 by default): the window shrinks at the start of a run of
      // 1/feedback failures, as in Postfix, and never below 1.
      d.failure -= l.negative.at(d.window);
      if (d.failure < -kFeedbackSlack) {
        d.window = std::max(1, d.window - 1);
        d.failure += 1.0;
      }
    }
  }
  if (idle(d, now_ms)) dests_.erase(key);
  return v;
}

const Suspension* Scheduler::dead(const std::string& transport, const std::string& destination, int64_t now_ms) {
  auto it = dests_.find({transport, destination});
  if (it == dests_.end()) return nullptr;
  revive_if_due(it->second, limits(transport), now_ms);
  if (!it->second.dead) {
    if (idle(it->second, now_ms)) dests_.erase(it);
    return nullptr;
  }
  return &*it->second.dead;
}

size_t Scheduler::drop(const std::string& queue_id) {
  // Every message's pass ends here: without this check each end would walk every job
  // queued for every destination (quadratic in a backlog of thousands).
  if (!queued_of_.count(queue_id)) return 0;
  queued_of_.erase(queue_id);
  size_t dropped = 0;
  for (auto& [key, d] : dests_) {
    auto& q = d.jobs;
    if (q.empty()) continue;
    size_t before = q.size();
    q.erase(std::remove_if(q.begin(), q.end(), [&](const Job& j) { return j.queue_id == queue_id; }), q.end());
    dropped += before - q.size();
    if (q.empty()) order_.erase(std::remove(order_.begin(), order_.end(), key), order_.end());
  }
  queued_ -= dropped;
  return dropped;
}

std::optional<int64_t> Scheduler::next_wakeup(int64_t now_ms) {
  std::optional<int64_t> at;
  for (auto it = dests_.begin(); it != dests_.end();) {
    Dest& d = it->second;
    revive_if_due(d, limits(it->first.first), now_ms);
    if (idle(d, now_ms)) {
      it = dests_.erase(it);
      continue;
    }
    if (!d.jobs.empty() && !d.dead && d.resume_ms > now_ms && (!at || d.resume_ms < *at)) at = d.resume_ms;
    ++it;
  }
  return at;
}

int64_t retry_delay(int64_t age, int64_t minimal_backoff, int64_t maximal_backoff) {
  if (maximal_backoff < minimal_backoff) maximal_backoff = minimal_backoff;
  return std::clamp<int64_t>(age, minimal_backoff, maximal_backoff);
}

bool expired(int64_t age, int64_t maximal_queue_lifetime) { return age >= maximal_queue_lifetime; }

bool delay_warning_due(int64_t age, int64_t delay_warning_time, bool already_sent) {
  return delay_warning_time > 0 && !already_sent && age >= delay_warning_time;
}

}  // namespace postilion::qmgr
