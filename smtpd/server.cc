// smtpd/server.cc - per-process state shared by smtpd sessions.
#include "smtpd/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

#include "lib/base/file.h"
#include "lib/ipc/message.h"
#include "lib/ipc/protocols.h"
#include "lib/log/log.h"
#include "lib/queue/spool.h"
#include "smtpd/session.h"

namespace postilion::smtpd {

namespace {
constexpr int64_t kNameCacheMs = 60000;
constexpr size_t kNameCacheSize = 10000;
}  // namespace

std::string peer_ip(const sockaddr* sa, socklen_t len) {
  char buf[INET6_ADDRSTRLEN] = "";
  if (sa && sa->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, buf, sizeof buf);
  } else if (sa && sa->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    const auto* a6 = &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a6)) inet_ntop(AF_INET, a6->s6_addr + 12, buf, sizeof buf);
    else inet_ntop(AF_INET6, a6, buf, sizeof buf);
  } else {
    return "unknown";
  }
  return buf;
}

Server::Server(event::EventBase& base, Settings settings)
    : base_(base), settings_(std::move(settings)) {}

Server::~Server() = default;

Status Server::init() {
  auto p = Policy::create(settings_);
  if (!p) return p.error();
  policy_ = std::move(p.value());
  if (settings_.tls_wanted() || !settings_.tls_cert_file.empty()) {
    tls::ServerOptions o;
    o.cert_file = settings_.tls_cert_file;
    o.key_file = settings_.tls_key_file;
    o.ciphers = settings_.tls_ciphers;
    o.min_version = settings_.tls_min_version;
    auto ctx = tls::Context::server(o);
    if (!ctx) {
      // Without wrapper mode or "encrypt" the server still works without STARTTLS.
      if (settings_.tls_wrappermode || settings_.tls_security_level == "encrypt")
        return Error("TLS: " + ctx.error().str());
      log::warn("TLS disabled: %s", ctx.error().c_str());
    } else {
      tls_ = std::move(ctx.value());
    }
  }
  incoming_ = queue::Spool(settings_.queue_directory).dir(queue::Folder::Incoming);
  return {};
}

void Server::start() {
  if (!committer_) committer_ = std::make_unique<Committer>(base_, settings_.group_delay_us);
  if (!anvil_) {
    int ms = static_cast<int>(settings_.anvil_timeout_ms);
    anvil_ = std::make_unique<ServiceLink>(base_, file::join(settings_.queue_directory, ipc::proto::kAnvilSocket),
                                           "anvil", ms, false);
  }
}

std::unique_ptr<ServiceLink> Server::resolver_link() {
  if (!settings_.peername_lookup) return nullptr;
  // A missing resolver socket is a set-up without one (tests, small instances): the
  // client is "unknown" and nobody is warned.
  return std::make_unique<ServiceLink>(base_, file::join(settings_.queue_directory, ipc::proto::kResolverSocket),
                                       "resolver", static_cast<int>(settings_.peername_timeout_ms), true,
                                       &resolver_warned_);
}

void Server::accept(UniqueFd fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getpeername(fd.get(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) len = 0;
  accept(std::move(fd), reinterpret_cast<sockaddr*>(&ss), len);
}

void Server::accept(UniqueFd fd, const sockaddr* peer, socklen_t peer_len) {
  std::string ip = peer_ip(peer, peer_len);
  bool trusted = policy_->in_mynetworks(ip);
  if (settings_.max_sessions > 0 && static_cast<int>(sessions_.size()) >= settings_.max_sessions) {
    // A short reply on a fresh socket; a client too slow to take it loses it.
    std::string r = "421 4.7.0 " + settings_.myhostname + " Error: too many sessions\r\n";
    ssize_t n = ::send(fd.get(), r.data(), r.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)n;
    if (on_session_end_) on_session_end_();
    return;
  }
  // This process's own counts: the answer while anvil is down, and what end() undoes.
  int local_count = ++per_ip_[ip];
  int local_rate = 0;
  bool limited = !trusted && (settings_.connection_count_limit > 0 || settings_.connection_rate_limit > 0);
  if (limited && settings_.connection_rate_limit > 0) {
    auto& times = rate_[ip];
    int64_t now = file::monotonic_ms();
    while (!times.empty() && times.front() <= now - settings_.rate_time_unit_s * 1000) times.pop_front();
    times.push_back(now);
    local_rate = static_cast<int>(times.size());
  }
  uint64_t id = next_id_++;
  auto s = std::make_unique<Session>(*this, id, std::move(fd), ip, trusted);
  Session* raw = s.get();
  sessions_[id] = std::move(s);
  raw->start();  // the greeting waits for the client name and for admit()
  if (!find(id)) return;  // ended at once (no connection to speak on)
  if (!limited) {
    raw->admit();
    return;
  }
  anvil_->call(anvil_request(true, service_name_, ip), [this, id, ip, local_count, local_rate](const ipc::Message* m) {
    std::optional<AnvilTable::Counts> c;
    if (m) {
      c = parse_anvil_reply(*m);
      if (!c) log::warn("anvil: malformed reply; using this process's counts");
    }
    admit(id, ip, c ? &*c : nullptr, local_count, local_rate);
  });
}

void Server::admit(uint64_t id, const std::string& ip, const AnvilTable::Counts* counts, int local_count,
                   int local_rate) {
  Session* s = find(id);
  if (counts && !s) {  // gone while anvil was asked: uncount it at once
    anvil_->post(anvil_request(false, service_name_, ip), anvil_->generation());
    return;
  }
  if (!s) return;
  if (counts) s->set_anvil_generation(anvil_->generation());
  int count = counts ? counts->count : local_count;
  int rate = counts ? counts->rate : local_rate;
  if (settings_.connection_count_limit > 0 && count > settings_.connection_count_limit) {
    log::warn("Connection concurrency limit exceeded: %d from %s for service %s", count,
              s->label().c_str(), service_name_.c_str());
    s->refuse("too many connections from " + ip);
  } else if (settings_.connection_rate_limit > 0 && rate > settings_.connection_rate_limit) {
    log::warn("Connection rate limit exceeded: %d from %s for service %s", rate, s->label().c_str(),
              service_name_.c_str());
    s->refuse("too many connections from " + ip);
  } else {
    s->admit();
  }
}

Session* Server::find(uint64_t id) {
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : it->second.get();
}

void Server::end(uint64_t id) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  std::string ip = it->second->client_ip();
  if (uint64_t gen = it->second->anvil_generation())
    anvil_->post(anvil_request(false, service_name_, ip), gen);
  if (auto c = per_ip_.find(ip); c != per_ip_.end() && --c->second <= 0) per_ip_.erase(c);
  if (auto r = rate_.find(ip); r != rate_.end() && r->second.empty()) rate_.erase(r);
  base_.defer_delete(std::move(it->second));
  sessions_.erase(it);
  if (on_session_end_) on_session_end_();
}

const std::string* Server::cached_name(const std::string& ip) {
  auto it = names_.find(ip);
  if (it == names_.end()) return nullptr;
  if (it->second.expires_ms <= file::monotonic_ms()) {
    names_.erase(it);
    return nullptr;
  }
  return &it->second.name;
}

void Server::cache_name(const std::string& ip, const std::string& name) {
  if (names_.size() >= kNameCacheSize) names_.clear();  // simple bound; refilled on demand
  names_[ip] = CachedName{name, file::monotonic_ms() + kNameCacheMs};
}

void Server::notify_qmgr(const std::string& id) {
  // One connection for all wake-ups (qmgr reads request after request), instead of a
  // connection per message. No answer is fine: qmgr also scans incoming/.
  if (!qmgr_)
    qmgr_ = std::make_unique<ServiceLink>(base_, file::join(settings_.queue_directory, ipc::proto::kQmgrSocket),
                                          "qmgr", 10000, true);
  ipc::Message m;
  m.set("cmd", "wakeup").set("id", id).set("queue", "incoming");
  qmgr_->call(m, [](const ipc::Message*) {});
}

}  // namespace postilion::smtpd
