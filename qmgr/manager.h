// qmgr/manager.h - the queue manager's state and decisions, free of sockets and clocks:
// admits messages (incoming/, maildrop/, due deferred/, active/ after a restart),
// routes recipients, feeds the scheduler, turns agent replies into recorded outcomes,
// sends the reports due, and defers, expires or removes each message when its pass ends.
// The daemon (qmgr/main.cc) supplies the Store, the Agents and the time.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "lib/ipc/message.h"
#include "lib/queue/delivery_reply.h"
#include "lib/queue/store.h"
#include "qmgr/notice.h"
#include "qmgr/route.h"
#include "qmgr/scheduler.h"
#include "qmgr/sender_limits.h"

namespace postilion::qmgr {

// The spool as the manager sees it (lib/queue/store.h).
using queue::DeferInfo;
using queue::NewMessage;
using queue::Store;
using queue::StoredMessage;
using queue::StoredRecipient;

struct ManagerConfig {
  RouteConfig route;
  NoticeConfig notice;
  int64_t minimal_backoff_time = 300;
  int64_t maximal_backoff_time = 4000;
  int64_t maximal_queue_lifetime = 5 * 86400;
  int64_t bounce_queue_lifetime = 5 * 86400;
  int64_t delay_warning_time = 0;
  size_t message_active_limit = 20000;
  Limits default_limits;
  std::map<std::string, Limits> limits;           // per transport
  int default_recipient_limit = 50;
  std::map<std::string, int> recipient_limits;    // per transport (local: 1)
  std::string queue_directory;                    // for the file= attribute (relative anyway)
  // content_filter for mail picked up from maildrop/ ("" = none): recorded in the
  // queue file, so that qmgr routes it through that filter (route.h filter_route).
  std::string content_filter;
  // local_sender_message_rate_limit, local_sender_recipient_rate_limit (0: none).
  int local_sender_message_rate_limit = 0;
  int local_sender_recipient_rate_limit = 0;
  // Milliseconds for the scheduler (rate delays, dead destinations); empty = real time.
  std::function<int64_t()> clock_ms;
};

// One agent's reply for one recipient, and the whole reply (lib/queue/delivery_reply.h).
using AgentReply = queue::RcptResult;
using AgentResult = queue::DeliveryReply;

class Agents {
 public:
  virtual ~Agents() = default;
  // Starts a request to private/<transport>; the result comes back later through
  // Manager::complete(token, ...). Must not call back into the Manager synchronously.
  virtual void start(uint64_t token, const std::string& transport, const ipc::Message& request) = 0;
};

// What the mail filters for local submissions (non_smtpd_milters) made of a message
// picked up from maildrop/.
struct PickupVerdict {
  enum class Kind { Accept, Reject, Tempfail, Discard };
  Kind kind = Kind::Accept;
  std::string reply;  // Reject, Tempfail: "X.Y.Z text" for the report and the log
  bool hold = false;  // Accept: quarantined, into hold/
  // Accept: the filters' edits; unset fields are as picked up.
  std::optional<std::string> content, sender;
  std::vector<std::string> added_rcpts, deleted_rcpts;
};

// Runs those filters (on the daemon's loop); the answer comes back later through
// Manager::pickup_inspected(). start() must not call back into the Manager.
class PickupFilter {
 public:
  virtual ~PickupFilter() = default;
  virtual void start(const std::string& maildrop_id, const NewMessage& m) = 0;
};

class Manager {
 public:
  Manager(ManagerConfig cfg, Store& store, Agents& agents);

  // Rebuilds state from the spool: active/ back in line, then incoming/ and maildrop/.
  void start(int64_t now);
  // New mail in incoming/ or maildrop/ (a wake-up without a queue ID, or the periodic
  // scan). False when qmgr_message_active_limit left some of it waiting.
  bool scan_new(int64_t now);
  // One new message a wake-up named (smtpd, postdrop): queue is "incoming" or
  // "maildrop". It is admitted without listing the folder, and as new mail it has no
  // deferral notes to read. A file already gone (a scan took it) is skipped quietly.
  // False when qmgr_message_active_limit left it waiting.
  bool admit_new(const std::string& queue, const std::string& id, int64_t now);
  // Deferred mail whose time has come (or all of it, for a flush).
  void scan_deferred(int64_t now, bool flush);
  // An agent request finished.
  void complete(uint64_t token, const AgentResult& result, int64_t now);
  // Mail from maildrop/ goes through filter before it is queued (non_smtpd_milters);
  // nullptr: straight in.
  void set_pickup_filter(PickupFilter* filter) { pickup_filter_ = filter; }
  // The filters' verdict on maildrop/<id>: Accept queues it (edited; hold/ when
  // quarantined), Reject queues it to be bounced to the sender (as Postfix's cleanup
  // does for mail that came in without SMTP), Discard drops it, Tempfail leaves it in
  // maildrop/ for a later scan.
  void pickup_inspected(const std::string& id, const PickupVerdict& v, int64_t now);

  // Starts what the scheduler allows; call after each of the above.
  void pump(int64_t now);

  // When pump() should run again for a rate-delayed destination (milliseconds on the
  // clock_ms clock), or nullopt.
  std::optional<int64_t> next_wakeup_ms();

  size_t messages_in_flight() const { return messages_.size(); }
  bool has_room() const { return messages_.size() < cfg_.message_active_limit; }
  size_t jobs_running() const { return running_.size(); }

 private:
  struct Pass {
    StoredMessage msg;
    std::string queue = "active";
    int64_t active_since_us = 0;
    std::vector<std::string> routed;  // per recipient: the address handed to the agent
    int jobs = 0;                     // queued + running
    std::vector<Outcome> outcomes;    // for reports: failed and (if asked) delivered
    DeferInfo defer;                  // reasons of this pass
    bool defer_file = true;           // defer/ID may exist (false for new mail)
    bool deferred_any = false;
    // Recipients whose outcome is written once this pass's report is queued (bounced by
    // qmgr, or delivered with destinations of their expansion bounced): index, bounced.
    std::vector<std::pair<size_t, bool>> mark_later;
  };
  struct Running {
    Job job;
    int64_t started_us = 0;
  };

  enum class Admit { Done, Full };
  // fresh: the ID was just queued (named by a wake-up, or queued by qmgr itself), so it
  // has no defer/ notes, and a file that is gone already was taken by a scan.
  Admit admit(const std::string& queue, const std::string& id, int64_t now, bool fresh = false);
  void pickup_maildrop(const std::string& id, int64_t now, bool fresh);
  // Queues a picked-up message (into hold/ when hold), removes maildrop/<id>, admits it.
  void queue_picked_up(const std::string& id, const NewMessage& m, const std::string& uid, bool hold, int64_t now);
  void route_message(Pass& p, int64_t now);
  void record(Pass& p, size_t idx, const AgentReply& r, int64_t started_us);
  void discard_rcpt(Pass& p, size_t idx, const std::string& reason);
  void defer_rcpt(Pass& p, size_t idx, const std::string& dsn, const std::string& reason,
                  const std::string& relay, int64_t started_us, bool logged = false);
  void bounce_rcpt(Pass& p, size_t idx, const std::string& dsn, const std::string& reason,
                   const std::string& relay, int64_t started_us, const char* status);
  void expand_rcpt(Pass& p, size_t idx, const std::vector<Route>& routes);
  void finish(const std::string& id, int64_t now);
  int64_t now_ms() const;
  // Defers a job's recipients without trying: its destination is dead.
  void defer_suspended(Pass& p, const Job& job, const Suspension& why);
  // What a finished request says about its destination (Postfix's "site" failures).
  static Feedback feedback_of(const AgentResult& r, std::string* dsn, std::string* reason);
  // False when a report could not be queued (the caller keeps its bounces pending).
  bool send_notices(Pass& p, int64_t now);
  void log_rcpt(const Pass& p, size_t idx, const std::string& relay, int64_t started_us,
                const std::string& dsn, const char* status, const std::string& text);
  ipc::Message request_for(const Pass& p, const Job& job) const;
  int recipient_limit(const std::string& transport) const;

  ManagerConfig cfg_;
  Store& store_;
  Agents& agents_;
  Scheduler sched_;
  std::map<std::string, Pass> messages_;     // by queue id, in active/
  std::map<uint64_t, Running> running_;
  uint64_t next_token_ = 1;
  std::vector<std::string> new_ids_;         // queued by us (reports, expansions): admit soon
  PickupFilter* pickup_filter_ = nullptr;
  // maildrop id -> the message and its submitter's uid, while the filters read it.
  std::map<std::string, std::pair<NewMessage, std::string>> inspecting_;
  SenderLimits sender_limits_{0, 0};
  std::set<std::string> over_limit_;  // maildrop files already logged as waiting
  static constexpr size_t kMaxInspecting = 20;
};

}  // namespace postilion::qmgr
