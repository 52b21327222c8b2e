// smtpd/server.cc - per-process state shared by smtpd sessions.
#include "smtpd/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/statvfs.h>

#include <cstring>

#include "lib/base/file.h"
#include "lib/ipc/message.h"
#include "lib/ipc/metrics.h"
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
  auto ex = parse_cidr_list(settings_.limit_exceptions);
  if (!ex) return Error("smtpd_client_event_limit_exceptions: bad network: " + ex.error()).set_permanent();
  limit_exceptions_ = std::move(*ex);
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
  hold_ = queue::Spool(settings_.queue_directory).dir(queue::Folder::Hold);
  if (settings_.queue_file_recycle_limit > 0)
    spares_ = std::make_unique<queue::SparePool>(queue::Spool(settings_.queue_directory).dir(queue::Folder::Spare));
  return {};
}

bool Server::queue_has_room(uint64_t size) const {
  struct statvfs fs {};
  if (::statvfs(incoming_.c_str(), &fs) != 0 || fs.f_frsize == 0) return true;
  auto blocks = [&fs](uint64_t bytes) { return bytes / fs.f_frsize; };
  uint64_t free_blocks = fs.f_bavail;
  uint64_t minfree = blocks(settings_.queue_minfree);
  if (minfree >= free_blocks) return false;  // also: nothing free at all
  if (blocks(size) >= free_blocks - minfree || (size && blocks(size) >= free_blocks / 2)) return false;
  // tmpfs and a few others report no inode counts (f_files 0): nothing to say then.
  return fs.f_files == 0 || fs.f_favail > 0;
}

void Server::start() {
  if (!committer_) committer_ = std::make_unique<Committer>(base_, settings_.group_delay_us);
  if (!anvil_) {
    ipc::AnvilLimits limits{settings_.connection_count_limit, settings_.connection_rate_limit,
                            settings_.rate_time_unit_s * 1000};
    anvil_ = std::make_unique<ipc::AnvilClient>(base_, file::join(settings_.queue_directory, ipc::proto::kAnvilSocket),
                                                service_name_, limits, static_cast<int>(settings_.anvil_timeout_ms));
  }
}

std::unique_ptr<ipc::ServiceLink> Server::resolver_link() {
  if (!settings_.peername_lookup) return nullptr;
  // A missing resolver socket is a set-up without one (tests, small instances): the
  // client is "unknown" and nobody is warned.
  return std::make_unique<ipc::ServiceLink>(base_, file::join(settings_.queue_directory, ipc::proto::kResolverSocket),
                                       "resolver", static_cast<int>(settings_.peername_timeout_ms), true,
                                       &resolver_warned_);
}

std::unique_ptr<ipc::ServiceLink> Server::dns_link() {
  // Not quiet when the socket is absent: restrictions that need DNS are configured, and
  // without the resolver they reject nothing.
  return std::make_unique<ipc::ServiceLink>(base_, file::join(settings_.queue_directory, ipc::proto::kResolverSocket),
                                            "resolver", static_cast<int>(settings_.restriction_dns_timeout_ms), false,
                                            &dns_warned_);
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
  bool limited = !limit_exempt(ip) && anvil_->limits().any();
  uint64_t id = next_id_++;
  auto s = std::make_unique<Session>(*this, id, std::move(fd), ip, trusted);
  Session* raw = s.get();
  sessions_[id] = std::move(s);
  ipc::metric("postilion_connections_total", {{"service", service_name_}});
  ipc::metric("postilion_connections", {{"service", service_name_}}, 1);
  raw->start();  // the greeting waits for the client name and for admit()
  if (!find(id)) return;  // ended at once (no connection to speak on)
  if (!limited) {
    raw->admit();
    return;
  }
  uint64_t ticket = anvil_->begin(
      ip, [this, id](uint64_t t, const ipc::AnvilClient::Decision& d) { admit(id, t, d); });
  // The decision may have come (and ended the session) already; a second end is ignored.
  if (Session* now = find(id)) now->set_anvil_ticket(ticket);
  else anvil_->end(ticket);
}

void Server::admit(uint64_t id, uint64_t ticket, const ipc::AnvilClient::Decision& d) {
  Session* s = find(id);
  if (!s) {  // gone while anvil was asked
    anvil_->end(ticket);
    return;
  }
  s->set_anvil_ticket(ticket);  // before refuse(), which may end the session
  if (d.verdict == ipc::AnvilVerdict::Admit) {
    s->admit();
    return;
  }
  log::warn("%s", ipc::anvil_warning(d.verdict, d.count, d.rate, s->label(), service_name_).c_str());
  s->refuse("too many connections from " + s->client_ip());
}

Session* Server::find(uint64_t id) {
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : it->second.get();
}

void Server::end(uint64_t id) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  if (uint64_t t = it->second->anvil_ticket()) anvil_->end(t);
  ipc::metric("postilion_connections", {{"service", service_name_}}, -1);
  base_.defer_delete(std::move(it->second));
  sessions_.erase(it);
  if (on_session_end_) on_session_end_();
}

const Server::CachedName* Server::cached_name(const std::string& ip) {
  auto it = names_.find(ip);
  if (it == names_.end()) return nullptr;
  if (it->second.expires_ms <= file::monotonic_ms()) {
    names_.erase(it);
    return nullptr;
  }
  return &it->second;
}

void Server::cache_name(const std::string& ip, const std::string& name, const std::string& reverse) {
  if (names_.size() >= kNameCacheSize) names_.clear();  // simple bound; refilled on demand
  names_[ip] = CachedName{name, reverse, file::monotonic_ms() + kNameCacheMs};
}

void Server::notify_qmgr(const std::string& id) {
  // One connection for all wake-ups (qmgr reads request after request), instead of a
  // connection per message. No answer is fine: qmgr also scans incoming/.
  if (!qmgr_)
    qmgr_ = std::make_unique<ipc::ServiceLink>(base_, file::join(settings_.queue_directory, ipc::proto::kQmgrSocket),
                                          "qmgr", 10000, true);
  ipc::Message m;
  m.set("cmd", "wakeup").set("id", id).set("queue", "incoming");
  qmgr_->call(m, [](const ipc::Message*) {});
}

}  // namespace postilion::smtpd
