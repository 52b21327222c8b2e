// postscreen/session.cc - one client's way through postscreen(8) (see session.h). The
// log lines have the shapes of Postfix's postscreen: CONNECT, ALLOWLISTED, DENYLISTED,
// PASS OLD, PASS NEW, PREGREET, HANGUP, DNSBL rank, NOQUEUE: reject, DISCONNECT.
#include "postscreen/session.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <tuple>

#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/dns/dns.h"
#include "lib/dns/protocol.h"
#include "lib/ipc/message.h"
#include "lib/ipc/protocols.h"
#include "lib/log/log.h"
#include "postscreen/server.h"

namespace postilion::postscreen {
namespace {

constexpr size_t kReadChunk = 1024;     // what one read takes; the rest waits in the kernel
constexpr size_t kLoggedPregreet = 100;  // bytes of a pregreet shown in the log
constexpr int kHandOverTimeoutMs = 1000;

// "ip", "port" of a socket address (IPv4-mapped IPv6 shown as IPv4, as smtpd does).
std::pair<std::string, std::string> address_of(const sockaddr_storage& ss) {
  char buf[INET6_ADDRSTRLEN] = "unknown";
  unsigned port = 0;
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    ::inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
    port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
      ::inet_ntop(AF_INET, reinterpret_cast<const char*>(&a->sin6_addr) + 12, buf, sizeof buf);
    } else {
      ::inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
    }
    port = ntohs(a->sin6_port);
  }
  return {buf, std::to_string(port)};
}

// A peer's bytes for the log: C escapes for control characters ("EHLO x\r\n").
std::string escaped(std::string_view s) {
  std::string out;
  for (unsigned char c : s.substr(0, kLoggedPregreet)) {
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (c < 32 || c > 126) {
      out += str::format("\\%03o", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

int64_t now_s() { return static_cast<int64_t>(std::time(nullptr)); }

}  // namespace

Session::Session(Server& server, uint64_t id, UniqueFd fd) : server_(server), id_(id), fd_(std::move(fd)) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(fd_.get(), reinterpret_cast<sockaddr*>(&ss), &len) == 0) std::tie(ip_, port_) = address_of(ss);
  sockaddr_storage ls{};
  len = sizeof ls;
  if (::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&ls), &len) == 0) {
    auto [lip, lport] = address_of(ls);
    local_ = "[" + lip + "]:" + lport;
  }
  start_ms_ = file::monotonic_ms();
}

Session::~Session() = default;

std::string Session::label() const { return "[" + ip_ + "]:" + port_; }

double Session::elapsed() const { return static_cast<double>(file::monotonic_ms() - start_ms_) / 1000.0; }

void Session::start() {
  const Settings& s = server_.settings();
  log::info("CONNECT from %s to %s", label().c_str(), local_.c_str());
  if (ip_.empty()) return drop("421 4.3.2 Service currently unavailable");
  if (s.pre_queue_limit > 0 && server_.sessions() > static_cast<size_t>(s.pre_queue_limit)) {
    log::info("NOQUEUE: reject: CONNECT from %s: all screening ports busy", label().c_str());
    return drop("421 4.3.2 All screening ports are busy");
  }
  if (s.connection_count_limit > 0 && server_.connections_from(ip_) > s.connection_count_limit) {
    log::info("NOQUEUE: reject: CONNECT from %s: too many connections", label().c_str());
    return drop("421 4.7.0 Error: too many connections from " + ip_);
  }
  // postscreen_access_list: the first entry that knows the client decides.
  switch (server_.access(ip_)) {
    case Access::Permit:
      log::info("ALLOWLISTED %s", label().c_str());
      return hand_over();
    case Access::Reject:
      log::info("DENYLISTED %s", label().c_str());
      if (s.denylist_action == Action::Drop) return drop("521 5.3.2 Service currently unavailable");
      if (s.denylist_action == Action::Enforce) fail("550 5.3.2 Service currently unavailable");
      break;
    case Access::Dunno:
      break;
  }
  greet_test_ = s.greet_wait_ms > 0;
  dnsbl_test_ = !s.dnsbl_sites.empty();
  if (!failed_enforce_ && server_.cache()) {
    if (auto e = server_.cache()->get(ip_)) {
      cached_ = *e;
      int64_t now = now_s();
      if (cached_.greet_until > now) greet_test_ = false;
      if (cached_.dnsbl_until > now) dnsbl_test_ = false;
      if (!greet_test_ && !dnsbl_test_) {
        log::info("PASS OLD %s", label().c_str());
        return hand_over();
      }
    }
  }
  if (!greet_test_ && !dnsbl_test_ && !failed_enforce_) return hand_over();  // no test to run
  begin_tests();
}

void Session::begin_tests() {
  const Settings& s = server_.settings();
  read_ev_ = event::Event(server_.base(), fd_.get(), EV_READ | EV_PERSIST, [this](short) { readable(); });
  read_ev_.add();
  if (greet_test_) {
    if (!s.greet_banner.empty()) {
      send("220-" + s.greet_banner + "\r\n");
      banner_sent_ = true;
    }
    greet_waiting_ = true;
    greet_timer_ = event::Timer(server_.base(), [this] { greet_done(); });
    greet_timer_.start(s.greet_wait_ms);
  }
  if (dnsbl_test_) {
    dns_ = std::make_unique<ipc::ServiceLink>(server_.base(),
                                              file::join(s.queue_directory, ipc::proto::kResolverSocket), "resolver",
                                              static_cast<int>(s.dnsbl_timeout_ms), false, server_.dns_warned());
    // Each domain once, however many filters and weights it has; the answers may come
    // before call() returns (no resolver): the decision waits until all are asked.
    asking_ = true;
    std::vector<std::string> asked;
    for (const auto& site : s.dnsbl_sites) {
      if (std::find(asked.begin(), asked.end(), site.domain) != asked.end()) continue;
      asked.push_back(site.domain);
      auto name = dns::dnsbl_query_name(ip_, site.domain);
      if (!name) continue;
      ++dnsbl_pending_;
      Server* server = &server_;
      uint64_t id = id_;
      std::string domain = site.domain;
      dns_->call(dns::proto::query_request(*name, dns::RrType::A), [server, id, domain](const ipc::Message* m) {
        if (Session* self = server->find(id)) self->dnsbl_answer(domain, m);
      });
    }
    asking_ = false;
  }
  maybe_decide();
}

void Session::readable() {
  char buf[kReadChunk];
  ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) {
    if (state_ == State::Testing)
      log::info("HANGUP after %.2f from %s in tests before SMTP handshake", elapsed(), label().c_str());
    log::info("DISCONNECT %s", label().c_str());
    return end();
  }
  std::string_view data(buf, static_cast<size_t>(n));
  if (state_ == State::Engine) {
    auto out = engine_->feed(data);
    for (const auto& l : out.logs) log::info("NOQUEUE: reject: RCPT from %s: %s", label().c_str(), l.c_str());
    if (!out.replies.empty()) send(out.replies);
    if (out.close) {
      log::info("DISCONNECT %s", label().c_str());
      end();
    }
    return;
  }
  if (state_ != State::Testing || pregreeted_) return;  // more of the same: dropped
  // The client spoke before its turn: the pregreet test fails.
  pregreeted_ = true;
  log::info("PREGREET %zd after %.2f from %s: %s", n, elapsed(), label().c_str(), escaped(data).c_str());
  const Settings& s = server_.settings();
  if (s.greet_action == Action::Drop) return drop("521 5.5.1 Protocol error");
  if (s.greet_action == Action::Enforce) fail("550 5.5.1 Protocol error");
}

void Session::greet_done() {
  greet_waiting_ = false;
  maybe_decide();
}

void Session::dnsbl_answer(const std::string& domain, const ipc::Message* m) {
  --dnsbl_pending_;
  if (m) {
    if (auto a = dns::proto::decode_query_reply(*m); !a) {
      log::warn("resolver: malformed reply for %s: %s", domain.c_str(), a.error().c_str());
    } else if (a->outcome == dns::Outcome::Ok) {
      for (const auto& site : server_.settings().dnsbl_sites) {
        if (site.domain != domain || !site_lists(site, a->records)) continue;
        score_ += site.weight;
        if (site.weight > best_weight_) {
          best_weight_ = site.weight;
          best_site_ = site.domain;
        }
      }
    }
  }
  // A list that does not answer (no reply, a failure) adds nothing.
  maybe_decide();
}

void Session::maybe_decide() {
  if (state_ != State::Testing || asking_) return;
  const Settings& s = server_.settings();
  // A client the allow lists vouch for skips the rest of the wait.
  if (dnsbl_test_ && dnsbl_pending_ == 0 && s.dnsbl_allowlist_threshold < 0 &&
      score_ <= s.dnsbl_allowlist_threshold && !pregreeted_ && !failed_enforce_) {
    greet_timer_.stop();
    greet_waiting_ = false;
    return pass(true);
  }
  if (greet_waiting_ || dnsbl_pending_ > 0) return;
  decide();
}

void Session::decide() {
  const Settings& s = server_.settings();
  bool dnsbl_failed = false;
  if (dnsbl_test_ && score_ >= s.dnsbl_threshold) {
    dnsbl_failed = true;
    log::info("DNSBL rank %d for %s", score_, label().c_str());
    std::string site = best_site_;
    if (auto* rm = server_.reply_map(); rm && !rm->empty() && !site.empty()) {
      if (auto r = rm->lookup(site); r && *r) site = **r;
    }
    std::string why = "Service unavailable; client [" + ip_ + "] blocked using " + site;
    if (s.dnsbl_action == Action::Drop) return drop("521 4.7.1 " + why);
    if (s.dnsbl_action == Action::Enforce) fail("550 5.7.1 " + why);
  }
  if (failed_enforce_) return start_engine();
  if (pregreeted_ || dnsbl_failed) return hand_over();  // failures ignored: tested again next time
  pass(true);
}

void Session::fail(const std::string& reply) {
  if (failed_enforce_) return;  // the first failure gives the reply
  failed_enforce_ = true;
  fail_reply_ = reply;
}

void Session::pass(bool log_new) {
  const Settings& s = server_.settings();
  if (log_new) log::info("PASS NEW %s", label().c_str());
  if (Cache* c = server_.cache()) {
    CacheEntry e = cached_;
    int64_t now = now_s();
    // A test not run this time keeps its earlier time; one run and passed starts anew.
    if (greet_test_) e.greet_until = now + s.greet_ttl_s;
    if (dnsbl_test_) e.dnsbl_until = now + s.dnsbl_ttl_s;
    if (!s.greet_wait_ms) e.greet_until = std::max(e.greet_until, now + s.greet_ttl_s);
    if (s.dnsbl_sites.empty()) e.dnsbl_until = std::max(e.dnsbl_until, now + s.dnsbl_ttl_s);
    if (auto st = c->put(ip_, e); !st) log::warn("postscreen_cache_map: %s", st.error().c_str());
  }
  hand_over();
}

void Session::hand_over() {
  const Settings& s = server_.settings();
  std::string path = file::join(s.queue_directory, std::string(ipc::proto::kPrivateDir) + s.service_name);
  auto conn = ipc::connect_unix(path, kHandOverTimeoutMs);
  Status st = conn ? ipc::send_fd(conn->get(), fd_.get()) : Status(conn.error());
  if (!st) {
    log::warn("cannot hand %s over to service %s: %s", label().c_str(), path.c_str(), st.error().c_str());
    send("421 4.3.2 Service currently unavailable\r\n");
  }
  // The descriptor in flight stays valid when both our copies close: smtpd has it now.
  end();
}

void Session::start_engine() {
  const Settings& s = server_.settings();
  state_ = State::Engine;
  greet_timer_.stop();
  send("220 " + s.smtpd_banner + "\r\n");
  engine_ = std::make_unique<DummySmtp>(fail_reply_, s.hostname);
  engine_timer_ = event::Timer(server_.base(), [this] {
    log::info("COMMAND TIME LIMIT from %s", label().c_str());
    drop("421 4.4.2 " + server_.settings().hostname + " Error: timeout exceeded");
  });
  engine_timer_.start(s.command_time_limit_ms);
}

void Session::send(const std::string& text) {
  // Replies are short and the socket buffer empty: a client that does not read its
  // replies loses them rather than holding memory here.
  if (fd_) (void)::send(fd_.get(), text.data(), text.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

void Session::drop(const std::string& reply) {
  send(reply + "\r\n");
  log::info("DISCONNECT %s", label().c_str());
  end();
}

void Session::end() {
  if (state_ == State::Done) return;
  state_ = State::Done;
  read_ev_.del();
  greet_timer_.stop();
  engine_timer_.stop();
  fd_.reset();
  server_.finished(id_);
}

}  // namespace postilion::postscreen
