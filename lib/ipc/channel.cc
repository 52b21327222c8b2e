// lib/ipc/channel.cc - framed messages over a BufferEvent.
#include "lib/ipc/channel.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

#include "lib/base/strings.h"

namespace postilion::ipc {

Channel::Channel(event::EventBase& base, UniqueFd fd, size_t max_frame, int idle_ms)
    : bev_(base, std::move(fd)), decoder_(max_frame), idle_ms_(idle_ms) {}

void Channel::start() {
  bev_.set_callbacks([this] { readable(); }, nullptr, [this](short what) {
    if (what & BEV_EVENT_EOF) {
      // Messages that arrived with the EOF are still delivered.
      readable();
      close("closed");
    } else if (what & BEV_EVENT_TIMEOUT) {
      close("timeout");
    } else if (what & BEV_EVENT_ERROR) {
      close(std::string("error: ") + std::strerror(errno));
    }
  });
  if (idle_ms_ >= 0) bev_.set_timeouts(idle_ms_, idle_ms_);
  bev_.enable(EV_READ | EV_WRITE);
}

void Channel::send(const Message& m) {
  if (closed_) return;
  bev_.write(m.encode());
}

void Channel::shutdown() {
  closed_ = true;
  if (bev_) bev_.disable(EV_READ | EV_WRITE);
}

void Channel::readable() {
  if (closed_) return;
  std::string chunk = bev_.read();
  decoder_.feed(chunk);
  for (;;) {
    Message m;
    std::string why;
    switch (decoder_.next(&m, &why)) {
      case Decoder::Status::NeedMore:
        return;
      case Decoder::Status::Error:
        close("malformed message: " + why);
        return;
      case Decoder::Status::Ready:
        if (on_message_) on_message_(std::move(m));
        // The callback may have shut the channel down.
        if (closed_) return;
        break;
    }
  }
}

void Channel::close(const std::string& reason) {
  if (closed_) return;
  closed_ = true;
  bev_.disable(EV_READ | EV_WRITE);
  if (on_close_) on_close_(reason);
}

Result<std::unique_ptr<Channel>> Channel::connect(event::EventBase& base, const std::string& path,
                                                  size_t max_frame, int idle_ms) {
  auto fd = connect_unix(path, 100);
  if (!fd) return fd.error();
  return std::make_unique<Channel>(base, std::move(*fd), max_frame, idle_ms);
}

}  // namespace postilion::ipc
