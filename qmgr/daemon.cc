// qmgr/daemon.cc - the queue manager's event-loop side.
#include "qmgr/daemon.h"

#include <algorithm>
#include <ctime>

#include "lib/base/file.h"
#include "lib/ipc/protocols.h"
#include "lib/log/log.h"

namespace postilion::qmgr {

Daemon::Daemon(event::EventBase& base, DaemonConfig cfg)
    : base_(base), cfg_(std::move(cfg)), store_(cfg_.queue_directory), manager_(cfg_.manager, store_, *this) {
  // All work happens in the pump: callbacks only note what happened and schedule it,
  // so the Manager is never re-entered from inside one of its own calls.
  pump_timer_ = event::Timer(base_, [this] {
    int64_t t = now();
    auto failed = std::move(completed_);
    completed_.clear();
    for (auto& [token, r] : failed) manager_.complete(token, r, t);
    if (wake_flush_) manager_.scan_deferred(t, true);
    if (wake_new_ || wake_flush_) manager_.scan_new(t);
    wake_new_ = wake_flush_ = false;
    manager_.pump(t);
    arm_wakeup();
    if (!completed_.empty()) schedule_pump();
  });
  deferred_timer_ = event::Timer(base_, [this] {
    manager_.scan_deferred(now(), false);
    manager_.pump(now());
    arm_wakeup();
  });
  scan_timer_ = event::Timer(base_, [this] {
    manager_.scan_new(now());
    manager_.pump(now());
    arm_wakeup();
  });
  wakeup_timer_ = event::Timer(base_, [this] { schedule_pump(); });
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

void Daemon::finish_agent(uint64_t token, const AgentResult& r) {
  auto it = agents_.find(token);
  if (it != agents_.end()) {
    it->second->shutdown();
    base_.defer_delete(std::move(it->second));
    agents_.erase(it);
  }
  completed_.push_back({token, r});
  schedule_pump();
}

void Daemon::start(uint64_t token, const std::string& transport, const ipc::Message& request) {
  std::string path = file::join(cfg_.queue_directory, std::string(ipc::proto::kPrivateDir) + transport);
  auto ch = ipc::Channel::connect(base_, path, ipc::kDefaultMaxFrame, static_cast<int>(cfg_.agent_timeout * 1000));
  if (!ch) {
    AgentResult r;
    r.error = "cannot connect to delivery agent " + transport + ": " + ch.error().str();
    completed_.push_back({token, r});
    schedule_pump();
    return;
  }
  ipc::Channel* raw = ch->get();
  raw->on_message([this, token](ipc::Message&& m) { finish_agent(token, parse_agent_reply(m)); });
  raw->on_close([this, token, transport](const std::string& reason) {
    if (!agents_.count(token)) return;
    AgentResult r;
    r.error = "delivery agent " + transport + " ended the connection: " + reason;
    finish_agent(token, r);
  });
  raw->start();
  raw->send(request);
  agents_[token] = std::move(*ch);
}

}  // namespace postilion::qmgr
