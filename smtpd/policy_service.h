// smtpd/policy_service.h - Postfix's policy delegation protocol (check_policy_service):
// the request (name=value lines, an empty line), the reply reader (action=..., an empty
// line), and one connection to a policy server, asked without blocking the event loop
// and kept for the next request of the session while it is idle.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lib/base/parsed.h"
#include "lib/base/result.h"
#include "lib/event/buffer_event.h"
#include "lib/event/event.h"

namespace postilion::smtpd {

// The request text: each name=value on a line of its own, then an empty line. Control
// characters in values (a newline would end the request early) become '?', and each
// value is cut at kMaxValue octets.
constexpr size_t kMaxPolicyValue = 1000;
std::string policy_request(const std::vector<std::pair<std::string, std::string>>& attrs);

// Reads a reply: name=value lines up to an empty line. The reply must hold action=;
// other attributes are ignored, as Postfix does. Bounded: a reply longer than kMaxReply
// octets, or a line without '=', is malformed.
class PolicyReplyReader {
 public:
  static constexpr size_t kMaxReply = 8192;
  enum class Status { NeedMore, Done, Bad };
  // Consumes bytes; after Done, action() is the action and *used how much of in was
  // the reply; after Bad, error() says why.
  Status feed(std::string_view in, size_t* used);
  const std::string& action() const { return action_; }
  const std::string& error() const { return error_; }
  bool fresh() const { return total_ == 0; }  // nothing read yet

 private:
  Status bad(std::string why);
  std::string line_;
  std::string action_;
  std::string error_;
  size_t total_ = 0;
  bool have_action_ = false;
};

// A whole reply at once (tests, fuzzing): the action, or why it is malformed.
Parsed<std::string> parse_policy_reply(std::string_view text);

// One connection to one policy server ("inet:127.0.0.1:10023", "unix:/path"). ask()
// sends a request and calls done with the action, or an error (connection refused or
// lost, no reply within timeout_ms, malformed reply); after an error the connection is
// closed and the next ask() opens a new one. A kept connection that the server closed
// meanwhile is noticed only when the request fails on it: then the request is sent once
// more on a new connection, as Postfix retries. An idle connection is closed after
// max_idle_ms. One request at a time. The callback may destroy the client only through
// the loop (EventBase::defer_delete).
class PolicyClient {
 public:
  PolicyClient(event::EventBase& base, std::string spec, int64_t timeout_ms, int64_t max_idle_ms);
  PolicyClient(const PolicyClient&) = delete;
  PolicyClient& operator=(const PolicyClient&) = delete;
  ~PolicyClient();

  void ask(std::string request, std::function<void(Result<std::string>)> done);
  const std::string& spec() const { return spec_; }

 private:
  void open();
  void on_read();
  void on_event(short what);
  void finish(Result<std::string> r, bool keep);
  void close();

  event::EventBase& base_;
  std::string spec_;
  int64_t timeout_ms_, max_idle_ms_;
  event::BufferEvent bev_;
  event::Timer timer_;       // the request's deadline
  event::Timer idle_timer_;  // smtpd_policy_service_max_idle
  bool connected_ = false;
  bool reused_ = false;      // the request went out on a connection kept from before
  std::string request_;      // the request, for one retry on a new connection
  std::string pending_;      // the request, until connected
  PolicyReplyReader reader_;
  std::function<void(Result<std::string>)> done_;
};

}  // namespace postilion::smtpd
