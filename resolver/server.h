// resolver/server.h - the private/resolver service: one ipc::Channel per client,
// requests answered from the Engine (protocol in lib/dns/protocol.h, resolver(8)).
// Replies go out in request order even when answers arrive out of order.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>

#include "lib/base/unique_fd.h"
#include "lib/event/event.h"
#include "lib/ipc/channel.h"
#include "resolver/engine.h"

namespace postilion::resolver {

inline constexpr size_t kMaxClientFrame = 4096;        // requests are small
inline constexpr size_t kMaxQueuedPerClient = 100;     // requests in flight per client
inline constexpr int kClientIdleMs = 300000;

class Server {
 public:
  explicit Server(event::EventBase& base, Engine& engine) : base_(base), engine_(engine) {}
  // Takes a client; on_end (optional) runs once when that client is gone.
  void accept(UniqueFd fd, std::function<void()> on_end = nullptr);
  size_t clients() const { return clients_.size(); }

 private:
  struct Client {
    std::unique_ptr<ipc::Channel> channel;
    // One slot per request in arrival order; filled when its answer is ready.
    std::deque<std::optional<ipc::Message>> replies;
    uint64_t first_seq = 0;  // sequence number of replies.front()
    uint64_t next_seq = 0;
    std::function<void()> on_end;
    bool closing = false;  // a bad request was answered; close once the reply is out
    int drain_ticks = 0;
    event::Timer drain;
  };
  void request(uint64_t id, ipc::Message&& m);
  void complete(uint64_t id, uint64_t seq, ipc::Message reply);
  void drop(uint64_t id, const std::string& why);

  event::EventBase& base_;
  Engine& engine_;
  std::map<uint64_t, std::unique_ptr<Client>> clients_;
  uint64_t next_id_ = 1;
};

}  // namespace postilion::resolver
