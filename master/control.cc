// master/control.cc - control socket sessions: read one framed request, answer it, close.
#include "master/control.h"

#include <unistd.h>

#include "lib/base/strings.h"
#include "lib/event/buffer_event.h"
#include "lib/ipc/message.h"
#include "lib/log/log.h"

namespace postilion::master {

constexpr int kConnTimeoutMs = 10000;
constexpr size_t kMaxRequest = 64 * 1024;

struct Control::Conn {
  event::BufferEvent bev;
  ipc::Decoder decoder{kMaxRequest};
  bool answered = false;
};

Control::Control(event::EventBase& base, Supervisor& sup)
    : base_(base), sup_(sup), stop_later_(base, [this] { sup_.stop(); }) {}

Control::~Control() { close(); }

Status Control::open(const std::string& path) {
  auto fd = ipc::listen_unix(path, 0600);
  if (!fd) return fd.error();
  path_ = path;
  listener_ = event::Listener(base_, std::move(*fd), [this](UniqueFd c, const sockaddr*, int) { accepted(std::move(c)); });
  return {};
}

void Control::close() {
  // Replies still queued (the answer to cmd=stop) get one last non-blocking write.
  for (auto& [c, conn] : conns_) {
    if (conn->bev.output_length() > 0) evbuffer_write(conn->bev.output(), conn->bev.fd());
  }
  conns_.clear();
  if (!path_.empty()) {
    listener_ = event::Listener();
    ::unlink(path_.c_str());
    path_.clear();
  }
}

void Control::accepted(UniqueFd fd) {
  auto conn = std::make_unique<Conn>();
  Conn* c = conn.get();
  c->bev = event::BufferEvent(base_, std::move(fd));
  auto finish = [this, c] {
    auto it = conns_.find(c);
    if (it == conns_.end()) return;
    base_.defer_delete(std::move(it->second));
    conns_.erase(it);
  };
  c->bev.set_callbacks(
      [this, c, finish] {
        if (c->answered) {
          c->bev.read();
          return;
        }
        c->decoder.feed(c->bev.read());
        ipc::Message req;
        std::string why;
        switch (c->decoder.next(&req, &why)) {
          case ipc::Decoder::Status::NeedMore:
            return;
          case ipc::Decoder::Status::Error:
            log::warn("control socket: bad request: %s", str::printable(why).c_str());
            finish();
            return;
          case ipc::Decoder::Status::Ready:
            c->answered = true;
            c->bev.write(handle(req).encode());
            return;
        }
      },
      [c, finish] {
        if (c->answered && c->bev.output_length() == 0) finish();
      },
      [finish](short) { finish(); });
  c->bev.set_timeouts(kConnTimeoutMs, kConnTimeoutMs);
  c->bev.enable(EV_READ | EV_WRITE);
  conns_[c] = std::move(conn);
}

ipc::Message Control::handle(const ipc::Message& req) {
  ipc::Message r;
  std::string cmd(req.get_or("cmd", ""));
  if (cmd == "status") {
    r.set("status", "ok");
    r.set("pid", static_cast<int64_t>(::getpid()));
    r.set("ready", sup_.ready() && !sup_.stopping() ? "1" : "0");
    for (auto& line : sup_.status_lines()) r.set("service", line);
  } else if (cmd == "reload") {
    log::info("reload requested over the control socket");
    if (auto st = sup_.reload(); !st) {
      log::error("reload: %s", st.error().c_str());
      r.set("status", "error").set("text", st.error().str());
    } else {
      r.set("status", "ok");
    }
  } else if (cmd == "stop") {
    r.set("status", "ok").set("text", "stopping");
    // After this reply is on its way: stopping ends the loop once children are gone.
    stop_later_.start(0);
  } else {
    r.set("status", "error").set("text", "unknown command \"" + str::printable(cmd, 40) + "\"");
  }
  return r;
}

}  // namespace postilion::master
