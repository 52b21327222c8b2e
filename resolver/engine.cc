// resolver/engine.cc - libunbound queries on the event loop, cache, next-hop jobs.
#include "resolver/engine.h"

#include <ctime>

#include "lib/base/strings.h"
#include "lib/log/log.h"

namespace postilion::resolver {

namespace {
int64_t now_s() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec;
}
}  // namespace

dns::Answer answer_from_ub(int err, const ub_result* r) {
  dns::Answer a;
  if (err != 0 || !r) {
    a.outcome = dns::Outcome::TempFail;
    a.why = err ? ub_strerror(err) : "no result";
    return a;
  }
  a.ttl = r->ttl > 0 ? static_cast<uint32_t>(r->ttl) : 0;
  a.security = r->bogus ? dns::Security::Bogus : r->secure ? dns::Security::Secure : dns::Security::Insecure;
  if (r->canonname)
    if (auto c = dns::normalize_name(r->canonname)) a.canonical = *c;
  if (r->bogus) {
    // A bogus answer is never used: it may be forged. Retry later (RFC 7672 2.1.1).
    a.outcome = dns::Outcome::TempFail;
    a.why = std::string("DNSSEC validation failed") + (r->why_bogus ? ": " + str::printable(r->why_bogus, 200) : "");
    return a;
  }
  if (r->rcode == 3 || r->nxdomain) {
    a.outcome = dns::Outcome::NxDomain;
    return a;
  }
  if (r->rcode != 0) {
    a.outcome = dns::Outcome::TempFail;
    a.why = r->rcode == 2 ? "SERVFAIL" : str::format("rcode %d", r->rcode);
    return a;
  }
  if (!r->havedata) {
    a.outcome = dns::Outcome::NoData;
    return a;
  }
  a.outcome = dns::Outcome::Ok;
  for (int i = 0; r->data[i]; ++i) a.rdata.emplace_back(r->data[i], static_cast<size_t>(r->len[i]));
  return a;
}

Engine::Engine(event::EventBase& base, const Settings& s)
    : base_(base),
      settings_(s),
      cache_(s.cache_size, s.max_ttl, s.negative_ttl),
      rng_(std::random_device{}()) {}

Engine::~Engine() {
  fd_event_ = event::Event();
  // Cancel what is still out so libunbound does not call back into a dead engine.
  for (auto& [serial, p] : pending_)
    if (ctx_ && p->async_id && ub_cancel(ctx_.get(), p->async_id) == 0)
      delete static_cast<std::pair<Engine*, uint64_t>*>(p->tag);
}

Result<std::unique_ptr<Engine>> Engine::create(event::EventBase& base, const Settings& s) {
  std::unique_ptr<Engine> e(new Engine(base, s));
  e->ctx_.reset(ub_ctx_create());
  if (!e->ctx_) return Error("resolver: ub_ctx_create failed");
  ub_ctx* ctx = e->ctx_.get();
  int r;
  // Threads, not a forked helper: the helper would outlive a chroot/uid change badly.
  if ((r = ub_ctx_async(ctx, 1)) != 0) return Error(std::string("resolver: ub_ctx_async: ") + ub_strerror(r));
  if (s.servers.empty()) {
    if ((r = ub_ctx_resolvconf(ctx, nullptr)) != 0)
      return Error(std::string("resolver: /etc/resolv.conf: ") + ub_strerror(r));
  } else {
    // Given servers may be on loopback (tests, a local validating cache).
    ub_ctx_set_option(ctx, "do-not-query-localhost:", "no");
    for (const auto& srv : s.servers)
      if ((r = ub_ctx_set_fwd(ctx, srv.c_str())) != 0)
        return Error("resolver: dns_servers: " + srv + ": " + ub_strerror(r));
  }
  if (!s.ipv6) ub_ctx_set_option(ctx, "do-ip6:", "no");
  // Client names (PTR) come from the upstream servers, which know the site's own
  // addresses: libunbound's built-in answers for the private and loopback reverse
  // zones (RFC 6303) would call every LAN or local client "unknown".
  ub_ctx_set_option(ctx, "unblock-lan-zones:", "yes");
  ub_ctx_set_option(ctx, "local-zone:", "127.in-addr.arpa. transparent");
  if (!s.trust_anchor_file.empty())
    if ((r = ub_ctx_add_ta_file(ctx, s.trust_anchor_file.c_str())) != 0)
      return Error("resolver: dnssec_trust_anchor_file " + s.trust_anchor_file + ": " + ub_strerror(r));
  // Finalize now (reads resolv.conf, trust anchors) so errors show at start, and ub_fd
  // is valid before the first query.
  int fd = ub_fd(ctx);
  if (fd < 0) return Error("resolver: ub_fd failed");
  Engine* self = e.get();
  e->fd_event_ = event::Event(base, fd, EV_READ | EV_PERSIST, [self](short) { self->readable(); });
  e->fd_event_.add();
  return e;
}

void Engine::readable() {
  int r = ub_process(ctx_.get());
  if (r != 0) log::warn("resolver: ub_process: %s", ub_strerror(r));
}

void Engine::ub_callback(void* mydata, int err, ub_result* result) {
  // mydata carries the engine and the query serial; a query that timed out is gone
  // from pending_, and its late answer is dropped here.
  auto* tag = static_cast<std::pair<Engine*, uint64_t>*>(mydata);
  Engine* self = tag->first;
  uint64_t serial = tag->second;
  delete tag;
  dns::Answer a = answer_from_ub(err, result);
  if (result) ub_resolve_free(result);
  event::guard("resolver callback", [&] { self->finish(serial, a); });
}

void Engine::finish(uint64_t serial, const dns::Answer& a) {
  auto it = pending_.find(serial);
  if (it == pending_.end()) return;
  std::unique_ptr<Pending> p = std::move(it->second);
  pending_.erase(it);
  p->timer.stop();
  cache_.put(p->name, p->type, a, now_s());
  if (a.outcome == dns::Outcome::TempFail)
    log::info("resolver: %s/%s: temporary failure: %s", str::printable(p->name, 255).c_str(),
              dns::rrtype_name(p->type), a.why.c_str());
  p->cb(a);
}

void Engine::query(const std::string& name, dns::RrType type, AnswerCallback cb) {
  if (auto hit = cache_.get(name, type, now_s())) {
    cb(*hit);
    return;
  }
  uint64_t serial = next_serial_++;
  auto p = std::make_unique<Pending>();
  p->name = name;
  p->type = type;
  p->cb = std::move(cb);
  p->timer = event::Timer(base_, [this, serial] {
    auto it = pending_.find(serial);
    if (it == pending_.end()) return;
    // Cancelled: libunbound will not call back, so the tag is ours to free. If the
    // answer is already on its way, the callback finds no pending entry and drops it.
    if (it->second->async_id && ub_cancel(ctx_.get(), it->second->async_id) == 0)
      delete static_cast<std::pair<Engine*, uint64_t>*>(it->second->tag);
    dns::Answer a;
    a.outcome = dns::Outcome::TempFail;
    a.why = "timeout";
    finish(serial, a);
  });
  auto* tag = new std::pair<Engine*, uint64_t>(this, serial);
  int id = 0;
  int r = ub_resolve_async(ctx_.get(), name.c_str(), static_cast<int>(type), 1 /* IN */, tag,
                           &Engine::ub_callback, &id);
  if (r != 0) {
    delete tag;
    dns::Answer a;
    a.outcome = dns::Outcome::TempFail;
    a.why = ub_strerror(r);
    p->cb(a);
    return;
  }
  p->async_id = id;
  p->tag = tag;
  p->timer.start(settings_.query_timeout_ms);
  pending_[serial] = std::move(p);
}

// Shared by the callbacks of all queries of one request (MX, then A/AAAA per host);
// whichever finishes last completes the request, hence shared ownership.
struct Engine::HopJob {
  std::string domain;
  PlanCallback cb;
  dns::Security mx_security = dns::Security::Insecure;
  bool bracketed = false;
  std::vector<dns::HostAnswers> hosts;
  size_t outstanding = 0;
};

void Engine::nexthops(const std::string& domain, bool mx, PlanCallback cb) {
  auto job = std::make_shared<HopJob>();
  job->domain = domain;
  job->cb = std::move(cb);
  if (!mx) {
    job->bracketed = true;
    job->hosts.push_back(dns::HostAnswers{{0, domain}, {}, {}});
    lookup_hosts(job);
    return;
  }
  query(domain, dns::RrType::MX, [this, job](const dns::Answer& a) {
    auto st = dns::plan_mx(job->domain, a, rng_);
    if (st.plan.status != dns::PlanStatus::Ok) {
      job->cb(std::move(st.plan));
      return;
    }
    job->mx_security = a.security;
    for (auto& h : st.hosts) job->hosts.push_back(dns::HostAnswers{h, {}, {}});
    lookup_hosts(job);
  });
}

void Engine::lookup_hosts(std::shared_ptr<HopJob> job) {
  // Mark every answer not asked for as NoData first, then count what is asked, so a
  // cached answer completing synchronously cannot finish the job early.
  for (auto& h : job->hosts) {
    h.a.outcome = dns::Outcome::NoData;
    h.aaaa.outcome = dns::Outcome::NoData;
    job->outstanding += (settings_.ipv4 ? 1 : 0) + (settings_.ipv6 ? 1 : 0);
  }
  auto done = [this, job] {
    if (--job->outstanding != 0) return;
    dns::Security sec = job->mx_security;
    if (job->bracketed) sec = job->hosts[0].a.outcome == dns::Outcome::Ok ? job->hosts[0].a.security : job->hosts[0].aaaa.security;
    job->cb(dns::plan_hops(job->domain, job->hosts, settings_.me, sec));
  };
  if (job->outstanding == 0) {
    job->outstanding = 1;
    done();
    return;
  }
  for (size_t i = 0; i < job->hosts.size(); ++i) {
    std::string host = job->hosts[i].mx.host;
    if (settings_.ipv4)
      query(host, dns::RrType::A, [job, i, done](const dns::Answer& a) {
        job->hosts[i].a = a;
        done();
      });
    if (settings_.ipv6)
      query(host, dns::RrType::AAAA, [job, i, done](const dns::Answer& a) {
        job->hosts[i].aaaa = a;
        done();
      });
  }
}

// A client name lookup: the PTR answer, then one address query per PTR name in turn
// until one holds the client's address (RFC 1912 2.1: a name that does not map back
// is not trusted, or anyone controlling a reverse zone could claim any name).
struct Engine::NameJob {
  std::string ip;
  bool v6 = false;
  std::vector<std::string> names;
  size_t next = 0;
  bool tempfail = false;
  NameCallback cb;
};

void Engine::client_name(const std::string& ip, NameCallback cb) {
  using dns::proto::ClientName;
  auto rev = dns::reverse_name(ip);
  if (!rev) {
    cb(ClientName{ClientName::Status::NxDomain, "", "not an address"});
    return;
  }
  auto job = std::make_shared<NameJob>();
  job->ip = ip;
  job->v6 = ip.find(':') != std::string::npos;
  job->cb = std::move(cb);
  query(*rev, dns::RrType::PTR, [this, job](const dns::Answer& a) {
    if (a.outcome != dns::Outcome::Ok) {
      ClientName::Status st = a.outcome == dns::Outcome::NoData    ? ClientName::Status::NoData
                              : a.outcome == dns::Outcome::NxDomain ? ClientName::Status::NxDomain
                                                               : ClientName::Status::TempFail;
      job->cb(ClientName{st, "", a.why});
      return;
    }
    for (const auto& rd : a.rdata) {
      if (job->names.size() >= kMaxPtrNames) break;
      // Names with bytes outside host name syntax are skipped: they would go into logs
      // and the Received: header.
      if (auto n = dns::present(dns::RrType::PTR, rd); n && dns::normalize_name(*n)) job->names.push_back(*n);
    }
    if (job->names.empty()) {
      job->cb(ClientName{ClientName::Status::NoData, "", "no usable PTR record"});
      return;
    }
    confirm_next(job);
  });
}

void Engine::confirm_next(std::shared_ptr<NameJob> job) {
  using dns::proto::ClientName;
  if (job->next >= job->names.size()) {
    // None maps back. A temporary failure on the way is reported as such (the name
    // might have been confirmed).
    if (job->tempfail) job->cb(ClientName{ClientName::Status::TempFail, "", "address lookup failed"});
    else job->cb(ClientName{ClientName::Status::Unconfirmed, job->names.front(), ""});
    return;
  }
  std::string name = job->names[job->next++];
  query(name, job->v6 ? dns::RrType::AAAA : dns::RrType::A, [this, job, name](const dns::Answer& a) {
    if (a.outcome == dns::Outcome::TempFail) job->tempfail = true;
    if (a.outcome == dns::Outcome::Ok) {
      for (const auto& rd : a.rdata) {
        auto addr = job->v6 ? dns::decode_aaaa(rd) : dns::decode_a(rd);
        if (addr && dns::same_address(*addr, job->ip)) {
          job->cb(ClientName{ClientName::Status::Ok, name, ""});
          return;
        }
      }
    }
    confirm_next(job);
  });
}

}  // namespace postilion::resolver
