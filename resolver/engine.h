// resolver/engine.h - asynchronous DNS on libunbound, driven by the libevent loop:
// ub_fd() is watched by an Event and ub_process() runs the callbacks. Answers go
// through the TTL cache; every query has a deadline after which it is a temporary
// failure. Next-hop requests combine the MX and address queries (resolver/nexthop.h).
// Callbacks run from the event loop and never throw.
#pragma once

#include <unbound.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "lib/base/result.h"
#include "lib/dns/dns.h"
#include "lib/dns/nexthop.h"
#include "lib/dns/protocol.h"
#include "lib/event/event.h"
#include "resolver/cache.h"

namespace postilion::resolver {

struct Settings {
  std::vector<std::string> servers;  // "127.0.0.53@5353"; empty = /etc/resolv.conf
  std::string trust_anchor_file;     // "" = no DNSSEC validation (all insecure)
  bool ipv4 = true;                  // inet_protocols
  bool ipv6 = true;
  int query_timeout_ms = 10000;
  size_t cache_size = 10000;
  uint32_t max_ttl = 86400;
  uint32_t negative_ttl = 300;
  dns::Identity me;
};

inline constexpr size_t kMaxPtrNames = 5;

struct UbCtxFree {
  void operator()(ub_ctx* c) const { ub_ctx_delete(c); }
};

class Engine {
 public:
  using AnswerCallback = std::function<void(const dns::Answer&)>;
  using PlanCallback = std::function<void(dns::Plan)>;

  // Errors: a bad server address or trust anchor file (at start: fatal).
  static Result<std::unique_ptr<Engine>> create(event::EventBase& base, const Settings& s);
  ~Engine();

  // name must already be normalized (normalize_name).
  void query(const std::string& name, dns::RrType type, AnswerCallback cb);
  // domain: a mail domain (mx = true) or a host whose addresses are wanted (mx = false).
  void nexthops(const std::string& domain, bool mx, PlanCallback cb);
  // The forward-confirmed host name of ip (a valid address): the PTR names in answer
  // order (at most kMaxPtrNames), the first whose A (IPv4) or AAAA (IPv6) records
  // include ip.
  using NameCallback = std::function<void(dns::proto::ClientName)>;
  void client_name(const std::string& ip, NameCallback cb);

  size_t in_flight() const { return pending_.size(); }
  Cache& cache() { return cache_; }

 private:
  Engine(event::EventBase& base, const Settings& s);
  struct Pending {
    std::string name;
    dns::RrType type;
    int async_id = 0;
    void* tag = nullptr;  // handed to libunbound; freed by whoever ends the query
    AnswerCallback cb;
    event::Timer timer;
  };
  struct HopJob;
  struct NameJob;
  void confirm_next(std::shared_ptr<NameJob> job);
  static void ub_callback(void* mydata, int err, ub_result* result);
  void readable();
  void finish(uint64_t serial, const dns::Answer& a);
  void lookup_hosts(std::shared_ptr<HopJob> job);

  event::EventBase& base_;
  Settings settings_;
  std::unique_ptr<ub_ctx, UbCtxFree> ctx_;
  event::Event fd_event_;
  Cache cache_;
  std::map<uint64_t, std::unique_ptr<Pending>> pending_;
  uint64_t next_serial_ = 1;
  std::mt19937 rng_;
};

// Converts a libunbound result (and its error code) into an Answer.
dns::Answer answer_from_ub(int err, const ub_result* r);

}  // namespace postilion::resolver
