// postscreen/server.h - postscreen(8): one process, one event loop, many clients. Each
// new client on port 25 is checked against postscreen_access_list and the cache, then,
// if need be, tested (pregreet, DNS lists) while it waits for the greeting; a client
// that passes is handed to smtpd(8) over the `pass` service socket (descriptor
// passing: the client's TCP connection itself goes to smtpd, which greets it).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lib/base/cidr.h"
#include "lib/base/result.h"
#include "lib/base/unique_fd.h"
#include "lib/config/config.h"
#include "lib/event/event.h"
#include "lib/maps/maps.h"
#include "postscreen/cache.h"
#include "postscreen/dnsbl_sites.h"

namespace postilion::postscreen {

enum class Action { Ignore, Enforce, Drop };
enum class Access { Permit, Reject, Dunno };

// "ignore", "enforce", "drop"; nullopt for anything else.
std::optional<Action> parse_action(std::string_view word);

struct Settings {
  std::string queue_directory;
  std::string hostname;             // myhostname, in replies
  std::string smtpd_banner;         // the 220 line of postscreen's own engine
  std::string greet_banner;         // "" = no 220- line
  int64_t greet_wait_ms = 6000;
  int64_t greet_ttl_s = 86400;
  Action greet_action = Action::Ignore;
  // postscreen_access_list in order: "permit_mynetworks" or a table (type:name).
  std::vector<std::string> access_list;
  std::vector<Cidr> mynetworks;
  Action denylist_action = Action::Ignore;
  std::vector<DnsblSite> dnsbl_sites;
  int dnsbl_threshold = 1;
  int dnsbl_allowlist_threshold = 0;  // 0: off
  Action dnsbl_action = Action::Ignore;
  std::string dnsbl_reply_map;
  int64_t dnsbl_timeout_ms = 10000;
  int64_t dnsbl_ttl_s = 3600;
  std::string cache_map;            // "" = no cache
  int64_t cache_retention_s = 7 * 86400;
  int64_t cache_cleanup_ms = 12 * 3600 * 1000;  // 0: only at start
  int connection_count_limit = 50;
  int pre_queue_limit = 100;
  int64_t command_time_limit_ms = 300000;
  std::string service_name = "smtpd";  // private/NAME, the pass service

  static Result<Settings> from_config(const config::Config& cfg);
};

class Session;

class Server {
 public:
  Server(event::EventBase& base, Settings s);
  ~Server();
  // Opens the cache and the access tables (before the jail: the cache file is made in
  // queue_directory). Errors end the start.
  Status init();
  // A new client from the listener; on_end runs when postscreen is done with it
  // (handed over, refused, or gone).
  void accept(UniqueFd fd, std::function<void()> on_end);
  // The cache's periodic cleanup.
  void clean_cache();

  // For Session.
  const Settings& settings() const { return s_; }
  event::EventBase& base() { return base_; }
  Cache* cache() { return cache_.get(); }
  maps::MapList* reply_map() { return reply_map_.get(); }
  // What postscreen_access_list says of ip: the first entry that knows it decides.
  Access access(const std::string& ip);
  bool* dns_warned() { return &dns_warned_; }
  Session* find(uint64_t id);
  void finished(uint64_t id);
  size_t sessions() const { return sessions_.size(); }
  int connections_from(const std::string& ip) const;

 private:
  event::EventBase& base_;
  Settings s_;
  std::unique_ptr<Cache> cache_;
  std::vector<std::unique_ptr<maps::Map>> access_;  // by access_list entry; null: permit_mynetworks
  std::unique_ptr<maps::MapList> reply_map_;
  event::Timer cleanup_;
  struct Entry {
    std::unique_ptr<Session> session;
    std::function<void()> on_end;
    std::string ip;
  };
  std::map<uint64_t, Entry> sessions_;
  std::map<std::string, int> per_ip_;
  uint64_t next_id_ = 1;
  bool dns_warned_ = false;
};

}  // namespace postilion::postscreen
