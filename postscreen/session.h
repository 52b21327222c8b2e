// postscreen/session.h - one client in postscreen(8): the access list, the cache, the
// tests before the greeting, then the hand-over to smtpd or postscreen's own engine
// (dummy_smtp.h) for a client that failed a test under "enforce".
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "lib/base/unique_fd.h"
#include "lib/event/event.h"
#include "lib/ipc/service_link.h"
#include "postscreen/cache.h"
#include "postscreen/dummy_smtp.h"

namespace postilion::postscreen {

class Server;

class Session {
 public:
  Session(Server& server, uint64_t id, UniqueFd fd);
  ~Session();
  void start();
  const std::string& ip() const { return ip_; }

 private:
  enum class State { Testing, Engine, Done };
  void begin_tests();
  void readable();
  void greet_done();
  void dnsbl_answer(const std::string& domain, const ipc::Message* m);
  void maybe_decide();
  void decide();
  void fail(const std::string& reply);
  void pass(bool log_new);  // passed every test run: cached, then handed over
  void hand_over();
  void start_engine();
  void send(const std::string& text);
  void drop(const std::string& reply);
  void end();
  std::string label() const;  // "[ip]:port"
  double elapsed() const;

  Server& server_;
  uint64_t id_;
  UniqueFd fd_;
  std::string ip_, port_, local_;
  State state_ = State::Testing;
  event::Event read_ev_;
  event::Timer greet_timer_;
  event::Timer engine_timer_;
  int64_t start_ms_ = 0;
  bool greet_waiting_ = false;
  bool banner_sent_ = false;
  bool pregreeted_ = false;
  bool greet_test_ = false;  // the tests this client needs (not passed in the cache)
  bool dnsbl_test_ = false;
  bool asking_ = false;
  bool failed_enforce_ = false;
  CacheEntry cached_;
  std::string fail_reply_;
  std::unique_ptr<ipc::ServiceLink> dns_;
  int dnsbl_pending_ = 0;
  int score_ = 0;
  int best_weight_ = 0;
  std::string best_site_;
  std::unique_ptr<DummySmtp> engine_;
};

}  // namespace postilion::postscreen
