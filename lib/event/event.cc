// lib/event/event.cc - the loop and the fd/timer/signal events.
#include "lib/event/event.h"

#include <exception>

#include "lib/log/log.h"

namespace postilion::event {
namespace {

timeval to_tv(int64_t ms) {
  timeval tv;
  tv.tv_sec = static_cast<time_t>(ms / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms % 1000) * 1000);
  return tv;
}

}  // namespace

void guard(const char* where, const std::function<void()>& fn) noexcept {
  try {
    fn();
  } catch (const std::exception& e) {
    PANIC("%s: uncaught exception in event callback: %s", where, e.what());
  } catch (...) {
    PANIC("%s: uncaught exception in event callback", where);
  }
}

// ---- EventBase ---------------------------------------------------------------

EventBase::EventBase() : base_(event_base_new()) {
  if (!base_) PANIC("event_base_new failed");
  reaper_.reset(event_new(base_.get(), -1, 0, &EventBase::reap_cb, this));
  if (!reaper_) PANIC("event_new failed");
}

EventBase::~EventBase() {
  // Deferred objects may own events of this base: free them before the base.
  doomed_.clear();
  reaper_.reset();
}

int EventBase::loop() { return event_base_dispatch(base_.get()); }

int EventBase::loop_once(bool nonblock) {
  return event_base_loop(base_.get(), EVLOOP_ONCE | (nonblock ? EVLOOP_NONBLOCK : 0));
}

void EventBase::loopbreak() { event_base_loopbreak(base_.get()); }

void EventBase::reinit_after_fork() {
  if (event_reinit(base_.get()) != 0) PANIC("event_reinit failed");
}

void EventBase::schedule_reap() {
  if (!event_pending(reaper_.get(), EV_TIMEOUT, nullptr)) {
    timeval zero{0, 0};
    event_add(reaper_.get(), &zero);
  }
}

void EventBase::reap_cb(evutil_socket_t, short, void* arg) noexcept {
  auto* self = static_cast<EventBase*>(arg);
  // Destructors may defer more deletions: take the list first, then free it.
  while (!self->doomed_.empty()) {
    std::vector<Doomed> batch;
    batch.swap(self->doomed_);
    guard("defer_delete", [&] { batch.clear(); });
  }
}

// ---- Event -------------------------------------------------------------------

Event::Event(EventBase& base, int fd, short flags, Callback cb) : state_(std::make_unique<State>()) {
  state_->cb = std::move(cb);
  state_->ev.reset(event_new(base.get(), fd, flags, &Event::trampoline, state_.get()));
  if (!state_->ev) PANIC("event_new failed for fd %d", fd);
}

void Event::trampoline(evutil_socket_t, short what, void* arg) noexcept {
  auto* st = static_cast<State*>(arg);
  guard("event", [&] { st->cb(what); });
}

void Event::add(int timeout_ms) {
  if (!state_) PANIC("Event::add on an empty event");
  if (timeout_ms < 0) {
    event_add(state_->ev.get(), nullptr);
  } else {
    timeval tv = to_tv(timeout_ms);
    event_add(state_->ev.get(), &tv);
  }
}

void Event::del() {
  if (state_) event_del(state_->ev.get());
}

bool Event::pending() const {
  return state_ && event_pending(state_->ev.get(), EV_READ | EV_WRITE | EV_TIMEOUT | EV_SIGNAL, nullptr);
}

void Event::activate(short what) {
  if (state_) event_active(state_->ev.get(), what, 0);
}

// ---- Timer -------------------------------------------------------------------

Timer::Timer(EventBase& base, Callback cb) : state_(std::make_unique<State>()) {
  state_->cb = std::move(cb);
  state_->ev.reset(event_new(base.get(), -1, 0, &Timer::trampoline, state_.get()));
  if (!state_->ev) PANIC("event_new failed for a timer");
}

void Timer::trampoline(evutil_socket_t, short, void* arg) noexcept {
  auto* st = static_cast<State*>(arg);
  if (st->period_ms > 0) {
    // Re-arm first: the callback may stop or restart the timer.
    timeval tv = to_tv(st->period_ms);
    event_add(st->ev.get(), &tv);
  }
  guard("timer", [&] { st->cb(); });
}

void Timer::arm(int64_t ms, int64_t period_ms) {
  if (!state_) PANIC("Timer used before construction");
  state_->period_ms = period_ms;
  timeval tv = to_tv(ms < 0 ? 0 : ms);
  event_add(state_->ev.get(), &tv);
}

void Timer::start(int64_t ms) { arm(ms, 0); }
void Timer::repeat(int64_t ms) { arm(ms, ms); }

void Timer::stop() {
  if (!state_) return;
  state_->period_ms = 0;
  event_del(state_->ev.get());
}

bool Timer::pending() const {
  return state_ && state_->ev && event_pending(state_->ev.get(), EV_TIMEOUT, nullptr);
}

// ---- Signal ------------------------------------------------------------------

Signal::Signal(EventBase& base, int signum, Callback cb) : state_(std::make_unique<State>()) {
  state_->cb = std::move(cb);
  state_->ev.reset(evsignal_new(base.get(), signum, &Signal::trampoline, state_.get()));
  if (!state_->ev) PANIC("evsignal_new failed for signal %d", signum);
  event_add(state_->ev.get(), nullptr);
}

void Signal::trampoline(evutil_socket_t, short, void* arg) noexcept {
  auto* st = static_cast<State*>(arg);
  guard("signal", [&] { st->cb(); });
}

}  // namespace postilion::event
