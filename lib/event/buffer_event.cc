// lib/event/buffer_event.cc - BufferEvent trampolines and buffer helpers.
#include "lib/event/buffer_event.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "lib/log/log.h"

namespace postilion::event {

BufferEvent::BufferEvent(EventBase& base, UniqueFd fd) {
  evutil_make_socket_nonblocking(fd.get());
  bufferevent* bev = bufferevent_socket_new(base.get(), fd.get(), BEV_OPT_CLOSE_ON_FREE);
  if (!bev) PANIC("bufferevent_socket_new failed for fd %d", fd.get());
  fd.release();  // the bufferevent closes it now
  *this = adopt(bev);
  state_->plain = true;
}

BufferEvent BufferEvent::adopt(bufferevent* bev) {
  if (!bev) PANIC("BufferEvent::adopt of a null bufferevent");
  BufferEvent b;
  b.state_ = std::make_unique<State>();
  b.state_->bev.reset(bev);
  bufferevent_setcb(bev, &BufferEvent::read_cb, &BufferEvent::write_cb, &BufferEvent::event_cb,
                    b.state_.get());
  return b;
}

void BufferEvent::read_cb(bufferevent*, void* arg) noexcept {
  auto* st = static_cast<State*>(arg);
  if (st->on_read) guard("bufferevent read", [&] { st->on_read(); });
}

void BufferEvent::write_cb(bufferevent*, void* arg) noexcept {
  auto* st = static_cast<State*>(arg);
  if (st->on_write) guard("bufferevent write", [&] { st->on_write(); });
}

void BufferEvent::event_cb(bufferevent*, short what, void* arg) noexcept {
  auto* st = static_cast<State*>(arg);
  if (st->on_event) guard("bufferevent event", [&] { st->on_event(what); });
}

void BufferEvent::set_callbacks(DataCallback on_read, DataCallback on_write, EventCallback on_event) {
  state_->on_read = std::move(on_read);
  state_->on_write = std::move(on_write);
  state_->on_event = std::move(on_event);
}

void BufferEvent::enable(short what) { bufferevent_enable(state_->bev.get(), what); }
void BufferEvent::disable(short what) { bufferevent_disable(state_->bev.get(), what); }

void BufferEvent::set_timeouts(int read_ms, int write_ms) {
  timeval r{read_ms / 1000, (read_ms % 1000) * 1000};
  timeval w{write_ms / 1000, (write_ms % 1000) * 1000};
  bufferevent_set_timeouts(state_->bev.get(), read_ms < 0 ? nullptr : &r, write_ms < 0 ? nullptr : &w);
}

void BufferEvent::set_read_high_water(size_t max) {
  bufferevent_setwatermark(state_->bev.get(), EV_READ, 0, max);
}

void BufferEvent::write(std::string_view data) {
  if (bufferevent_write(state_->bev.get(), data.data(), data.size()) != 0)
    PANIC("bufferevent_write of %zu bytes failed", data.size());
}

bool BufferEvent::send_now(std::string_view data) {
  if (state_->plain && output_length() == 0) {
    int fd = bufferevent_getfd(state_->bev.get());
    while (!data.empty()) {
      ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // full, or an error the bufferevent reports when it writes
      data.remove_prefix(static_cast<size_t>(n));
    }
  }
  if (data.empty()) return true;
  write(data);
  return false;
}

evbuffer* BufferEvent::input() const { return bufferevent_get_input(state_->bev.get()); }
evbuffer* BufferEvent::output() const { return bufferevent_get_output(state_->bev.get()); }
size_t BufferEvent::input_length() const { return evbuffer_get_length(input()); }
size_t BufferEvent::output_length() const { return evbuffer_get_length(output()); }
int BufferEvent::fd() const { return state_ ? bufferevent_getfd(state_->bev.get()) : -1; }

std::optional<std::string> BufferEvent::read_line(size_t max_len, bool* too_long) {
  if (too_long) *too_long = false;
  evbuffer* in = input();
  evbuffer_ptr p = evbuffer_search_eol(in, nullptr, nullptr, EVBUFFER_EOL_LF);
  if (p.pos < 0) {
    if (evbuffer_get_length(in) > max_len && too_long) *too_long = true;
    return std::nullopt;
  }
  size_t len = static_cast<size_t>(p.pos);
  if (len > max_len) {
    if (too_long) *too_long = true;
    return std::nullopt;
  }
  std::string line(len + 1, '\0');
  evbuffer_remove(in, line.data(), len + 1);
  line.pop_back();  // LF
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

std::string BufferEvent::read(size_t max) {
  evbuffer* in = input();
  size_t n = std::min(max, evbuffer_get_length(in));
  std::string out(n, '\0');
  if (n) evbuffer_remove(in, out.data(), n);
  return out;
}

}  // namespace postilion::event
