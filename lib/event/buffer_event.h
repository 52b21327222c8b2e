// lib/event/buffer_event.h - BufferEvent: a buffered socket (libevent bufferevent) with
// std::function callbacks. Owns the bufferevent and, through it, the socket.
// TLS hook: lib/tls makes an OpenSSL bufferevent and hands it over with adopt().
#pragma once

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "lib/base/unique_fd.h"
#include "lib/event/event.h"

namespace postilion::event {

using BufferEventPtr = std::unique_ptr<bufferevent, CFree<bufferevent, bufferevent_free>>;

class BufferEvent {
 public:
  using DataCallback = std::function<void()>;
  // what: BEV_EVENT_EOF, BEV_EVENT_ERROR, BEV_EVENT_TIMEOUT, BEV_EVENT_CONNECTED, with
  // BEV_EVENT_READING or BEV_EVENT_WRITING.
  using EventCallback = std::function<void(short what)>;

  BufferEvent() = default;
  // A socket bufferevent owning fd (made non-blocking). When this is destroyed libevent
  // closes the fd in the loop's next pass (bufferevents are finalized deferred).
  BufferEvent(EventBase& base, UniqueFd fd);
  // Takes ownership of a bufferevent made elsewhere (e.g. bufferevent_openssl_socket_new).
  static BufferEvent adopt(bufferevent* bev);

  // Any callback may be empty. They may destroy this object only through
  // EventBase::defer_delete of its owner.
  void set_callbacks(DataCallback on_read, DataCallback on_write, EventCallback on_event);
  void enable(short what = EV_READ | EV_WRITE);
  void disable(short what);
  // Idle timeouts; < 0 = none. Expiry reports BEV_EVENT_TIMEOUT and disables that side.
  void set_timeouts(int read_ms, int write_ms);
  // Stop reading when the input holds more than max bytes (0 = unlimited).
  void set_read_high_water(size_t max);

  // Queues bytes for sending. Fails only when out of memory (which PANICs), so void.
  void write(std::string_view data);
  // Sends data at once when nothing is queued and this is a plain socket (not one
  // adopted, such as TLS): a reply then costs one send() and no write event (two
  // epoll_ctl calls and a loop pass). What the socket does not take now is queued as
  // write() does, and errors surface as they would there. True when all of it went
  // out: then no write callback follows for it.
  bool send_now(std::string_view data);
  size_t input_length() const;
  size_t output_length() const;
  // Takes one line (LF or CRLF ended; terminator removed). nullopt: no complete line yet.
  // When no terminator is found within max_len bytes, *too_long is set and nothing taken.
  std::optional<std::string> read_line(size_t max_len, bool* too_long);
  // Takes up to max bytes of input.
  std::string read(size_t max = SIZE_MAX);

  evbuffer* input() const;
  evbuffer* output() const;
  bufferevent* get() const { return state_ ? state_->bev.get() : nullptr; }
  int fd() const;
  explicit operator bool() const { return state_ != nullptr; }

 private:
  struct State {
    BufferEventPtr bev;
    bool plain = false;  // a socket bufferevent made here: send_now may write to the fd
    DataCallback on_read, on_write;
    EventCallback on_event;
  };
  static void read_cb(bufferevent*, void* arg) noexcept;
  static void write_cb(bufferevent*, void* arg) noexcept;
  static void event_cb(bufferevent*, short what, void* arg) noexcept;
  std::unique_ptr<State> state_;
};

}  // namespace postilion::event
