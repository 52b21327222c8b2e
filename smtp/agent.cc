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
    if (auto p = resolver::proto::decode_plan(*r, &why)) return *p;
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
  std::string why;
  return resolver::proto::decode_query_reply(*r, &why);
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

ipc::Message Agent::serve(const ipc::Message& req) {
  int64_t start_us = file::now_us();
  auto parsed = queue::parse_delivery_request(req);
  if (!parsed) return queue::delivery_error_reply(parsed.error().str());
  const queue::DeliveryRequest& dr = *parsed;
  const std::string& id = dr.id;
  const std::string& nexthop = dr.nexthop;

  std::vector<RcptJob> jobs(dr.rcpts.size());
  for (size_t i = 0; i < dr.rcpts.size(); ++i) {
    jobs[i].address = dr.rcpts[i].address;
    jobs[i].orcpt = dr.rcpts[i].orcpt;
    jobs[i].relay = "none";
  }
  auto finish_all = [&](RcptFate f, const std::string& dsn, const std::string& text) {
    for (auto& j : jobs)
      if (j.fate == RcptFate::Pending) {
        j.fate = f;
        j.dsn = dsn;
        j.text = text;
      }
  };

  // The queue file is the truth: the request must agree with it.
  auto opened = queue::read_queue_file(file::join(s_.queue_directory, dr.file), true);
  std::vector<const queue::Recipient*> records(jobs.size(), nullptr);
  MessageJob msg;
  msg.queue_id = id;
  bool usable = false;
  if (!opened) {
    finish_all(RcptFate::Deferred, "4.3.0", "cannot open queue file: " + opened.error().str());
  } else if (opened->parsed.status != queue::Parse::Complete) {
    finish_all(RcptFate::Deferred, "4.3.0", "queue file unusable: " + opened->parsed.error);
  } else {
    const queue::QueueFile& qf = opened->parsed.file;
    if (dr.sender != qf.sender) return queue::delivery_error_reply("sender does not match the queue file");
    msg.sender = qf.sender;
    // Streamed from the queue file at send time, piece by piece (smtp/content.h).
    msg.content = Content(opened->fd.get(), qf.content_offset, qf.content_length);
    {
      usable = true;
      if (auto b = qf.attribute("body")) msg.eightbit = str::iequals(*b, "8BITMIME");
      if (auto u = qf.attribute("smtputf8")) msg.smtputf8 = *u == "yes" || *u == "1";
      if (auto e = qf.attribute("envid")) msg.envid = *e;
      if (auto r = qf.attribute("ret")) msg.ret = *r;
      if (auto a = qf.attribute("auth")) msg.auth = *a;
      for (size_t i = 0; i < jobs.size(); ++i) {
        // The record may hold another address than the request: qmgr hands over the
        // routed one (a virtual alias's target, say).
        records[i] = queue::record_for(qf, dr.rcpts[i]);
        // Never deliver or mark anything qmgr did not hand over, nor anything final.
        if (!records[i]) {
          jobs[i].fate = RcptFate::Deferred;
          jobs[i].dsn = "4.3.0";
          jobs[i].text = "offset does not name a recipient record";
        } else if (queue::is_final(records[i]->status)) {
          jobs[i].fate = RcptFate::Sent;
          jobs[i].dsn = "2.0.0";
          jobs[i].text = "already delivered";
        }
        if (has_8bit(jobs[i].address)) msg.smtputf8 = true;
      }
      if (has_8bit(msg.sender)) msg.smtputf8 = true;
    }
  }

  int64_t conn_us = -1;  // when the session that delivered was ready
  // Nothing left to send (offsets naming no record, recipients already final): no
  // lookup, no connection.
  bool to_send = usable && std::any_of(jobs.begin(), jobs.end(), [](const RcptJob& j) { return j.fate == RcptFate::Pending; });
  if (to_send) {
    auto dest = parse_destination(nexthop);
    if (!dest) {
      finish_all(RcptFate::Deferred, "4.3.5", "bad next hop " + str::printable(nexthop, 100));
    } else {
      uint16_t port = dest->port ? dest->port : s_.default_port;
      std::string key = dest->label();
      TlsLevel level;
      if (auto st = tls_level_for(key, dest->host, port, &level); !st) {
        log::warn("%s: %s", id.c_str(), st.error().c_str());
        finish_all(RcptFate::Deferred, "4.3.5", st.error().str());
      } else {
        Plan plan;
        if (dest->literal) {
          plan.status = PlanStatus::Ok;
          plan.hops.push_back({dest->host, dest->host, 0, resolver::Security::Insecure});
        } else if (cached_ && cached_key_ == key && cached_->usable() &&
                   mono_ms() - cached_->last_used_ms() <= s_.connection_cache_ms) {
          plan.status = PlanStatus::Ok;  // the cached session is the first hop; DNS only if it fails
        } else {
          plan = dns_.nexthops(dest->host, dest->mx);
        }
        if (plan.status == PlanStatus::Perm) finish_all(RcptFate::Bounced, plan.dsn, plan.text);
        if (plan.status == PlanStatus::Temp) finish_all(RcptFate::Deferred, plan.dsn, plan.text);
        if (plan.status == PlanStatus::Ok) {
          std::vector<RcptJob*> ptrs;
          for (auto& j : jobs) ptrs.push_back(&j);
          std::string last_error;
          size_t addresses = 0, sessions = 0;
          bool looked_up = !plan.hops.empty();
          // First, a cached connection to this destination (after RSET).
          std::unique_ptr<Session> se;
          if (cached_ && cached_key_ == key) {
            if (mono_ms() - cached_->last_used_ms() <= s_.connection_cache_ms && cached_->prepare_reuse()) se = std::move(cached_);
            if (cached_) cached_->quit();
            cached_.reset();
          }
          if (se) {
            conn_us = file::now_us();
            std::string err;
            auto sent = se->send(msg, ptrs, &err);
            if (sent == SendResult::LocalError) {
              log::warn("%s: %s", id.c_str(), err.c_str());
              finish_all(RcptFate::Deferred, "4.3.0", err);
            } else if (sent == SendResult::SiteError) {
              log::info("%s: cached connection: %s", id.c_str(), err.c_str());
              last_error = err;
              se.reset();
            }
          }
          auto pending = [&] {
            for (auto& j : jobs)
              if (j.fate == RcptFate::Pending) return true;
            return false;
          };
          if (pending() && !looked_up) plan = dns_.nexthops(dest->host, dest->mx);
          if (pending() && plan.status != PlanStatus::Ok) {
            if (se) se->quit();
            se.reset();
            finish_all(plan.status == PlanStatus::Perm ? RcptFate::Bounced : RcptFate::Deferred, plan.dsn, plan.text);
          }
          for (size_t h = 0; pending() && plan.status == PlanStatus::Ok && h < plan.hops.size(); ++h) {
            if (s_.mx_address_limit && addresses >= s_.mx_address_limit) break;
            if (s_.mx_session_limit && sessions >= s_.mx_session_limit) break;
            const auto& hop = plan.hops[h];
            ++addresses;
            if (se) se->quit();
            se.reset();
            Peer peer;
            peer.host = hop.host;
            peer.address = hop.address;
            peer.port = port;
            peer.nexthop = dest->host;
            peer.tls = level;
            if (auto st = credentials_for(key, hop.host, port, &peer.sasl_user, &peer.sasl_password); !st) {
              last_error = st.error().str();
              log::warn("%s: %s", id.c_str(), last_error.c_str());
              break;
            }
            if (level == TlsLevel::Dane) {
              // RFC 7672 2.2: TLSA only for a host whose address answer (and MX, when
              // used) was DNSSEC-secure; otherwise opportunistic TLS.
              bool secure_path = hop.security == resolver::Security::Secure &&
                                 (!dest->mx || plan.security == resolver::Security::Secure);
              if (secure_path) {
                auto t = dns_.query("_" + std::to_string(port) + "._tcp." + hop.host, resolver::RrType::TLSA);
                if (!t || t->outcome == resolver::Outcome::TempFail) {
                  last_error = "TLSA lookup for " + hop.host + " failed" + (t ? ": " + t->text : std::string());
                  continue;
                }
                if (t->outcome == resolver::Outcome::Ok && t->security == resolver::Security::Secure)
                  for (const auto& rr : t->records)
                    if (auto rec = resolver::parse_tlsa_text(rr)) peer.tlsa.push_back(*rec);
              }
            }
            bool verifies = level == TlsLevel::Verify || level == TlsLevel::Secure ||
                            (level == TlsLevel::Dane && !peer.tlsa.empty());
            if (verifies && load_trust_) {
              if (auto st = load_trust_(); !st) {
                last_error = st.error().str();
                log::warn("%s: %s", id.c_str(), last_error.c_str());
                break;
              }
            }
            auto opened_se = Session::open(peer, s_.session, tls_);
            if (!opened_se && opened_se.error().code() == EPROTO &&
                (level == TlsLevel::May || (level == TlsLevel::Dane && peer.tlsa.empty()))) {
              // Opportunistic TLS that fails in the handshake: once more in the clear,
              // as Postfix does, rather than never delivering to a broken TLS peer.
              log::info("%s: %s; trying again without TLS", id.c_str(), opened_se.error().c_str());
              peer.tls = TlsLevel::None;
              opened_se = Session::open(peer, s_.session, tls_);
            }
            if (!opened_se) {
              last_error = opened_se.error().str();
              for (auto& j : jobs)
                if (j.fate == RcptFate::Pending) j.relay = peer.label();
              log::info("%s: %s", id.c_str(), last_error.c_str());
              // A greeting counts as a session even when refused (Postfix's limit).
              if (last_error.find("refused to talk") != std::string::npos) ++sessions;
              if (opened_se.error().temporary()) continue;
              finish_all(RcptFate::Bounced, "5.0.0", last_error);
              break;
            }
            se = std::move(*opened_se);
            ++sessions;
            conn_us = file::now_us();
            if (!se->tls_summary().empty()) log::info("%s", se->tls_summary().c_str());
            std::string err;
            auto sent = se->send(msg, ptrs, &err);
            if (sent == SendResult::LocalError) {
              log::warn("%s: %s", id.c_str(), err.c_str());
              finish_all(RcptFate::Deferred, "4.3.0", err);
            } else if (sent == SendResult::SiteError) {
              last_error = err;
              log::info("%s: %s", id.c_str(), err.c_str());
              se.reset();
            }
          }
          // Whatever is still pending waits for the next try.
          for (auto& j : jobs)
            if (j.fate == RcptFate::Pending) {
              j.fate = RcptFate::Deferred;
              if (j.text.empty()) j.text = last_error.empty() ? "no usable mail exchanger" : last_error;
              if (j.dsn.empty() || j.dsn[0] != '4') j.dsn = "4.4.1";
            }
          if (se && s_.connection_reuse && se->usable()) {
            if (cached_) cached_->quit();  // one cached connection per process: say goodbye
            cached_ = std::move(se);
            cached_key_ = key;
          } else if (se) {
            se->quit();
          }
        }
      }
    }
  }

  // Record final outcomes in the queue file before the reply (protocols.h).
  queue::DeliveryReplyBuilder reply(true);  // our own to=... lines, as Postfix's agents
  int64_t end_us = file::now_us();
  // Without a session, all the time went into setting one up (DNS, failed connects).
  if (conn_us < 0) conn_us = end_us;
  int64_t arrival = usable ? opened->parsed.file.arrival_us : start_us;
  // All outcomes are written before any reply (queue::write_status: each only after the
  // next hop's 250 or 5xx, so never too early).
  auto not_recorded = [&](RcptJob& j, const Error& e) {
    // Not recorded: qmgr must retry; a sent message may then go twice, never lost.
    log::warn("%s: cannot record outcome: %s", id.c_str(), e.c_str());
    j.fate = RcptFate::Deferred;
    j.dsn = "4.3.0";
    j.text = "cannot record outcome: " + e.str();
  };
  for (size_t i = 0; i < jobs.size(); ++i) {
    RcptJob& j = jobs[i];
    if (records[i] && !queue::is_final(records[i]->status) &&
        (j.fate == RcptFate::Sent || j.fate == RcptFate::Bounced)) {
      auto st = queue::write_status(opened->fd.get(), records[i]->offset,
                                    j.fate == RcptFate::Sent ? queue::RcptStatus::Delivered : queue::RcptStatus::Bounced);
      if (!st) not_recorded(j, st.error());
    }
  }
  // The agent knows neither when qmgr took the message in hand nor when it asked: the
  // time before the request is all before qmgr.
  queue::DeliveryTimes times{arrival, start_us, start_us, conn_us, end_us};
  for (size_t i = 0; i < jobs.size(); ++i) {
    RcptJob& j = jobs[i];
    queue::Fate fate = j.fate == RcptFate::Sent ? queue::Fate::Sent : j.fate == RcptFate::Bounced ? queue::Fate::Bounced : queue::Fate::Deferred;
    reply.add(j.address, fate, j.dsn, j.text, j.relay);
    std::string original = queue::original_recipient(dr.rcpts[i], records[i]);
    queue::log_delivery({id, j.address, original, j.relay, j.dsn, queue::log_status(fate), j.text, times});
  }
  return reply.message();
}

}  // namespace postilion::smtp_client
