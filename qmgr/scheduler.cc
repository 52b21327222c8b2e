// qmgr/scheduler.cc - concurrency-limited, round-robin job selection; retry timing.
#include "qmgr/scheduler.h"

#include <algorithm>

namespace postilion::qmgr {

const Limits& Scheduler::limits(const std::string& transport) const {
  auto it = limits_.find(transport);
  return it == limits_.end() ? default_ : it->second;
}

int Scheduler::running(const std::string& transport) const {
  auto it = running_transport_.find(transport);
  return it == running_transport_.end() ? 0 : it->second;
}

void Scheduler::enqueue(Job job) {
  Key key{job.transport, job.nexthop};
  auto& q = queues_[key];
  if (q.empty()) order_.push_back(key);
  q.push_back(std::move(job));
  ++queued_;
}

std::optional<Job> Scheduler::next() {
  // One pass over the destinations in round-robin order; the first whose transport and
  // destination both have a free slot gives its oldest job and moves to the back.
  for (size_t n = order_.size(); n > 0; --n) {
    Key key = order_.front();
    order_.pop_front();
    auto& q = queues_[key];
    const Limits& l = limits(key.first);
    if (running_transport_[key.first] < l.transport && running_dest_[key] < l.destination) {
      Job job = std::move(q.front());
      q.pop_front();
      --queued_;
      if (!q.empty()) order_.push_back(key);
      else queues_.erase(key);
      ++running_transport_[key.first];
      ++running_dest_[key];
      ++running_total_;
      return job;
    }
    order_.push_back(key);
  }
  return std::nullopt;
}

void Scheduler::finished(const Job& job) {
  Key key{job.transport, job.nexthop};
  if (--running_dest_[key] <= 0) running_dest_.erase(key);
  if (--running_transport_[key.first] <= 0) running_transport_.erase(key.first);
  --running_total_;
}

size_t Scheduler::drop(const std::string& queue_id) {
  size_t dropped = 0;
  for (auto it = queues_.begin(); it != queues_.end();) {
    auto& q = it->second;
    size_t before = q.size();
    q.erase(std::remove_if(q.begin(), q.end(), [&](const Job& j) { return j.queue_id == queue_id; }), q.end());
    dropped += before - q.size();
    if (q.empty()) {
      order_.erase(std::remove(order_.begin(), order_.end(), it->first), order_.end());
      it = queues_.erase(it);
    } else {
      ++it;
    }
  }
  queued_ -= dropped;
  return dropped;
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
