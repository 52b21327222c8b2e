// qmgr/daemon.h - the queue manager on the event loop: serves wake-ups on private/qmgr,
// runs the Manager with the real spool, talks to delivery agents over private/<transport>
// with lib/ipc channels, and scans deferred/ every queue_run_delay.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lib/base/unique_fd.h"
#include "lib/event/event.h"
#include "lib/ipc/channel.h"
#include "lib/queue/spool_store.h"
#include "qmgr/manager.h"
#include "qmgr/pickup_milters.h"

namespace postilion::qmgr {

struct DaemonConfig {
  ManagerConfig manager;
  std::string queue_directory;
  int64_t queue_run_delay = 300;     // seconds between deferred/ scans
  int64_t new_scan_interval = 1;     // seconds: incoming/ and maildrop/ without a wake-up
  int64_t agent_timeout = 3600;      // seconds one agent request may take
  size_t queue_file_recycle_limit = 100;  // finished queue files kept in spare/
  // non_smtpd_milters for mail picked up from maildrop/; no filters: none run.
  PickupMilterConfig pickup_milters;
};

class Daemon : public Agents {
 public:
  Daemon(event::EventBase& base, DaemonConfig cfg);
  // Rebuilds state from the spool and starts the timers.
  void start();
  // A connection on private/qmgr (wake-up or flush requests); done runs when it ends.
  void accept(UniqueFd fd, std::function<void()> done = nullptr);
  // The master's periodic wake-up: look for new mail now.
  void wakeup();
  void start(uint64_t token, const std::string& transport, const ipc::Message& request) override;

 private:
  static int64_t now();
  void schedule_pump();
  // After a pump: wake up again when a rate-delayed destination may start.
  void arm_wakeup();
  // reuse_for: the transport whose next request may use this connection ("" = close it).
  void finish_agent(uint64_t token, const AgentResult& r, const std::string& reuse_for);
  void send_request(uint64_t token, const std::string& transport, const ipc::Message& request,
                    std::unique_ptr<ipc::Channel> ch, bool reused);
  void drop_idle();

  event::EventBase& base_;
  DaemonConfig cfg_;
  queue::SpoolStore store_;
  Manager manager_;
  std::map<uint64_t, std::unique_ptr<ipc::Channel>> agents_;
  std::map<ipc::Channel*, std::unique_ptr<ipc::Channel>> clients_;
  std::vector<std::pair<uint64_t, AgentResult>> completed_;  // completed outside a callback
  std::unique_ptr<PickupMilters> pickup_milters_;
  std::vector<std::pair<std::string, PickupVerdict>> inspected_;  // their verdicts, for the pump
  // Agent connections that just answered, for the requests of the running pump only.
  std::map<std::string, std::vector<std::unique_ptr<ipc::Channel>>> idle_;
  struct Retry {
    uint64_t token;
    std::string transport;
    ipc::Message request;
  };
  std::vector<Retry> start_fresh_;  // reused connections that closed without a reply
  event::Timer pump_timer_, deferred_timer_, scan_timer_, wakeup_timer_;
  // Closes the connections pumps left unused, at most this long after: the
  // next message a moment later reuses a warm agent process instead of making master
  // start one (an agent exits after max_use connections, not requests).
  event::Timer idle_timer_;
  static constexpr int kIdleHoldMs = 1000;
  bool wake_new_ = false, wake_flush_ = false;
  // New mail the wake-ups named (queue, ID): admitted without listing incoming/ or
  // maildrop/. Bounded; past the bound (or with no ID) a wake-up means a scan.
  std::vector<std::pair<std::string, std::string>> named_;
  static constexpr size_t kMaxNamed = 10000;
  // qmgr_message_active_limit left new mail waiting: scan again once there is room.
  bool backlog_ = false;
};

}  // namespace postilion::qmgr
