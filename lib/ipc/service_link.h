// lib/ipc/service_link.h - one persistent lib/ipc connection from a server process
// (smtpd, pop3d) to a helper service that answers requests in order (anvil(8),
// resolver(8)), shared by all sessions. Every call gets exactly one answer: the reply,
// or nullptr when the service is absent, down or slower than the timeout - the caller
// then goes on without it (a server never waits on a helper for long, and never needs
// one to work).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>

#include "lib/event/event.h"
#include "lib/ipc/channel.h"
#include "lib/ipc/message.h"

namespace postilion::ipc {

class ServiceLink {
 public:
  // path: the service's Unix socket; what: its name in log lines. An absent socket
  // (ENOENT) is logged only when quiet_if_absent is false.
  // shared_warned: links made one per use (client names) share one outage flag, so an
  // outage is logged once however many sessions meet it (nullptr: the link's own).
  ServiceLink(event::EventBase& base, std::string path, std::string what, int timeout_ms,
              bool quiet_if_absent, bool* shared_warned = nullptr);
  ~ServiceLink();
  ServiceLink(const ServiceLink&) = delete;
  ServiceLink& operator=(const ServiceLink&) = delete;

  // The reply, or nullptr. cb may run before call() returns (service unavailable).
  using ReplyCallback = std::function<void(const Message* reply)>;
  void call(const Message& request, ReplyCallback cb);
  // A request without a reply, sent only if the connection is still the one of
  // `generation` (what the service counted on an earlier connection is gone with it).
  void post(const Message& request, uint64_t generation);
  // Changes whenever the connection is replaced.
  uint64_t generation() const { return generation_; }
  bool connected() const { return channel_ != nullptr; }

 private:
  struct Pending {
    ReplyCallback cb;
    int64_t deadline_ms;
  };
  bool ensure_connected();
  void on_reply(Message&& m);
  void fail_all(const std::string& why);
  void arm_timer();

  event::EventBase& base_;
  std::string path_;
  std::string what_;
  int timeout_ms_;
  bool quiet_if_absent_;
  std::unique_ptr<Channel> channel_;
  std::deque<Pending> pending_;
  event::Timer timer_;
  uint64_t generation_ = 0;
  int64_t retry_after_ms_ = 0;  // after a failure, no new connection before this
  bool own_warned_ = false;
  bool& warned_;                // one warning per outage
};

}  // namespace postilion::ipc
