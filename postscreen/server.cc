// postscreen/server.cc - postscreen(8)'s settings and its table of clients.
#include "postscreen/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <ctime>

#include "lib/base/strings.h"
#include "lib/log/log.h"
#include "postscreen/session.h"

namespace postilion::postscreen {

std::optional<Action> parse_action(std::string_view word) {
  if (word == "ignore") return Action::Ignore;
  if (word == "enforce") return Action::Enforce;
  if (word == "drop") return Action::Drop;
  return std::nullopt;
}

namespace {

// The value of a parameter that has an old name: the new name unless only the old one
// is set (Postfix's postscreen_blacklist_action, postscreen_dnsbl_whitelist_threshold).
std::string renamed(const config::Config& cfg, std::string_view now, std::string_view old) {
  if (cfg.is_default(now) && !cfg.is_default(old)) return cfg.str(old);
  return cfg.str(now);
}

Result<Action> action(const config::Config& cfg, std::string_view name, std::string_view old = {}) {
  std::string v = std::string(str::trim(old.empty() ? cfg.str(name) : renamed(cfg, name, old)));
  if (auto a = parse_action(v)) return *a;
  return Error(std::string(name) + ": expected ignore, enforce or drop, got \"" + str::printable(v, 40) + "\"", EINVAL);
}

Result<int> whole(std::string_view name, const std::string& v) {
  auto n = str::parse_int(std::string(str::trim(v)));
  if (!n || *n < -1000000000 || *n > 1000000000)
    return Error(std::string(name) + ": not a number: \"" + str::printable(v, 40) + "\"", EINVAL);
  return static_cast<int>(*n);
}

}  // namespace

Result<Settings> Settings::from_config(const config::Config& cfg) {
  Settings s;
  s.queue_directory = cfg.str("queue_directory");
  s.hostname = cfg.str("myhostname");
  s.smtpd_banner = cfg.str("smtpd_banner");
  s.greet_banner = cfg.str("postscreen_greet_banner");
  if (s.greet_banner.find_first_of("\r\n") != std::string::npos)
    return Error("postscreen_greet_banner: a line break in the banner", EINVAL);
  s.greet_wait_ms = cfg.seconds("postscreen_greet_wait") * 1000;
  s.greet_ttl_s = cfg.seconds("postscreen_greet_ttl");
  auto greet = action(cfg, "postscreen_greet_action");
  if (!greet) return greet.error();
  s.greet_action = *greet;
  for (const auto& item : maps::split_specs(cfg.str("postscreen_access_list"))) {
    if (item != "permit_mynetworks" && item.find(':') == std::string::npos)
      return Error("postscreen_access_list: expected permit_mynetworks or type:table, got \"" +
                       str::printable(item, 80) + "\"",
                   EINVAL);
    s.access_list.push_back(item);
  }
  auto nets = parse_cidr_list(cfg.list("mynetworks"));
  if (!nets) return Error("mynetworks: " + nets.error(), EINVAL);
  s.mynetworks = std::move(*nets);
  auto deny = action(cfg, "postscreen_denylist_action", "postscreen_blacklist_action");
  if (!deny) return deny.error();
  s.denylist_action = *deny;
  auto sites = parse_dnsbl_sites(cfg.str("postscreen_dnsbl_sites"));
  if (!sites) return Error("postscreen_dnsbl_sites: " + sites.error(), EINVAL);
  s.dnsbl_sites = std::move(*sites);
  auto threshold = whole("postscreen_dnsbl_threshold", cfg.str("postscreen_dnsbl_threshold"));
  if (!threshold) return threshold.error();
  s.dnsbl_threshold = *threshold;
  auto allow = whole("postscreen_dnsbl_allowlist_threshold",
                     renamed(cfg, "postscreen_dnsbl_allowlist_threshold", "postscreen_dnsbl_whitelist_threshold"));
  if (!allow) return allow.error();
  s.dnsbl_allowlist_threshold = *allow;
  auto dnsbl = action(cfg, "postscreen_dnsbl_action");
  if (!dnsbl) return dnsbl.error();
  s.dnsbl_action = *dnsbl;
  s.dnsbl_reply_map = std::string(str::trim(cfg.str("postscreen_dnsbl_reply_map")));
  s.dnsbl_timeout_ms = std::max<int64_t>(1, cfg.seconds("postscreen_dnsbl_timeout")) * 1000;
  s.dnsbl_ttl_s = cfg.seconds("postscreen_dnsbl_ttl");
  s.cache_map = std::string(str::trim(cfg.str("postscreen_cache_map")));
  s.cache_retention_s = cfg.seconds("postscreen_cache_retention_time");
  s.cache_cleanup_ms = cfg.seconds("postscreen_cache_cleanup_interval") * 1000;
  s.connection_count_limit = static_cast<int>(cfg.integer("postscreen_client_connection_count_limit"));
  s.pre_queue_limit = static_cast<int>(cfg.integer("postscreen_pre_queue_limit"));
  s.command_time_limit_ms = std::max<int64_t>(1, cfg.seconds("postscreen_command_time_limit")) * 1000;
  s.service_name = std::string(str::trim(cfg.str("smtpd_service_name")));
  for (char c : s.service_name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.')
      return Error("smtpd_service_name: bad service name \"" + str::printable(s.service_name, 40) + "\"", EINVAL);
  if (s.service_name.empty()) return Error("smtpd_service_name: empty", EINVAL);
  return s;
}

Server::Server(event::EventBase& base, Settings s) : base_(base), s_(std::move(s)) {}

Server::~Server() {
  // Sessions first: their events and links live on base_. Moved out before they go, so
  // a link that answers its callers as it closes finds no session.
  auto doomed = std::move(sessions_);
  sessions_.clear();
  doomed.clear();
}

Status Server::init() {
  for (const auto& item : s_.access_list) {
    if (item == "permit_mynetworks") {
      access_.push_back(nullptr);
      continue;
    }
    auto m = maps::open(item);
    if (!m) return Error("postscreen_access_list: " + item + ": " + m.error().str(), m.error().code());
    access_.push_back(std::move(*m));
  }
  if (!s_.dnsbl_reply_map.empty()) {
    auto m = maps::MapList::open(s_.dnsbl_reply_map);
    if (!m) return Error("postscreen_dnsbl_reply_map: " + m.error().str(), m.error().code());
    reply_map_ = std::make_unique<maps::MapList>(std::move(*m));
  }
  if (!s_.cache_map.empty()) {
    auto c = Cache::open(s_.cache_map);
    if (!c) return c.error();
    cache_ = std::move(*c);
    clean_cache();
    if (s_.cache_cleanup_ms > 0) {
      cleanup_ = event::Timer(base_, [this] { clean_cache(); });
      cleanup_.repeat(s_.cache_cleanup_ms);
    }
  }
  return {};
}

void Server::clean_cache() {
  if (!cache_) return;
  int n = cache_->clean(static_cast<int64_t>(std::time(nullptr)) - s_.cache_retention_s);
  if (n > 0) log::info("cache %s: %d expired entries removed", cache_->path().c_str(), n);
}

Access Server::access(const std::string& ip) {
  for (size_t i = 0; i < access_.size(); ++i) {
    if (!access_[i]) {
      if (cidr_list_contains(s_.mynetworks, ip)) return Access::Permit;
      continue;
    }
    auto r = access_[i]->lookup(ip);
    if (!r) {
      log::warn("postscreen_access_list: %s: %s", s_.access_list[i].c_str(), r.error().c_str());
      continue;
    }
    if (!*r) continue;
    std::string word = str::lower(std::string(str::trim(**r)));
    word = word.substr(0, word.find_first_of(" \t"));
    if (word == "permit") return Access::Permit;
    if (word == "reject") return Access::Reject;
    if (word == "dunno") continue;
    log::warn("postscreen_access_list: %s: unknown action \"%s\" for %s (ignored)", s_.access_list[i].c_str(),
              str::printable(word, 40).c_str(), ip.c_str());
  }
  return Access::Dunno;
}

void Server::accept(UniqueFd fd, std::function<void()> on_end) {
  uint64_t id = next_id_++;
  auto session = std::make_unique<Session>(*this, id, std::move(fd));
  Session* raw = session.get();
  std::string ip = session->ip();
  ++per_ip_[ip];
  sessions_[id] = Entry{std::move(session), std::move(on_end), ip};
  raw->start();
}

Session* Server::find(uint64_t id) {
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : it->second.session.get();
}

int Server::connections_from(const std::string& ip) const {
  auto it = per_ip_.find(ip);
  return it == per_ip_.end() ? 0 : it->second;
}

void Server::finished(uint64_t id) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  if (auto p = per_ip_.find(it->second.ip); p != per_ip_.end() && --p->second <= 0) per_ip_.erase(p);
  // Not deleted here: this runs inside one of the session's own callbacks.
  base_.defer_delete(std::move(it->second.session));
  auto on_end = std::move(it->second.on_end);
  sessions_.erase(it);
  if (on_end) on_end();
}

}  // namespace postilion::postscreen
