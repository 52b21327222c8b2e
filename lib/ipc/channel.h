// lib/ipc/channel.h - one lib/ipc connection driven by the event loop: framed messages
// in and out over a BufferEvent. Garbage from the peer (bad frame, oversized frame) ends
// the channel with a reason; it never throws and never crashes.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "lib/base/result.h"
#include "lib/base/unique_fd.h"
#include "lib/event/buffer_event.h"
#include "lib/event/event.h"
#include "lib/ipc/message.h"

namespace postilion::ipc {

class Channel {
 public:
  using MessageCallback = std::function<void(Message&&)>;
  // Called once when the channel ends: the peer closed (reason "closed"), sent garbage,
  // timed out, or an I/O error happened. The owner may destroy the channel only through
  // EventBase::defer_delete (the callback runs inside the channel).
  using CloseCallback = std::function<void(const std::string& reason)>;

  // Owns fd. idle_ms < 0: no idle timeout.
  Channel(event::EventBase& base, UniqueFd fd, size_t max_frame = kDefaultMaxFrame, int idle_ms = -1);
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  void on_message(MessageCallback cb) { on_message_ = std::move(cb); }
  void on_close(CloseCallback cb) { on_close_ = std::move(cb); }
  // Starts reading (after the callbacks are set).
  void start();
  void send(const Message& m);
  // Stops reading and writing; on_close is not called afterwards.
  void shutdown();
  bool closed() const { return closed_; }
  size_t pending_output() const { return bev_ ? bev_.output_length() : 0; }
  int fd() const { return bev_ ? bev_.fd() : -1; }

  // Connects to a Unix socket without blocking the loop for long (local sockets connect
  // at once or fail at once; a full backlog is an error the caller retries later).
  static Result<std::unique_ptr<Channel>> connect(event::EventBase& base, const std::string& path,
                                                  size_t max_frame = kDefaultMaxFrame, int idle_ms = -1);

 private:
  void readable();
  void close(const std::string& reason);

  event::BufferEvent bev_;
  Decoder decoder_;
  int idle_ms_;
  bool closed_ = false;
  MessageCallback on_message_;
  CloseCallback on_close_;
};

}  // namespace postilion::ipc
