// auth/server.cc - request handling, failure delays and the per-connection channels.
#include "auth/server.h"

#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/log/log.h"
#include "lib/mailbox/password.h"

namespace postilion::auth {
namespace {

constexpr int kIdleMs = 60000;

ipc::Message reply(const char* status, std::string_view text) {
  ipc::Message m;
  m.set("status", status).set("text", std::string(text));
  return m;
}

void add_account(ipc::Message& m, const Account& a) {
  m.set("user", a.user).set("uid", static_cast<int64_t>(a.uid)).set("gid", static_cast<int64_t>(a.gid))
      .set("home", a.home).set("maildir", a.maildir);
}

bool known_service(std::string_view s) { return s == "smtpd" || s == "pop3d" || s == "imapd"; }

}  // namespace

Server::Server(event::EventBase& base, const Settings& s, std::unique_ptr<Backends> backends)
    : base_(base),
      settings_(s),
      backends_(std::move(backends)),
      throttle_(Throttle::Limits{s.failure_window_ms, s.failure_limit, s.failure_delay_ms,
                                 s.failure_max_delay_ms}),
      pruner_(base, [this] { throttle_.prune(file::monotonic_ms()); }) {
  pruner_.repeat(60000);
  if (auto h = mailbox::hash_password("dummy"); h) dummy_hash_ = *h;
}

Server::Answer Server::handle(const ipc::Message& req, int64_t now_ms) {
  auto cmd = req.get("cmd");
  auto user_v = req.get("user");
  if (!cmd || !user_v) return {reply("fail", "malformed request"), 0};
  std::string user(*user_v);
  std::string shown = str::printable(user, 100);
  if (*cmd == "lookup") {
    auto a = backends_->lookup(user);
    if (!a) {
      log::warn("lookup user=<%s>: %s", shown.c_str(), a.error().c_str());
      return {reply("tempfail", "user database unavailable"), 0};
    }
    if (!a->has_value()) return {reply("fail", "no such user"), 0};
    ipc::Message m = reply("ok", "");
    add_account(m, **a);
    return {std::move(m), 0};
  }
  if (*cmd != "auth") return {reply("fail", "unknown command"), 0};

  auto password = req.get("password");
  std::string service(req.get_or("service", ""));
  std::string client(req.get_or("client", ""));
  if (!password || !known_service(service) || client.size() > 64)
    return {reply("fail", "malformed request"), 0};
  std::string rip = str::printable(client, 64);
  const char* svc = service.c_str();
  // The failure log line is the same shape for every kind of failure, so one fail2ban
  // filter matches them all.
  auto fail_line = [&](const char* why) {
    log::warn("authentication failed: user=<%s>, service=%s, rip=%s, reason=%s", shown.c_str(), svc,
              rip.c_str(), why);
  };
  if (throttle_.refused(client, user, now_ms)) {
    fail_line("too many failures");
    return {reply("tempfail", "too many authentication failures; try again later"), 0};
  }
  auto a = backends_->lookup(user);
  if (!a) {
    log::warn("user=<%s>, service=%s, rip=%s: %s", shown.c_str(), svc, rip.c_str(), a.error().c_str());
    return {reply("tempfail", "user database unavailable"), 0};
  }
  // An unknown user costs the same as a wrong password: same delay, same answer, and a
  // hash computed anyway so timing does not tell which names exist.
  bool good = a->has_value() ? mailbox::verify_password(*password, (*a)->hash)
                             : (mailbox::verify_password(*password, dummy_hash_), false);
  if (!good) {
    fail_line(a->has_value() ? "bad password" : "unknown user");
    int64_t delay = throttle_.failed(client, user, now_ms);
    return {reply("fail", "authentication failed"), delay};
  }
  throttle_.succeeded(user);
  log::info("login: user=<%s>, service=%s, rip=%s, backend=%s", shown.c_str(), svc, rip.c_str(),
            (*a)->backend.c_str());
  ipc::Message m = reply("ok", "");
  add_account(m, **a);
  return {std::move(m), 0};
}

void Server::accept(UniqueFd fd) {
  uint64_t id = next_id_++;
  auto c = std::make_unique<Conn>();
  c->channel = std::make_unique<ipc::Channel>(base_, std::move(fd), kMaxRequest, kIdleMs);
  c->channel->on_message([this, id](ipc::Message&& m) { on_message(id, std::move(m)); });
  c->channel->on_close([this, id](const std::string& reason) {
    if (reason != "closed") log::warn("auth client: %s", reason.c_str());
    drop(id);
  });
  c->channel->start();
  conns_.emplace(id, std::move(c));
}

void Server::drop(uint64_t id) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  it->second->channel->shutdown();
  it->second->delay.stop();
  base_.defer_delete(std::move(it->second));
  conns_.erase(it);
}

void Server::on_message(uint64_t id, ipc::Message&& m) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  Conn* c = it->second.get();
  if (c->busy) {
    // One request at a time per connection: a client that does not wait for the
    // (possibly delayed) answer is not playing by the protocol.
    log::warn("auth client: request while another is pending; dropped");
    return drop(id);
  }
  Answer a = handle(m, file::monotonic_ms());
  if (a.delay_ms <= 0) {
    c->channel->send(a.reply);
    return;
  }
  c->busy = true;
  auto msg = std::make_shared<ipc::Message>(std::move(a.reply));  // shared: the timer's callback is copyable
  c->delay = event::Timer(base_, [this, id, msg] {
    auto it2 = conns_.find(id);
    if (it2 == conns_.end()) return;
    it2->second->busy = false;
    it2->second->channel->send(*msg);
  });
  c->delay.start(a.delay_ms);
}

}  // namespace postilion::auth
