// showq/server.h - the public/showq service of showq(8): one ipc::Channel per
// client, one request per connection (protocol in lib/ipc/protocols.h). list answers
// with the mailq(1) text read from the spool; flush is passed on to qmgr as cmd=flush.
// Anything else gets status=error and the connection ends; garbage ends it at once; a
// second request on the same connection is ignored.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "lib/base/result.h"
#include "lib/base/unique_fd.h"
#include "lib/event/event.h"
#include "lib/ipc/channel.h"

namespace postilion::showq {

inline constexpr int kShowqIdleMs = 10000;  // a client has this long to ask and to read

class Server {
 public:
  // lister makes the listing text (the daemon: queue::format_mailq of the spool), or
  // says why it cannot; qmgr_socket is where flush requests go.
  using Lister = std::function<Result<std::string>()>;
  Server(event::EventBase& base, Lister lister, std::string qmgr_socket)
      : base_(base), lister_(std::move(lister)), qmgr_socket_(std::move(qmgr_socket)) {}
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Takes a client; on_end (optional) runs once when that client is gone.
  void accept(UniqueFd fd, std::function<void()> on_end = nullptr);
  size_t clients() const { return clients_.size(); }

 private:
  struct Client {
    std::unique_ptr<ipc::Channel> channel;
    std::unique_ptr<ipc::Channel> qmgr;  // while a flush is passed on
    std::function<void()> on_end;
    bool asked = false;     // the one request arrived; later ones are ignored
    bool answered = false;  // the last reply is queued; end once it is written
    int drain_ticks = 0;
    event::Timer drain;
  };
  void request(uint64_t id, ipc::Message&& m);
  void flush(uint64_t id);
  void answer(uint64_t id, const std::vector<ipc::Message>& frames);
  void drained(uint64_t id);
  void drop(uint64_t id);

  event::EventBase& base_;
  Lister lister_;
  std::string qmgr_socket_;
  std::map<uint64_t, std::unique_ptr<Client>> clients_;
  uint64_t next_id_ = 1;
};

}  // namespace postilion::showq
