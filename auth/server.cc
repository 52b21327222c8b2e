// auth/server.cc - request handling, failure delays and the per-connection channels.
#include "auth/server.h"

#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/log/log.h"
#include "lib/password/password.h"

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
      verifier_(base, s.verify_threads),
      pruner_(base, [this] { throttle_.prune(file::monotonic_ms()); }) {
  pruner_.repeat(60000);
  if (auto h = password::hash_password("dummy"); h) dummy_hash_ = *h;
}

std::optional<Server::Answer> Server::begin(const ipc::Message& req, int64_t now_ms, Check* check,
                                            std::string* password, std::string* hash) {
  auto cmd = req.get("cmd");
  auto user_v = req.get("user");
  if (!cmd || !user_v) return Answer{reply("fail", "malformed request"), 0};
  std::string user(*user_v);
  std::string shown = str::printable(user, 100);
  if (*cmd == "lookup") {
    auto a = backends_->lookup(user);
    if (!a) {
      log::warn("lookup user=<%s>: %s", shown.c_str(), a.error().c_str());
      return Answer{reply("tempfail", "user database unavailable"), 0};
    }
    if (!a->has_value()) return Answer{reply("fail", "no such user"), 0};
    ipc::Message m = reply("ok", "");
    add_account(m, **a);
    return Answer{std::move(m), 0};
  }
  if (*cmd != "auth") return Answer{reply("fail", "unknown command"), 0};

  auto pw = req.get("password");
  std::string service(req.get_or("service", ""));
  std::string client(req.get_or("client", ""));
  if (!pw || !known_service(service) || client.size() > 64)
    return Answer{reply("fail", "malformed request"), 0};
  *check = Check{user, shown, service, str::printable(client, 64), client, std::nullopt};
  if (throttle_.refused(client, user, now_ms)) {
    fail_line(*check, "too many failures");
    return Answer{reply("tempfail", "too many authentication failures; try again later"), 0};
  }
  auto a = backends_->lookup(user);
  if (!a) {
    log::warn("user=<%s>, service=%s, rip=%s: %s", shown.c_str(), service.c_str(), check->rip.c_str(),
              a.error().c_str());
    return Answer{reply("tempfail", "user database unavailable"), 0};
  }
  check->account = std::move(*a);
  *password = std::string(*pw);
  // An unknown user costs the same as a wrong password: same delay, same answer, and a
  // hash computed anyway so timing does not tell which names exist.
  *hash = check->account ? check->account->hash : dummy_hash_;
  return std::nullopt;
}

void Server::fail_line(const Check& c, const char* why) {
  // The same shape for every kind of failure, so one fail2ban filter matches them all.
  log::warn("authentication failed: user=<%s>, service=%s, rip=%s, reason=%s", c.shown.c_str(),
            c.service.c_str(), c.rip.c_str(), why);
}

Server::Answer Server::finish(const Check& c, bool password_ok, int64_t now_ms) {
  if (!c.account || !password_ok) {
    fail_line(c, c.account ? "bad password" : "unknown user");
    int64_t delay = throttle_.failed(c.client, c.user, now_ms);
    return {reply("fail", "authentication failed"), delay};
  }
  throttle_.succeeded(c.user);
  log::info("login: user=<%s>, service=%s, rip=%s, backend=%s", c.shown.c_str(), c.service.c_str(),
            c.rip.c_str(), c.account->backend.c_str());
  ipc::Message m = reply("ok", "");
  add_account(m, *c.account);
  return {std::move(m), 0};
}

Server::Answer Server::handle(const ipc::Message& req, int64_t now_ms) {
  Check c;
  std::string password, hash;
  if (auto a = begin(req, now_ms, &c, &password, &hash)) return std::move(*a);
  bool good = password::verify_password(password, hash);
  explicit_bzero(password.data(), password.size());
  return finish(c, good, now_ms);
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
  if (on_close_) on_close_();
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
  Check check;
  std::string password, hash;
  if (auto a = begin(m, file::monotonic_ms(), &check, &password, &hash)) return answer(id, std::move(*a));
  c->busy = true;
  // The verdict is accounted (throttle, log) even when the client has gone meanwhile,
  // so disconnecting early does not make guessing cheaper.
  verifier_.verify(std::move(password), std::move(hash),
                   [this, id, check = std::move(check)](bool good) {
                     answer(id, finish(check, good, file::monotonic_ms()));
                   });
}

void Server::answer(uint64_t id, Answer a) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  Conn* c = it->second.get();
  if (a.delay_ms <= 0) {
    c->busy = false;
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
