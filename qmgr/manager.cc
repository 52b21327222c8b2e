// qmgr/manager.cc - queue manager decisions: admission, routing, outcomes, retries.
#include "qmgr/manager.h"

#include <algorithm>

#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/ipc/metrics.h"
#include "lib/log/log.h"
#include "lib/mail/address.h"
#include "lib/mail/header.h"
#include "lib/queue/delivery_log.h"
#include "lib/queue/delivery_request.h"

namespace postilion::qmgr {
namespace {

std::string p(const std::string& s) { return str::printable(s, 300); }

}  // namespace

Manager::Manager(ManagerConfig cfg, Store& store, Agents& agents)
    : cfg_(std::move(cfg)), store_(store), agents_(agents) {
  sched_.set_default_limits(cfg_.default_limits);
  for (const auto& [t, l] : cfg_.limits) sched_.set_limits(t, l);
  // A dead destination waits as long as Postfix's does: minimal_backoff_time.
  sched_.set_dead_time(std::max<int64_t>(1, cfg_.minimal_backoff_time) * 1000);
  sender_limits_ = SenderLimits(cfg_.local_sender_message_rate_limit, cfg_.local_sender_recipient_rate_limit);
}

int64_t Manager::now_ms() const { return cfg_.clock_ms ? cfg_.clock_ms() : file::now_us() / 1000; }

std::optional<int64_t> Manager::next_wakeup_ms() { return sched_.next_wakeup(now_ms()); }

int Manager::recipient_limit(const std::string& transport) const {
  auto it = cfg_.recipient_limits.find(transport);
  int n = it == cfg_.recipient_limits.end() ? cfg_.default_recipient_limit : it->second;
  return std::max(1, n);
}

void Manager::start(int64_t now) {
  // Mail that was in active/ when qmgr stopped is first in line: its recipients'
  // status bytes say what is left, so nothing done is done again.
  for (const auto& id : store_.list("active")) admit("active", id, now);
  scan_new(now);
  scan_deferred(now, false);
}

bool Manager::scan_new(int64_t now) {
  bool all = true;
  for (const char* q : {"incoming", "maildrop"})
    for (const auto& id : store_.list(q))
      if (admit(q, id, now) == Admit::Full) all = false;
  return all;
}

bool Manager::admit_new(const std::string& queue, const std::string& id, int64_t now) {
  if (queue != "incoming" && queue != "maildrop") return true;
  return admit(queue, id, now, true) == Admit::Done;
}

void Manager::scan_deferred(int64_t now, bool flush) {
  // A flush tries every destination again, dead ones too (a content filter back up).
  if (flush) sched_.revive_all(now_ms());
  for (const auto& id : store_.list("deferred")) {
    if (!flush) {
      auto t = store_.next_try(id);
      if (t && *t > now) continue;
    }
    admit("deferred", id, now);
  }
}

Manager::Admit Manager::admit(const std::string& queue, const std::string& id, int64_t now, bool fresh) {
  if (messages_.count(id)) return Admit::Done;
  if (messages_.size() >= cfg_.message_active_limit) return Admit::Full;
  if (queue == "maildrop") {
    pickup_maildrop(id, now, fresh);
    return Admit::Done;
  }
  if (queue != "active") {
    if (Status st = store_.move(id, queue, "active"); !st) {
      if (!(fresh && st.error().code() == ENOENT))
        log::warn("%s/%s: cannot move to active: %s", queue.c_str(), id.c_str(), st.error().c_str());
      return Admit::Done;
    }
  }
  bool corrupt = false;
  auto msg = store_.load("active", id, &corrupt);
  if (!msg) {
    if (corrupt) {
      log::warn("active/%s: %s; moved to corrupt/", id.c_str(), msg.error().c_str());
      if (Status st = store_.move(id, "active", "corrupt"); !st)
        log::error("active/%s: cannot move to corrupt/: %s", id.c_str(), st.error().c_str());
    } else {
      log::warn("active/%s: %s; will retry", id.c_str(), msg.error().c_str());
      if (store_.move(id, "active", "deferred")) (void)store_.set_next_try(id, now + cfg_.minimal_backoff_time);
    }
    return Admit::Done;
  }
  Pass& pass = messages_[id];
  pass.msg = std::move(*msg);
  pass.active_since_us = file::now_us();
  // New mail has no deferral notes: no lookup in defer/ (and no unlink when it is done).
  pass.defer_file = !fresh;
  if (!fresh) pass.defer.warned = store_.defer_info(id).warned;
  pass.routed.resize(pass.msg.recipients.size());
  size_t pending = std::count_if(pass.msg.recipients.begin(), pass.msg.recipients.end(),
                                 [](const StoredRecipient& r) { return !r.done; });
  log::info("%s: from=<%s>, size=%llu, nrcpt=%zu (queue active)", id.c_str(), p(pass.msg.sender).c_str(),
            static_cast<unsigned long long>(pass.msg.size), pending);
  route_message(pass, now);
  if (pass.jobs == 0) finish(id, now);
  return Admit::Done;
}

void Manager::pickup_maildrop(const std::string& id, int64_t now, bool fresh) {
  // maildrop/ is written by any local user through postdrop: trust nothing. The file
  // is re-queued through a fresh, validated queue file; the original goes away only
  // once the copy is durable (a crash in between duplicates, never loses).
  // At the filters already, or as many there as they may have at once: the file waits
  // in maildrop/ for a later scan.
  if (pickup_filter_ && (inspecting_.count(id) || inspecting_.size() >= kMaxInspecting)) return;
  bool corrupt = false;
  auto msg = store_.load("maildrop", id, &corrupt);
  std::string why;
  if (!msg) {
    if (!corrupt) {
      if (!(fresh && msg.error().code() == ENOENT)) log::warn("maildrop/%s: %s", id.c_str(), msg.error().c_str());
      return;
    }
    why = msg.error().str();
  } else if (msg->recipients.empty()) {
    why = "no recipients";
  } else if (!mail::parse_address(msg->sender)) {
    why = "bad sender address";
  }
  auto content = why.empty() ? store_.content("maildrop", id) : Result<std::string>(Error("unused"));
  if (why.empty() && !content) {
    log::warn("maildrop/%s: %s", id.c_str(), content.error().c_str());
    return;
  }
  if (!why.empty()) {
    log::warn("maildrop/%s: %s; moved to corrupt/", id.c_str(), p(why).c_str());
    if (Status st = store_.move(id, "maildrop", "corrupt"); !st)
      log::error("maildrop/%s: cannot move to corrupt/: %s", id.c_str(), st.error().c_str());
    return;
  }
  NewMessage m;
  m.sender = msg->sender;
  m.envid = msg->envid;
  m.ret = msg->ret;
  m.arrival = msg->arrival;
  m.content = std::move(*content);
  // content_filter applies to local submissions too, as Postfix's pickup has it; the
  // maildrop file's own attribute (anyone's to write) is never taken.
  m.content_filter = cfg_.content_filter;
  for (const auto& r : msg->recipients)
    if (!r.done) m.recipients.push_back(r);
  std::string uid = msg->uid;
  // Per local sender limits: over them the file waits here, logged once, and is taken
  // when the sender's hour allows (the next scans see it again).
  if (auto v = sender_limits_.admit(uid.empty() ? "unknown" : uid, m.recipients.size(), now);
      v != SenderLimits::Verdict::Admit) {
    if (over_limit_.insert(id).second)
      log::warn("maildrop/%s: uid=%s from=<%s>: deferred: 4.7.1 local sender %s rate limit exceeded "
                   "(%d per hour); left in maildrop/", id.c_str(), uid.empty() ? "unknown" : uid.c_str(),
                   p(m.sender).c_str(), v == SenderLimits::Verdict::Messages ? "message" : "recipient",
                   v == SenderLimits::Verdict::Messages ? cfg_.local_sender_message_rate_limit
                                                        : cfg_.local_sender_recipient_rate_limit);
    return;
  }
  over_limit_.erase(id);
  if (pickup_filter_) {
    // Filters first (non_smtpd_milters): the file stays in maildrop/ until they answer.
    auto it = inspecting_.emplace(id, std::pair{std::move(m), uid}).first;
    pickup_filter_->start(id, it->second.first);
    return;
  }
  queue_picked_up(id, m, uid, false, now);
}

void Manager::queue_picked_up(const std::string& id, const NewMessage& m, const std::string& uid, bool hold, int64_t now) {
  auto nid = store_.inject(m);
  if (!nid) {
    log::warn("maildrop/%s: cannot queue: %s", id.c_str(), nid.error().c_str());
    return;
  }
  // Postfix's pickup(8) line, which log tools (pflogsumm) count as a message received.
  log::info_as("pickup", "%s: uid=%s from=<%s>", nid->c_str(), uid.empty() ? "unknown" : uid.c_str(), p(m.sender).c_str());
  ipc::metric("postilion_messages_received_total", {{"service", "pickup"}});
  if (hold) {
    if (Status st = store_.move(*nid, "incoming", "hold"); !st)
      log::warn("%s: cannot move to hold/: %s", nid->c_str(), st.error().c_str());
  }
  if (Status st = store_.remove("maildrop", id); !st)
    log::warn("maildrop/%s: cannot remove: %s", id.c_str(), st.error().c_str());
  if (!hold) admit("incoming", *nid, now, true);
}

void Manager::pickup_inspected(const std::string& id, const PickupVerdict& v, int64_t now) {
  auto it = inspecting_.find(id);
  if (it == inspecting_.end()) return;
  NewMessage m = std::move(it->second.first);
  std::string uid = std::move(it->second.second);
  inspecting_.erase(it);
  // Postfix's cleanup lines: "ID: milter-reject: END-OF-MESSAGE from localhost[127.0.0.1]:
  // 5.7.1 text; from=<a@b> to=<c@d>".
  auto milter_log = [&](const char* action, const std::string& text) {
    std::string line = "maildrop/" + id + ": milter-" + action + ": END-OF-MESSAGE from localhost[127.0.0.1]: " +
                       text + "; from=<" + m.sender + ">";
    if (m.recipients.size() == 1) line += " to=<" + m.recipients.front().address + ">";
    log::info_as("cleanup", "%s", str::printable(line, 1000).c_str());
  };
  switch (v.kind) {
    case PickupVerdict::Kind::Tempfail:
      milter_log("reject", v.reply);
      log::warn("maildrop/%s: mail filter tempfail; left for a later pickup", id.c_str());
      return;
    case PickupVerdict::Kind::Discard:
      milter_log("discard", "milter triggers DISCARD action");
      if (Status st = store_.remove("maildrop", id); !st)
        log::warn("maildrop/%s: cannot remove: %s", id.c_str(), st.error().c_str());
      return;
    case PickupVerdict::Kind::Reject:
      // Queued, then bounced to the sender when qmgr routes it (route_message): the
      // report is written by the same path as any bounce, and a restart in between
      // still bounces it.
      milter_log("reject", v.reply);
      m.milter_reject = v.reply.empty() ? "5.7.1 Command rejected" : v.reply;
      m.content_filter.clear();
      queue_picked_up(id, m, uid, false, now);
      return;
    case PickupVerdict::Kind::Accept:
      break;
  }
  if (v.content) {
    m.content = *v.content;
  }
  if (v.sender) m.sender = *v.sender;
  auto same = [](const std::string& a, const std::string& b) { return str::lower(a) == str::lower(b); };
  for (const auto& d : v.deleted_rcpts)
    std::erase_if(m.recipients, [&](const StoredRecipient& r) { return same(r.address, d); });
  for (const auto& a : v.added_rcpts) {
    std::string addr = a.find('@') == std::string::npos ? a + "@" + cfg_.route.myhostname : a;
    if (addr.empty() || std::any_of(m.recipients.begin(), m.recipients.end(),
                                    [&](const StoredRecipient& r) { return same(r.address, addr); }))
      continue;
    m.recipients.push_back({addr, "", mail::kNotifyDefault, 0, false});
  }
  if (m.recipients.empty()) {
    milter_log("discard", "milter removed every recipient");
    if (Status st = store_.remove("maildrop", id); !st)
      log::warn("maildrop/%s: cannot remove: %s", id.c_str(), st.error().c_str());
    return;
  }
  if (v.hold) milter_log("hold", "milter triggers HOLD action");
  queue_picked_up(id, m, uid, v.hold, now);
}

void Manager::route_message(Pass& pass, int64_t /*now*/) {
  // transport, nexthop, scheduling destination -> recipients. A transport delivering
  // one recipient per request (local) is scheduled per recipient, as in Postfix, so
  // its destination concurrency limit holds per recipient.
  std::map<std::tuple<std::string, std::string, std::string>, std::vector<size_t>> groups;
  for (size_t i = 0; i < pass.msg.recipients.size(); ++i) {
    const auto& r = pass.msg.recipients[i];
    if (r.done) continue;
    if (!pass.msg.milter_reject.empty()) {
      // Refused by a mail filter at pickup: bounced, as Postfix's cleanup bounces mail
      // that did not come by SMTP.
      const std::string& why = pass.msg.milter_reject;
      size_t sp = why.find(' ');
      std::string dsn = why.substr(0, sp);
      bool coded = dsn.size() >= 5 && dsn[0] == '5' && dsn[1] == '.';
      pass.routed[i] = r.address;
      bounce_rcpt(pass, i, coded ? dsn : "5.7.1", coded && sp != std::string::npos ? why.substr(sp + 1) : why, "none",
                  pass.active_since_us, "bounced");
      continue;
    }
    if (!pass.msg.content_filter.empty()) {
      Route rt = filter_route(cfg_.route, pass.msg.content_filter, r.address);
      pass.routed[i] = rt.address;
      if (rt.kind == Route::Kind::Defer) {
        defer_rcpt(pass, i, rt.dsn, rt.reason, "none", pass.active_since_us);
        continue;
      }
      std::string dest = recipient_limit(rt.transport) == 1 ? str::lower(rt.address) : "";
      groups[{rt.transport, rt.nexthop, dest}].push_back(i);
      continue;
    }
    auto routes = resolve(cfg_.route, r.address);
    if (routes.size() == 1 && routes[0].kind == Route::Kind::Deliver) {
      pass.routed[i] = routes[0].address;
      const Route& rt = routes[0];
      std::string dest = recipient_limit(rt.transport) == 1 ? str::lower(rt.address) : "";
      groups[{rt.transport, rt.nexthop, dest}].push_back(i);
    } else if (routes.size() == 1 && routes[0].kind == Route::Kind::Bounce) {
      pass.routed[i] = routes[0].address;
      bounce_rcpt(pass, i, routes[0].dsn, routes[0].reason, "none", pass.active_since_us, "bounced");
    } else if (routes.size() == 1 && routes[0].kind == Route::Kind::Discard) {
      pass.routed[i] = routes[0].address;
      discard_rcpt(pass, i, routes[0].reason);
    } else {
      expand_rcpt(pass, i, routes);
    }
  }
  int64_t ms = now_ms();
  for (auto& [key, idxs] : groups) {
    const auto& [transport, nexthop, dest] = key;
    size_t limit = recipient_limit(transport);
    std::optional<Suspension> dead;
    if (const Suspension* d = sched_.dead(transport, dest.empty() ? nexthop : dest, ms)) dead = *d;
    for (size_t at = 0; at < idxs.size(); at += limit) {
      Job job{pass.msg.id, transport, nexthop, {}, dest};
      for (size_t k = at; k < std::min(idxs.size(), at + limit); ++k) job.recipients.push_back(idxs[k]);
      if (dead) {
        defer_suspended(pass, job, *dead);
        continue;
      }
      sched_.enqueue(std::move(job));
      ++pass.jobs;
    }
  }
}

void Manager::expand_rcpt(Pass& pass, size_t idx, const std::vector<Route>& routes) {
  // A virtual alias with several targets: the targets become a new message (same
  // sender and content), then this recipient is done. A crash in between repeats the
  // expansion: duplicates, never a loss.
  auto& r = pass.msg.recipients[idx];
  pass.routed[idx] = r.address;
  NewMessage m;
  m.sender = pass.msg.sender;
  m.envid = pass.msg.envid;
  m.ret = pass.msg.ret;
  m.arrival = pass.msg.arrival;
  std::vector<std::string> bounced;
  std::vector<Outcome> failed;  // a DSN each, with the alias as the original recipient
  for (const auto& rt : routes) {
    if (rt.kind == Route::Kind::Deliver) {
      m.recipients.push_back({rt.address, r.orcpt.empty() ? r.address : r.orcpt, r.notify, 0, false});
    } else if (rt.kind != Route::Kind::Discard) {
      bounced.push_back(rt.address + ": " + rt.reason);
      failed.push_back({rt.address, r.orcpt.empty() ? r.address : r.orcpt, r.notify, mail::DsnAction::Failed,
                        rt.dsn.rfind("5.", 0) == 0 ? rt.dsn : "5.1.1", "expanded from <" + r.address + ">: " + rt.reason,
                        "none"});
    }
  }
  if (m.recipients.empty() && bounced.empty()) {
    discard_rcpt(pass, idx, "every alias target discarded");
    return;
  }
  if (m.recipients.empty()) {
    bounce_rcpt(pass, idx, "5.1.1", str::join(bounced, "; "), "none", pass.active_since_us, "bounced");
    return;
  }
  auto content = store_.content("active", pass.msg.id);
  if (!content) {
    defer_rcpt(pass, idx, "4.3.0", "cannot read message: " + content.error().str(), "none", pass.active_since_us);
    return;
  }
  m.content = std::move(*content);
  auto nid = store_.inject(m);
  if (!nid) {
    defer_rcpt(pass, idx, "4.3.0", "cannot queue alias expansion: " + nid.error().str(), "none", pass.active_since_us);
    return;
  }
  // With targets that bounced, the expansion is recorded once their report is queued
  // (finish): a crash in between expands it again rather than losing the report.
  if (!failed.empty()) {
    pass.mark_later.emplace_back(idx, false);
  } else if (Status st = store_.mark_done("active", pass.msg.id, r.offset, false); !st) {
    log::warn("%s: cannot record expansion of <%s>: %s", pass.msg.id.c_str(), p(r.address).c_str(), st.error().c_str());
  }
  r.done = true;
  std::string text = str::format("alias expanded to %zu recipients, queued as %s", m.recipients.size(), nid->c_str());
  if (!bounced.empty()) text += "; failed: " + str::join(bounced, "; ");
  log_rcpt(pass, idx, "none", pass.active_since_us, "2.0.0", "expanded", text);
  // The targets that bounced are reported when this pass finishes, like the bounced
  // destinations of a local expansion (record()).
  for (auto& o : failed) pass.outcomes.push_back(std::move(o));
  new_ids_.push_back(*nid);
}

ipc::Message Manager::request_for(const Pass& pass, const Job& job) const {
  queue::DeliveryRequest r;
  r.id = pass.msg.id;
  r.file = "active/" + pass.msg.id;
  r.sender = pass.msg.sender;
  r.nexthop = job.nexthop;
  r.report_expanded = true;  // per-destination bounces of an expansion (protocols.h)
  for (size_t idx : job.recipients) {
    const auto& rc = pass.msg.recipients[idx];
    r.rcpts.push_back({pass.routed[idx], rc.orcpt, rc.offset});
  }
  return queue::encode_delivery_request(r);
}

void Manager::pump(int64_t now) {
  // Messages we queued ourselves (reports, expansions) join without waiting for a scan.
  auto ids = std::move(new_ids_);
  new_ids_.clear();
  for (const auto& id : ids) admit("incoming", id, now, true);
  int64_t ms = now_ms();
  while (auto job = sched_.next(ms)) {
    uint64_t token = next_token_++;
    auto it = messages_.find(job->queue_id);
    if (it == messages_.end()) PANIC("qmgr: job for unknown message %s", job->queue_id.c_str());
    running_[token] = {*job, file::now_us()};
    agents_.start(token, job->transport, request_for(it->second, *job));
  }
}

void Manager::log_rcpt(const Pass& pass, size_t idx, const std::string& relay, int64_t started_us,
                       const std::string& dsn, const char* status, const std::string& text) {
  const auto& r = pass.msg.recipients[idx];
  std::string to = pass.routed[idx].empty() ? r.address : pass.routed[idx];
  queue::DeliveryEvent e{pass.msg.id, to, r.address, relay, dsn, status, text, {}};
  // Whole seconds would add up to a second to every delay: microseconds when known.
  e.times.arrival_us = pass.msg.arrival_us ? pass.msg.arrival_us : pass.msg.arrival * 1000000;
  e.times.active_us = pass.active_since_us;
  e.times.handoff_us = started_us;
  queue::log_delivery(e);
}

void Manager::defer_rcpt(Pass& pass, size_t idx, const std::string& dsn, const std::string& reason,
                         const std::string& relay, int64_t started_us, bool logged) {
  pass.deferred_any = true;
  pass.defer.reasons[pass.msg.recipients[idx].address] = reason;
  if (!logged) log_rcpt(pass, idx, relay, started_us, dsn, "deferred", reason);
}

void Manager::bounce_rcpt(Pass& pass, size_t idx, const std::string& dsn, const std::string& reason,
                          const std::string& relay, int64_t started_us, const char* status) {
  // Bounced by qmgr itself (routing, expiry): the status byte is written only after the
  // report is queued (finish), so a crash in between repeats the report rather than
  // losing it.
  auto& r = pass.msg.recipients[idx];
  if (!r.done) {
    r.done = true;
    pass.mark_later.emplace_back(idx, true);
  }
  log_rcpt(pass, idx, relay, started_us, dsn, status, reason);
  Outcome o{r.address, r.orcpt, r.notify, mail::DsnAction::Failed, dsn, reason, relay};
  pass.outcomes.push_back(std::move(o));
}

void Manager::discard_rcpt(Pass& pass, size_t idx, const std::string& reason) {
  // transport_maps "discard:": the recipient is done as if delivered, without an agent.
  auto& r = pass.msg.recipients[idx];
  if (Status st = store_.mark_done("active", pass.msg.id, r.offset, false); !st) {
    defer_rcpt(pass, idx, "4.3.0", "cannot record discard: " + st.error().str(), "none", pass.active_since_us);
    return;
  }
  record(pass, idx, AgentReply{r.address, "sent", "2.0.0", reason, "none", {}}, pass.active_since_us);
}

void Manager::record(Pass& pass, size_t idx, const AgentReply& reply, int64_t started_us) {
  auto& r = pass.msg.recipients[idx];
  if (reply.result == "defer") {
    defer_rcpt(pass, idx, reply.dsn, reply.text, reply.relay, started_us, reply.logged);
    return;
  }
  bool bounced = reply.result == "bounce";
  r.done = true;
  // A delivered expansion with destinations that bounced: the agent left the outcome
  // for us to write once their report is queued (finish, lib/ipc/protocols.h).
  if (!bounced && !reply.expanded.empty()) {
    pass.mark_later.emplace_back(idx, false);
  } else if (auto done = store_.is_done("active", pass.msg.id, r.offset); !done || !*done) {
    // The agent records a final outcome itself before replying; check, and repair.
    if (done) log::warn("%s: agent did not record the outcome for <%s>; recording it", pass.msg.id.c_str(), p(r.address).c_str());
    if (Status st = store_.mark_done("active", pass.msg.id, r.offset, bounced); !st) {
      log::warn("%s: cannot record outcome of <%s>: %s", pass.msg.id.c_str(), p(r.address).c_str(), st.error().c_str());
    }
  }
  if (bounced) {
    if (!reply.logged) log_rcpt(pass, idx, reply.relay, started_us, reply.dsn, "bounced", reply.text);
    pass.outcomes.push_back({r.address, r.orcpt, r.notify, mail::DsnAction::Failed, reply.dsn, reply.text, reply.relay});
  } else {
    if (!reply.logged) log_rcpt(pass, idx, reply.relay, started_us, reply.dsn, "sent", reply.text);
    if (mail::wants_success(r.notify))
      pass.outcomes.push_back({r.address, r.orcpt, r.notify, mail::DsnAction::Delivered, reply.dsn, reply.text, reply.relay});
    // Destinations of its expansion that bounced (the agent logged them): a DSN each.
    for (const auto& [addr, dsn, text] : reply.expanded)
      pass.outcomes.push_back({addr, r.orcpt.empty() ? r.address : r.orcpt, r.notify,
                               mail::DsnAction::Failed, dsn.empty() ? "5.0.0" : dsn,
                               "expanded from <" + r.address + ">: " + text, reply.relay});
  }
}

Feedback Manager::feedback_of(const AgentResult& r, std::string* dsn, std::string* reason) {
  // The agent could not be used at all: nothing is known about the destination.
  if (!r.ok || r.rcpts.empty()) return Feedback::None;
  // A site failure: no recipient reached a final state, and every deferral has a
  // network-and-routing status (RFC 3463 X.4.Y: no answer, bad connection, routing or
  // DNS failure) - the agent could not hold a session with any server of the
  // destination. A server's 4xx to one recipient (4.2.x, 4.7.x, ...) is not one.
  for (const auto& rc : r.rcpts)
    if (rc.result != "defer" || rc.dsn.rfind("4.4.", 0) != 0) return Feedback::Success;
  *dsn = r.rcpts.front().dsn;
  *reason = r.rcpts.front().text;
  return Feedback::SiteFailure;
}

void Manager::defer_suspended(Pass& pass, const Job& job, const Suspension& why) {
  for (size_t idx : job.recipients)
    defer_rcpt(pass, idx, why.dsn, "delivery temporarily suspended: " + why.reason, "none", pass.active_since_us);
}

void Manager::complete(uint64_t token, const AgentResult& result, int64_t now) {
  auto it = running_.find(token);
  if (it == running_.end()) return;
  Running run = std::move(it->second);
  running_.erase(it);
  std::string dsn, reason;
  Feedback fb = feedback_of(result, &dsn, &reason);
  Scheduler::Verdict verdict = sched_.finished(run.job, fb, now_ms(), dsn, reason);
  if (verdict.died)
    log::info("%s: destination %s: delivery temporarily suspended for %llds: %s", run.job.transport.c_str(),
              p(run.job.dest()).c_str(), static_cast<long long>(std::max<int64_t>(1, cfg_.minimal_backoff_time)),
              p(reason).c_str());
  if (auto mit = messages_.find(run.job.queue_id); mit != messages_.end()) {
    Pass& pass = mit->second;
    for (size_t k = 0; k < run.job.recipients.size(); ++k) {
      size_t idx = run.job.recipients[k];
      if (!result.ok) {
        defer_rcpt(pass, idx, "4.3.0", result.error, "none", run.started_us);
        continue;
      }
      // Replies come in request order; one missing or for another address is a defer
      // (the agent died mid-request, or is confused).
      if (k >= result.rcpts.size() || result.rcpts[k].rcpt != pass.routed[idx]) {
        defer_rcpt(pass, idx, "4.3.0", "delivery agent gave no result", "none", run.started_us);
        continue;
      }
      record(pass, idx, result.rcpts[k], run.started_us);
    }
    if (--pass.jobs == 0) finish(run.job.queue_id, now);
  }
  // The destination just died: what was waiting for it is deferred without trying.
  if (!verdict.died) return;
  const Suspension* why = sched_.dead(run.job.transport, run.job.dest(), now_ms());
  Suspension s = why ? *why : Suspension{dsn, reason, 0};
  for (const Job& job : verdict.suspended) {
    auto mit = messages_.find(job.queue_id);
    if (mit == messages_.end()) continue;
    defer_suspended(mit->second, job, s);
    if (--mit->second.jobs == 0) finish(job.queue_id, now);
  }
}

bool Manager::send_notices(Pass& pass, int64_t now) {
  if (pass.outcomes.empty()) return true;
  auto content = store_.content("active", pass.msg.id);
  if (!content) {
    log::warn("%s: cannot read message for notification: %s", pass.msg.id.c_str(), content.error().c_str());
    return false;
  }
  bool all_queued = true;
  MessageInfo info;
  info.queue_id = pass.msg.id;
  info.sender = pass.msg.sender;
  info.envid = pass.msg.envid;
  info.ret = pass.msg.ret;
  info.arrival_time = pass.msg.arrival;
  info.now = now;
  info.retry_until = pass.msg.arrival + cfg_.maximal_queue_lifetime;
  bool any_failed = false, any_delayed = false;
  for (const auto& o : pass.outcomes) {
    any_failed |= o.action == mail::DsnAction::Failed;
    any_delayed |= o.action == mail::DsnAction::Delayed;
  }
  // A failed bounce (sender <>) is reported once to postmaster by plan_notices; a
  // failed report to postmaster is only logged.
  if (any_failed && is_double_bounce(cfg_.notice, pass.msg.sender))
    log::warn("%s: undeliverable postmaster notification discarded", pass.msg.id.c_str());
  for (auto& n : plan_notices(cfg_.notice, info, pass.outcomes, *content)) {
    NewMessage m;
    m.sender = n.envelope_sender;
    m.recipients.push_back({n.recipient, "", mail::kNotifyDefault, 0, false});
    m.content = mail::to_crlf(n.text);  // queued content is CRLF, as SMTP delivers it
    auto nid = store_.inject(m);
    std::string what = any_failed ? "non-delivery" : any_delayed ? "delay" : "delivery status";
    std::string who = n.envelope_sender.empty() ? "sender" : "postmaster";
    if (!nid) {
      log::warn("%s: cannot queue %s %s notification: %s", pass.msg.id.c_str(), who.c_str(), what.c_str(),
                nid.error().c_str());
      all_queued = false;
      continue;
    }
    log::info("%s: %s %s notification: %s", pass.msg.id.c_str(), who.c_str(), what.c_str(), nid->c_str());
    new_ids_.push_back(*nid);
  }
  pass.outcomes.clear();
  return all_queued;
}

void Manager::finish(const std::string& id, int64_t now) {
  Pass& pass = messages_[id];
  int64_t age = now - pass.msg.arrival;
  std::vector<size_t> pending;
  for (size_t i = 0; i < pass.msg.recipients.size(); ++i)
    if (!pass.msg.recipients[i].done) pending.push_back(i);
  int64_t lifetime = pass.msg.sender.empty() ? cfg_.bounce_queue_lifetime : cfg_.maximal_queue_lifetime;
  if (!pending.empty() && expired(age, lifetime)) {
    for (size_t i : pending) {
      auto it = pass.defer.reasons.find(pass.msg.recipients[i].address);
      std::string why = it == pass.defer.reasons.end() ? "delivery temporarily suspended" : it->second;
      bounce_rcpt(pass, i, "4.4.7", "message delivery time expired: " + why, "none", file::now_us(), "expired");
    }
    pending.clear();
    for (size_t i = 0; i < pass.msg.recipients.size(); ++i)
      if (!pass.msg.recipients[i].done) pending.push_back(i);
  }
  if (!pending.empty() && delay_warning_due(age, cfg_.delay_warning_time, pass.defer.warned)) {
    for (size_t i : pending) {
      const auto& r = pass.msg.recipients[i];
      auto it = pass.defer.reasons.find(r.address);
      pass.outcomes.push_back({r.address, r.orcpt, r.notify, mail::DsnAction::Delayed, "4.0.0",
                               it == pass.defer.reasons.end() ? "delivery delayed" : it->second, "none"});
    }
    pass.defer.warned = true;
  }
  bool reported = send_notices(pass, now);
  for (auto [i, bounced] : pass.mark_later) {
    const auto& r = pass.msg.recipients[i];
    Status st = reported ? store_.mark_done("active", id, r.offset, bounced) : Status(Error("report not queued"));
    if (!st) {
      // Not recorded: it stays pending and is tried (and reported) again next time.
      log::warn("%s: cannot record outcome of <%s>: %s", id.c_str(), p(r.address).c_str(), st.error().c_str());
      pass.msg.recipients[i].done = false;
      pending.push_back(i);
    }
  }
  pass.mark_later.clear();
  if (pending.empty()) {
    if (Status st = store_.retire(id); !st) {
      log::warn("active/%s: cannot remove: %s", id.c_str(), st.error().c_str());
    } else {
      if (pass.defer_file) store_.drop_defer_info(id);
      log::info("%s: removed", id.c_str());
    }
  } else {
    // Keep only reasons of recipients still pending (for mailq).
    DeferInfo info;
    info.warned = pass.defer.warned;
    for (size_t i : pending) {
      const auto& a = pass.msg.recipients[i].address;
      if (auto it = pass.defer.reasons.find(a); it != pass.defer.reasons.end()) info.reasons[a] = it->second;
    }
    if (Status st = store_.set_defer_info(id, info); !st)
      log::warn("%s: cannot save deferral reasons: %s", id.c_str(), st.error().c_str());
    // Reasons first, then the move: the next try time goes on the file in deferred/.
    if (Status st = store_.move(id, "active", "deferred"); !st) {
      log::warn("active/%s: cannot move to deferred: %s", id.c_str(), st.error().c_str());
    } else {
      (void)store_.set_next_try(id, now + retry_delay(age, cfg_.minimal_backoff_time, cfg_.maximal_backoff_time));
    }
  }
  sched_.drop(id);
  messages_.erase(id);
}

}  // namespace postilion::qmgr
