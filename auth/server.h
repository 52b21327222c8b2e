// auth/server.h - the auth(8) service: answers lib/ipc requests on private/auth
// (see lib/ipc/protocols.h): cmd=auth checks a password, cmd=lookup names a user's
// uid/gid/maildir. Failed logins are delayed and throttled (auth/throttle.h) and logged
// for fail2ban; passwords are never logged.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "auth/backend.h"
#include "auth/settings.h"
#include "auth/throttle.h"
#include "auth/verifier.h"
#include "lib/event/event.h"
#include "lib/ipc/channel.h"
#include "lib/ipc/message.h"

namespace postilion::auth {

// Largest request frame: a user name, a password and a few small attributes.
constexpr size_t kMaxRequest = 8192;

class Server {
 public:
  Server(event::EventBase& base, const Settings& s, std::unique_ptr<Backends> backends);
  void accept(UniqueFd fd);
  size_t connections() const { return conns_.size(); }
  // Called after each client connection has ended (lib/service counts sessions).
  void set_on_close(std::function<void()> cb) { on_close_ = std::move(cb); }

  // The answer to one request, and how long to hold it back (failure delay).
  struct Answer {
    ipc::Message reply;
    int64_t delay_ms = 0;
  };
  // Exposed for tests: handles a request at time now_ms without any I/O, checking the
  // password on the calling thread.
  Answer handle(const ipc::Message& req, int64_t now_ms);

  // A login waiting for its password check.
  struct Check {
    std::string user, shown, service, rip, client;
    std::optional<Account> account;  // nullopt: unknown user (a dummy hash is checked)
  };
  // First half of a request: an immediate answer, or a Check plus the password and the
  // hash to compare (then finish() gives the answer).
  std::optional<Answer> begin(const ipc::Message& req, int64_t now_ms, Check* check, std::string* password,
                              std::string* hash);
  Answer finish(const Check& check, bool password_ok, int64_t now_ms);

 private:
  struct Conn {
    std::unique_ptr<ipc::Channel> channel;
    event::Timer delay;
    bool busy = false;
  };
  void on_message(uint64_t id, ipc::Message&& m);
  void answer(uint64_t id, Answer a);
  void fail_line(const Check& c, const char* why);
  void drop(uint64_t id);

  event::EventBase& base_;
  Settings settings_;
  std::unique_ptr<Backends> backends_;
  Throttle throttle_;
  Verifier verifier_;
  event::Timer pruner_;
  std::map<uint64_t, std::unique_ptr<Conn>> conns_;
  uint64_t next_id_ = 1;
  std::string dummy_hash_;
  std::function<void()> on_close_;  // checked for unknown users, so they cost as much as known ones
};

}  // namespace postilion::auth
