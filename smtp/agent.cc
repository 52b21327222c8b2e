// smtp/agent.cc - serving delivery requests: next hops, sessions, outcomes, logs.
#include "smtp/agent.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/ipc/protocols.h"
#include "lib/log/log.h"
#include "lib/queue/delivery_log.h"
#include "lib/queue/delivery_reply.h"
#include "lib/queue/delivery_request.h"
#include "lib/queue/queue_file.h"
#include "smtp/destination.h"

namespace postilion::smtp_client {

using resolver::Plan;
using resolver::PlanStatus;

resolver::Plan ResolverDns::nexthops(const std::string& domain, bool mx) {
  auto r = ipc::call(path_, resolver::proto::nexthops_request(domain, mx), timeout_ms_);
  std::string why;
  if (r) {
    auto p = resolver::proto::decode_plan(*r);
    if (p) return *p;
    why = p.error();
  } else {
    why = r.error().str();
  }
  Plan p;
  p.status = PlanStatus::Temp;
  p.dsn = "4.4.3";
  p.text = "cannot get the next hops of " + domain + " from the resolver: " + why;
  return p;
}

std::optional<resolver::proto::QueryReply> ResolverDns::query(const std::string& name, resolver::RrType t) {
  auto r = ipc::call(path_, resolver::proto::query_request(name, t), timeout_ms_);
  if (!r) return std::nullopt;
  auto q = resolver::proto::decode_query_reply(*r);
  if (!q) return std::nullopt;
  return std::move(*q);
}

Agent::~Agent() {
  if (cached_) cached_->quit();
}

void Agent::expire_cache() {
  if (cached_ && (!cached_->usable() || mono_ms() - cached_->last_used_ms() > s_.connection_cache_ms)) {
    cached_->quit();
    cached_.reset();
  }
}

void Agent::close_cache() {
  if (cached_) cached_->quit();
  cached_.reset();
}

namespace {

// Keys tried in a per-destination table: "[host]:port" as written, the domain, then
// each parent domain as ".parent".
std::vector<std::string> table_keys(const std::string& label, const std::string& domain, uint16_t port) {
  std::vector<std::string> keys;
  // "[host]" also as "[host]:port" with the port actually used, the way relayhost and
  // transport_maps usually spell it.
  size_t colon = label.rfind(':');
  if (label.front() == '[' && (colon == std::string::npos || colon < label.rfind(']')))
    keys.push_back(label + ":" + std::to_string(port));
  keys.push_back(label);
  if (domain != label) keys.push_back(domain);
  for (size_t dot = domain.find('.'); dot != std::string::npos; dot = domain.find('.', dot + 1))
    keys.push_back(domain.substr(dot));
  return keys;
}

}  // namespace

Status Agent::tls_level_for(const std::string& label, const std::string& domain, uint16_t port, TlsLevel* out) {
  *out = s_.tls_level;
  if (!policy_) return {};
  for (const auto& k : table_keys(label, domain, port)) {
    auto v = policy_(k);
    if (!v) return Error("smtp_tls_policy_maps: " + v.error().str());
    if (!*v) continue;
    auto level = parse_policy_value(**v);
    if (!level) return Error("smtp_tls_policy_maps: bad value for " + k + ": " + str::printable(**v, 100));
    *out = *level;
    return {};
  }
  return {};
}

Status Agent::credentials_for(const std::string& label, const std::string& host, uint16_t port,
                              std::string* user, std::string* pass) {
  user->clear();
  pass->clear();
  if (!sasl_) return {};
  std::vector<std::string> keys = table_keys(label, label, port);
  keys.push_back(host);
  for (const auto& k : keys) {
    auto v = sasl_(k);
    if (!v) return Error("smtp_sasl_password_maps: " + v.error().str());
    if (!*v) continue;
    size_t colon = (*v)->find(':');
    if (colon == std::string::npos) return Error("smtp_sasl_password_maps: value for " + k + " is not user:password");
    *user = (*v)->substr(0, colon);
    *pass = (*v)->substr(colon + 1);
    return {};
  }
  return {};
}

// One request as the agent works through it: a job per recipient (in request order)
// with the queue file record it names, the message as sessions send it, and what the
// log line and the outcome need from the attempts.
struct Agent::Request {
  Request(const queue::DeliveryRequest& r, int64_t start)
      : dr(r), id(r.id), start_us(start), jobs(r.rcpts.size()), records(r.rcpts.size(), nullptr) {
    for (size_t i = 0; i < jobs.size(); ++i) {
      jobs[i].address = dr.rcpts[i].address;
      jobs[i].orcpt = dr.rcpts[i].orcpt;
      jobs[i].relay = "none";
      ptrs.push_back(&jobs[i]);
    }
    msg.queue_id = id;
  }
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;

  bool pending() const {
    return std::any_of(jobs.begin(), jobs.end(), [](const RcptJob& j) { return j.fate == RcptFate::Pending; });
  }
  void finish_all(RcptFate f, const std::string& dsn, const std::string& text) {
    for (auto& j : jobs)
      if (j.fate == RcptFate::Pending) {
        j.fate = f;
        j.dsn = dsn;
        j.text = text;
      }
  }

  const queue::DeliveryRequest& dr;
  const std::string& id;
  int64_t start_us;
  std::vector<RcptJob> jobs;
  std::vector<RcptJob*> ptrs;                    // the jobs, as Session::send takes them
  std::vector<const queue::Recipient*> records;  // each job's record; nullptr: none
  std::optional<queue::OpenedQueueFile> file;    // set when the file is usable
  MessageJob msg;
  int64_t conn_us = -1;    // when the session that delivered was ready
  std::string last_error;  // why the last next hop failed
};

// Where a request goes: the next hop as parsed, the port used, the connection cache
// and table key, and the TLS level.
struct Agent::Target {
  Destination dest;
  uint16_t port;
  std::string key;
  TlsLevel level;
};

ipc::Message Agent::serve(const ipc::Message& req) {
  int64_t start_us = file::now_us();
  auto parsed = queue::parse_delivery_request(req);
  if (!parsed) return queue::delivery_error_reply(parsed.error().str());
  Request r(*parsed, start_us);
  if (Status st = open_message(r); !st) return queue::delivery_error_reply(st.error().str());
  // Nothing left to send (offsets naming no record, recipients already final): no
  // lookup, no connection.
  if (r.file && r.pending()) deliver(r);
  record_outcomes(r);
  return reply_and_log(r);
}

Status Agent::open_message(Request& r) {
  // The queue file is the truth: the request must agree with it.
  auto opened = queue::read_queue_file(file::join(s_.queue_directory, r.dr.file), true);
  if (!opened) {
    r.finish_all(RcptFate::Deferred, "4.3.0", "cannot open queue file: " + opened.error().str());
    return {};
  }
  if (opened->parsed.status != queue::Parse::Complete) {
    r.finish_all(RcptFate::Deferred, "4.3.0", "queue file unusable: " + opened->parsed.error);
    return {};
  }
  if (r.dr.sender != opened->parsed.file.sender) return Error("sender does not match the queue file");
  r.file = std::move(*opened);
  const queue::QueueFile& qf = r.file->parsed.file;
  MessageJob& msg = r.msg;
  msg.sender = qf.sender;
  // Streamed from the queue file at send time, piece by piece (smtp/content.h).
  msg.content = Content(r.file->fd.get(), qf.content_offset, qf.content_length);
  if (auto b = qf.attribute("body")) msg.eightbit = str::iequals(*b, "8BITMIME");
  if (auto u = qf.attribute("smtputf8")) msg.smtputf8 = *u == "yes" || *u == "1";
  if (auto e = qf.attribute("envid")) msg.envid = *e;
  if (auto rt = qf.attribute("ret")) msg.ret = *rt;
  if (auto a = qf.attribute("auth")) msg.auth = *a;
  for (size_t i = 0; i < r.jobs.size(); ++i) {
    RcptJob& j = r.jobs[i];
    // The record may hold another address than the request: qmgr hands over the
    // routed one (a virtual alias's target, say).
    r.records[i] = queue::record_for(qf, r.dr.rcpts[i]);
    // Never deliver or mark anything qmgr did not hand over, nor anything final.
    if (!r.records[i]) {
      j.fate = RcptFate::Deferred;
      j.dsn = "4.3.0";
      j.text = "offset does not name a recipient record";
    } else if (queue::is_final(r.records[i]->status)) {
      j.fate = RcptFate::Sent;
      j.dsn = "2.0.0";
      j.text = "already delivered";
    }
    if (has_8bit(j.address)) msg.smtputf8 = true;
  }
  if (has_8bit(msg.sender)) msg.smtputf8 = true;
  return {};
}

void Agent::deliver(Request& r) {
  auto dest = parse_destination(r.dr.nexthop);
  if (!dest) {
    r.finish_all(RcptFate::Deferred, "4.3.5", "bad next hop " + str::printable(r.dr.nexthop, 100));
    return;
  }
  Target t{*dest, dest->port ? dest->port : s_.default_port, dest->label(), TlsLevel::May};
  if (auto st = tls_level_for(t.key, t.dest.host, t.port, &t.level); !st) {
    log::warn("%s: %s", r.id.c_str(), st.error().c_str());
    r.finish_all(RcptFate::Deferred, "4.3.5", st.error().str());
    return;
  }
  Plan plan = first_plan(t);
  if (plan.status != PlanStatus::Ok) {
    r.finish_all(plan.status == PlanStatus::Perm ? RcptFate::Bounced : RcptFate::Deferred, plan.dsn, plan.text);
    return;
  }
  std::unique_ptr<Session> se = try_cached(r, t);
  try_hops(r, t, plan, se);
  // Whatever is still pending waits for the next try.
  for (auto& j : r.jobs)
    if (j.fate == RcptFate::Pending) {
      j.fate = RcptFate::Deferred;
      if (j.text.empty()) j.text = r.last_error.empty() ? "no usable mail exchanger" : r.last_error;
      if (j.dsn.empty() || j.dsn[0] != '4') j.dsn = "4.4.1";
    }
  keep_session(std::move(se), t.key);
}

Plan Agent::first_plan(const Target& t) {
  Plan plan;
  if (t.dest.literal) {
    plan.status = PlanStatus::Ok;
    plan.hops.push_back({t.dest.host, t.dest.host, 0, resolver::Security::Insecure});
  } else if (cached_ && cached_key_ == t.key && cached_->usable() &&
             mono_ms() - cached_->last_used_ms() <= s_.connection_cache_ms) {
    plan.status = PlanStatus::Ok;  // the cached session is the first hop; DNS only if it fails
  } else {
    plan = dns_.nexthops(t.dest.host, t.dest.mx);
  }
  return plan;
}

std::unique_ptr<Session> Agent::try_cached(Request& r, const Target& t) {
  std::unique_ptr<Session> se;
  if (cached_ && cached_key_ == t.key) {
    if (mono_ms() - cached_->last_used_ms() <= s_.connection_cache_ms && cached_->prepare_reuse()) se = std::move(cached_);
    if (cached_) cached_->quit();
    cached_.reset();
  }
  if (se) send_on(r, se, "cached connection: ");
  return se;
}

void Agent::try_hops(Request& r, const Target& t, Plan& plan, std::unique_ptr<Session>& se) {
  // A plan without hops stood for the cached session: now the real one.
  if (r.pending() && plan.hops.empty()) plan = dns_.nexthops(t.dest.host, t.dest.mx);
  if (r.pending() && plan.status != PlanStatus::Ok) {
    if (se) se->quit();
    se.reset();
    r.finish_all(plan.status == PlanStatus::Perm ? RcptFate::Bounced : RcptFate::Deferred, plan.dsn, plan.text);
    return;
  }
  size_t addresses = 0, sessions = 0;
  for (size_t h = 0; r.pending() && h < plan.hops.size(); ++h) {
    if (s_.mx_address_limit && addresses >= s_.mx_address_limit) break;
    if (s_.mx_session_limit && sessions >= s_.mx_session_limit) break;
    ++addresses;
    if (se) se->quit();
    se.reset();
    Peer peer;
    HopStep step = peer_for(r, t, plan, plan.hops[h], &peer);
    if (step == HopStep::Skip) continue;
    if (step == HopStep::Stop) break;
    auto opened = open_session(r, peer);
    if (!opened) {
      r.last_error = opened.error().str();
      for (auto& j : r.jobs)
        if (j.fate == RcptFate::Pending) j.relay = peer.label();
      log::info("%s: %s", r.id.c_str(), r.last_error.c_str());
      // A greeting counts as a session even when refused (Postfix's limit).
      if (r.last_error.find("refused to talk") != std::string::npos) ++sessions;
      if (opened.error().temporary()) continue;
      r.finish_all(RcptFate::Bounced, "5.0.0", r.last_error);
      break;
    }
    se = std::move(*opened);
    ++sessions;
    if (!se->tls_summary().empty()) log::info("%s", se->tls_summary().c_str());
    send_on(r, se, "");
  }
}

Agent::HopStep Agent::peer_for(Request& r, const Target& t, const Plan& plan, const resolver::NextHop& hop,
                               Peer* peer) {
  peer->host = hop.host;
  peer->address = hop.address;
  peer->port = t.port;
  peer->nexthop = t.dest.host;
  peer->tls = t.level;
  if (auto st = credentials_for(t.key, hop.host, t.port, &peer->sasl_user, &peer->sasl_password); !st) {
    r.last_error = st.error().str();
    log::warn("%s: %s", r.id.c_str(), r.last_error.c_str());
    return HopStep::Stop;
  }
  // RFC 7672 2.2: TLSA only for a host whose address answer (and MX, when used) was
  // DNSSEC-secure; otherwise opportunistic TLS.
  bool secure_path = hop.security == resolver::Security::Secure &&
                     (!t.dest.mx || plan.security == resolver::Security::Secure);
  if (t.level == TlsLevel::Dane && secure_path && !lookup_tlsa(r, t.port, hop, peer)) return HopStep::Skip;
  bool verifies = t.level == TlsLevel::Verify || t.level == TlsLevel::Secure ||
                  (t.level == TlsLevel::Dane && !peer->tlsa.empty());
  if (verifies && load_trust_) {
    if (auto st = load_trust_(); !st) {
      r.last_error = st.error().str();
      log::warn("%s: %s", r.id.c_str(), r.last_error.c_str());
      return HopStep::Stop;
    }
  }
  return HopStep::Use;
}

bool Agent::lookup_tlsa(Request& r, uint16_t port, const resolver::NextHop& hop, Peer* peer) {
  auto tl = dns_.query("_" + std::to_string(port) + "._tcp." + hop.host, resolver::RrType::TLSA);
  if (!tl || tl->outcome == resolver::Outcome::TempFail) {
    r.last_error = "TLSA lookup for " + hop.host + " failed" + (tl ? ": " + tl->text : std::string());
    return false;
  }
  if (tl->outcome == resolver::Outcome::Ok && tl->security == resolver::Security::Secure)
    for (const auto& rr : tl->records)
      if (auto rec = resolver::parse_tlsa_text(rr)) peer->tlsa.push_back(*rec);
  return true;
}

Result<std::unique_ptr<Session>> Agent::open_session(const Request& r, Peer& peer) {
  auto se = Session::open(peer, s_.session, tls_);
  if (!se && se.error().code() == EPROTO &&
      (peer.tls == TlsLevel::May || (peer.tls == TlsLevel::Dane && peer.tlsa.empty()))) {
    // Opportunistic TLS that fails in the handshake: once more in the clear, as
    // Postfix does, rather than never delivering to a broken TLS peer.
    log::info("%s: %s; trying again without TLS", r.id.c_str(), se.error().c_str());
    peer.tls = TlsLevel::None;
    se = Session::open(peer, s_.session, tls_);
  }
  return se;
}

void Agent::send_on(Request& r, std::unique_ptr<Session>& se, const char* what) {
  r.conn_us = file::now_us();
  std::string err;
  auto sent = se->send(r.msg, r.ptrs, &err);
  if (sent == SendResult::LocalError) {
    log::warn("%s: %s", r.id.c_str(), err.c_str());
    r.finish_all(RcptFate::Deferred, "4.3.0", err);
  } else if (sent == SendResult::SiteError) {
    log::info("%s: %s%s", r.id.c_str(), what, err.c_str());
    r.last_error = err;
    se.reset();
  }
}

void Agent::keep_session(std::unique_ptr<Session> se, const std::string& key) {
  if (se && s_.connection_reuse && se->usable()) {
    if (cached_) cached_->quit();  // one cached connection per process: say goodbye
    cached_ = std::move(se);
    cached_key_ = key;
  } else if (se) {
    se->quit();
  }
}

void Agent::record_outcomes(Request& r) {
  // Each outcome is final only after the next hop's 250 or 5xx (queue::write_status),
  // so never too early; all are written before the reply (protocols.h).
  for (size_t i = 0; i < r.jobs.size(); ++i) {
    RcptJob& j = r.jobs[i];
    const queue::Recipient* rec = r.records[i];
    if (!rec || queue::is_final(rec->status) || (j.fate != RcptFate::Sent && j.fate != RcptFate::Bounced)) continue;
    auto st = queue::write_status(r.file->fd.get(), rec->offset,
                                  j.fate == RcptFate::Sent ? queue::RcptStatus::Delivered : queue::RcptStatus::Bounced);
    if (!st) {
      // Not recorded: qmgr must retry; a sent message may then go twice, never lost.
      log::warn("%s: cannot record outcome: %s", r.id.c_str(), st.error().c_str());
      j.fate = RcptFate::Deferred;
      j.dsn = "4.3.0";
      j.text = "cannot record outcome: " + st.error().str();
    }
  }
}

ipc::Message Agent::reply_and_log(const Request& r) {
  queue::DeliveryReplyBuilder reply(true);  // our own to=... lines, as Postfix's agents
  int64_t end_us = file::now_us();
  // The agent knows neither when qmgr took the message in hand nor when it asked: the
  // time before the request is all before qmgr. Without a session, all the time here
  // went into setting one up (DNS, failed connects).
  int64_t arrival = r.file ? r.file->parsed.file.arrival_us : r.start_us;
  queue::DeliveryTimes times{arrival, r.start_us, r.start_us, r.conn_us < 0 ? end_us : r.conn_us, end_us};
  for (size_t i = 0; i < r.jobs.size(); ++i) {
    const RcptJob& j = r.jobs[i];
    queue::Fate fate = j.fate == RcptFate::Sent      ? queue::Fate::Sent
                       : j.fate == RcptFate::Bounced ? queue::Fate::Bounced
                                                     : queue::Fate::Deferred;
    reply.add(j.address, fate, j.dsn, j.text, j.relay);
    std::string original = queue::original_recipient(r.dr.rcpts[i], r.records[i]);
    queue::log_delivery({r.id, j.address, original, j.relay, j.dsn, queue::log_status(fate), j.text, times});
  }
  return reply.message();
}

}  // namespace postilion::smtp_client
