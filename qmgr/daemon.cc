// qmgr/daemon.cc - the queue manager's event-loop side.
#include "qmgr/daemon.h"

#include <algorithm>
#include <ctime>

#include "lib/base/file.h"
#include "lib/ipc/protocols.h"
#include "lib/log/log.h"
#include "lib/queue/queue_id.h"

namespace postilion::qmgr {

Daemon::Daemon(event::EventBase& base, DaemonConfig cfg)
    : base_(base), cfg_(std::move(cfg)), store_(cfg_.queue_directory, cfg_.queue_file_recycle_limit), manager_(cfg_.manager, store_, *this) {
  if (!cfg_.pickup_milters.milters.filters.empty()) {
    pickup_milters_ = std::make_unique<PickupMilters>(base_, cfg_.pickup_milters,
                                                      [this](const std::string& id, const PickupVerdict& v) {
                                                        inspected_.emplace_back(id, v);
                                                        schedule_pump();
                                                      });
    manager_.set_pickup_filter(pickup_milters_.get());
  }
  // All work happens in the pump: callbacks only note what happened and schedule it,
  // so the Manager is never re-entered from inside one of its own calls.
  pump_timer_ = event::Timer(base_, [this] {
    int64_t t = now();
    auto failed = std::move(completed_);
    completed_.clear();
    for (auto& [token, r] : failed) manager_.complete(token, r, t);
    auto inspected = std::move(inspected_);
    inspected_.clear();
    for (auto& [id, v] : inspected) manager_.pickup_inspected(id, v, t);
    if (wake_flush_) manager_.scan_deferred(t, true);
    auto named = std::move(named_);
    named_.clear();
    if (wake_new_ || wake_flush_ || (backlog_ && manager_.has_room())) {
      backlog_ = !manager_.scan_new(t);  // the scan finds the named ones too
    } else {
      for (const auto& [queue, id] : named)
        if (!manager_.admit_new(queue, id, t)) backlog_ = true;
    }
    wake_new_ = wake_flush_ = false;
    // Requests whose reused connection failed, again on new connections (before the
    // pump, so they do not take the idle connections the pump will use).
    auto fresh = std::move(start_fresh_);
    start_fresh_.clear();
    for (auto& f : fresh) {
      auto keep = std::move(idle_[f.transport]);
      idle_[f.transport].clear();
      start(f.token, f.transport, f.request);
      idle_[f.transport] = std::move(keep);
    }
    manager_.pump(t);
    // Idle connections are closed when the timer fires (after up to kIdleHoldMs idle),
    // unless a pump has reused them by then. Not restarted by every pump: a busy
    // transport must not keep another transport's idle connections forever.
    if (!idle_timer_.pending()) idle_timer_.start(kIdleHoldMs);
    arm_wakeup();
    if (!completed_.empty() || !start_fresh_.empty() || !inspected_.empty()) schedule_pump();
  });
  deferred_timer_ = event::Timer(base_, [this] {
    manager_.scan_deferred(now(), false);
    manager_.pump(now());
    arm_wakeup();
  });
  scan_timer_ = event::Timer(base_, [this] {
    backlog_ = !manager_.scan_new(now());
    manager_.pump(now());
    arm_wakeup();
  });
  wakeup_timer_ = event::Timer(base_, [this] { schedule_pump(); });
  idle_timer_ = event::Timer(base_, [this] { drop_idle(); });
}

void Daemon::arm_wakeup() {
  auto at = manager_.next_wakeup_ms();
  if (!at) return;
  int64_t in = std::max<int64_t>(1, *at - file::now_us() / 1000);
  wakeup_timer_.start(in);  // (re)armed for the earliest time; a later pump re-arms it
}

int64_t Daemon::now() { return static_cast<int64_t>(::time(nullptr)); }

void Daemon::schedule_pump() {
  if (!pump_timer_.pending()) pump_timer_.start(0);
}

void Daemon::start() {
  manager_.start(now());
  manager_.pump(now());
  arm_wakeup();
  deferred_timer_.repeat(cfg_.queue_run_delay * 1000);
  scan_timer_.repeat(cfg_.new_scan_interval * 1000);
}

void Daemon::wakeup() {
  wake_new_ = true;
  schedule_pump();
}

void Daemon::accept(UniqueFd fd, std::function<void()> done) {
  auto ch = std::make_unique<ipc::Channel>(base_, std::move(fd), 4096, 10000);
  ipc::Channel* raw = ch.get();
  ch->on_message([this, raw](ipc::Message&& m) {
    std::string cmd = m.get_or("cmd", "");
    ipc::Message reply;
    if (cmd == "wakeup") {
      // smtpd and postdrop name the file they queued; anything else means "look".
      std::string id = m.get_or("id", ""), queue = m.get_or("queue", "");
      if (!id.empty() && (queue == "incoming" || queue == "maildrop") && queue::valid_id(id) &&
          named_.size() < kMaxNamed)
        named_.emplace_back(queue, id);
      else
        wake_new_ = true;
      reply.set("status", "ok");
    } else if (cmd == "flush") {
      wake_flush_ = true;
      reply.set("status", "ok");
    } else {
      reply.set("status", "error").set("text", "unknown command");
    }
    raw->send(reply);
    schedule_pump();
  });
  ch->on_close([this, raw, done](const std::string&) {
    if (done) done();
    auto it = clients_.find(raw);
    if (it != clients_.end()) {
      base_.defer_delete(std::move(it->second));
      clients_.erase(it);
    }
  });
  ch->start();
  clients_[raw] = std::move(ch);
}

void Daemon::finish_agent(uint64_t token, const AgentResult& r, const std::string& reuse_for) {
  auto it = agents_.find(token);
  if (it == agents_.end()) return;  // a stray message or close: already finished
  // A connection whose agent answered well may carry the next request for the same
  // transport, started by the pump this schedules or one soon after (no connect, no new
  // agent session); whatever stays unused for kIdleHoldMs is closed (drop_idle), so an
  // idle connection holds an agent process for a second at the most.
  if (!reuse_for.empty() && r.ok && !it->second->closed()) idle_[reuse_for].push_back(std::move(it->second));
  else {
    it->second->shutdown();
    base_.defer_delete(std::move(it->second));
  }
  agents_.erase(it);
  completed_.push_back({token, r});
  schedule_pump();
}

void Daemon::drop_idle() {
  for (auto& [transport, list] : idle_)
    for (auto& ch : list) {
      ch->shutdown();
      base_.defer_delete(std::move(ch));
    }
  idle_.clear();
}

void Daemon::start(uint64_t token, const std::string& transport, const ipc::Message& request) {
  auto& idle = idle_[transport];
  while (!idle.empty()) {
    std::unique_ptr<ipc::Channel> ch = std::move(idle.back());
    idle.pop_back();
    if (ch->closed()) {
      base_.defer_delete(std::move(ch));
      continue;
    }
    return send_request(token, transport, request, std::move(ch), true);
  }
  std::string path = file::join(cfg_.queue_directory, std::string(ipc::proto::kPrivateDir) + transport);
  auto ch = ipc::Channel::connect(base_, path, ipc::kDefaultMaxFrame, static_cast<int>(cfg_.agent_timeout * 1000));
  if (!ch) {
    AgentResult r;
    r.error = "cannot connect to delivery agent " + transport + ": " + ch.error().str();
    completed_.push_back({token, r});
    schedule_pump();
    return;
  }
  (*ch)->start();
  send_request(token, transport, request, std::move(*ch), false);
}

void Daemon::send_request(uint64_t token, const std::string& transport, const ipc::Message& request,
                          std::unique_ptr<ipc::Channel> ch, bool reused) {
  ipc::Channel* raw = ch.get();
  raw->on_message([this, token, transport](ipc::Message&& m) { finish_agent(token, queue::parse_delivery_reply(m), transport); });
  raw->on_close([this, token, transport, request, reused](const std::string& reason) {
    auto it = agents_.find(token);
    if (it == agents_.end()) return;
    if (reused) {
      // The agent ended a reused connection without answering (it was told to stop, or
      // it died): once more on a connection of its own. Repeating a request is safe:
      // the agent skips recipients whose status byte is already final.
      base_.defer_delete(std::move(it->second));
      agents_.erase(it);
      start_fresh_.push_back({token, transport, request});
      schedule_pump();
      return;
    }
    AgentResult r;
    r.error = "delivery agent " + transport + " ended the connection: " + reason;
    finish_agent(token, r, "");
  });
  raw->send(request);
  agents_[token] = std::move(ch);
}

}  // namespace postilion::qmgr
