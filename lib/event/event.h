// lib/event/event.h - RAII owners of libevent 2.1 objects: the loop (EventBase) and the
// events it runs (Event on an fd, Timer, Signal). Callbacks are std::function; each
// libevent trampoline is noexcept and turns a stray exception into a panic, because
// unwinding through libevent's C frames would leave the loop in an unknown state.
#pragma once

#include <event2/event.h>

#include <functional>
#include <memory>
#include <vector>

namespace postilion::event {

template <class T, void (*Free)(T*)>
struct CFree {
  void operator()(T* p) const { Free(p); }
};
using EventBasePtr = std::unique_ptr<event_base, CFree<event_base, event_base_free>>;
using EventPtr = std::unique_ptr<struct event, CFree<struct event, event_free>>;

// Runs fn, turning any exception into a panic. Used by every trampoline.
void guard(const char* where, const std::function<void()>& fn) noexcept;

// Owns one event_base. Out of memory when creating it is fatal (PANIC).
class EventBase {
 public:
  EventBase();
  ~EventBase();
  EventBase(EventBase&&) = delete;  // events keep a pointer to it
  EventBase& operator=(EventBase&&) = delete;

  event_base* get() const { return base_.get(); }

  // Runs until loopbreak() or until no event is pending. Returns -1 on error.
  int loop();
  // Runs one pass; with nonblock, does not wait for events.
  int loop_once(bool nonblock = false);
  // Makes loop() return after the current callback.
  void loopbreak();
  // After fork(), in the process that keeps using this base: re-creates the kernel
  // state (epoll, signal pipe) with every event still registered.
  void reinit_after_fork();

  // Destroys p after the current callback has returned, so that an object may end
  // itself from inside its own callback: it hands its owner here and returns.
  template <class T>
  void defer_delete(std::unique_ptr<T> p) {
    if (!p) return;
    doomed_.push_back(Doomed(p.release(), [](void* q) { delete static_cast<T*>(q); }));
    schedule_reap();
  }
  size_t pending_deletes() const { return doomed_.size(); }

 private:
  using Doomed = std::unique_ptr<void, void (*)(void*)>;
  void schedule_reap();
  static void reap_cb(evutil_socket_t, short, void* arg) noexcept;

  EventBasePtr base_;
  EventPtr reaper_;
  std::vector<Doomed> doomed_;
};

// An event on a file descriptor (EV_READ / EV_WRITE, EV_PERSIST, optional timeout).
// The callback gets the libevent `what` flags (EV_READ, EV_WRITE, EV_TIMEOUT).
// The fd is not owned. Move-only; destroying it removes the event.
class Event {
 public:
  using Callback = std::function<void(short what)>;
  Event() = default;
  Event(EventBase& base, int fd, short flags, Callback cb);

  // Arms the event; timeout_ms < 0 means no timeout.
  void add(int timeout_ms = -1);
  void del();
  bool pending() const;
  // Fires the callback from the loop as if `what` happened.
  void activate(short what = EV_READ);
  explicit operator bool() const { return state_ != nullptr; }

 private:
  struct State {
    EventPtr ev;
    Callback cb;
  };
  static void trampoline(evutil_socket_t, short what, void* arg) noexcept;
  std::unique_ptr<State> state_;
};

// A one-shot or repeating timer.
class Timer {
 public:
  using Callback = std::function<void()>;
  Timer() = default;
  Timer(EventBase& base, Callback cb);

  void start(int64_t ms);   // (re)starts a one-shot timer
  void repeat(int64_t ms);  // fires every ms until stop()
  void stop();
  bool pending() const;
  explicit operator bool() const { return state_ != nullptr; }

 private:
  struct State {
    EventPtr ev;
    Callback cb;
    int64_t period_ms = 0;  // > 0: re-armed before each callback
  };
  static void trampoline(evutil_socket_t, short, void* arg) noexcept;
  void arm(int64_t ms, int64_t period_ms);
  std::unique_ptr<State> state_;
};

// A signal delivered through the loop (libevent's self-pipe), armed on construction.
class Signal {
 public:
  using Callback = std::function<void()>;
  Signal() = default;
  Signal(EventBase& base, int signum, Callback cb);

 private:
  struct State {
    EventPtr ev;
    Callback cb;
  };
  static void trampoline(evutil_socket_t, short, void* arg) noexcept;
  std::unique_ptr<State> state_;
};

}  // namespace postilion::event
