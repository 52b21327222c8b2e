// master/test_echo.cc - a test-only service for master(8)'s tests, run through
// lib/service like every daemon: echoes each line back; a client line "crash" makes
// it abort; "pid" answers its pid. With the argument `crash` it exits 1 as soon as it
// starts. One client per process, so that the master has to spawn more on demand.
#include <cstdlib>
#include <map>
#include <memory>

#include "lib/event/buffer_event.h"
#include "lib/log/log.h"
#include "lib/service/service.h"

using namespace postilion;

namespace {

struct Session {
  event::BufferEvent bev;
};

void start_session(service::Context& ctx, UniqueFd fd) {
  auto s = std::make_unique<Session>();
  Session* raw = s.release();  // owned by its callbacks until defer_delete
  raw->bev = event::BufferEvent(ctx.loop(), std::move(fd));
  auto end = [&ctx, raw] {
    ctx.loop().defer_delete(std::unique_ptr<Session>(raw));
    ctx.session_end();
  };
  raw->bev.set_callbacks(
      [raw, end] {
        bool too_long = false;
        while (auto line = raw->bev.read_line(1000, &too_long)) {
          if (*line == "crash") std::abort();
          if (*line == "pid") {
            raw->bev.write(std::to_string(::getpid()) + "\n");
            continue;
          }
          raw->bev.write(*line + "\n");
        }
        if (too_long) end();
      },
      nullptr, [end](short) { end(); });
  raw->bev.enable(EV_READ | EV_WRITE);
}

}  // namespace

int main(int argc, char** argv) {
  service::Spec spec{.name = "test_echo", .kind = service::Kind::Stream};
  spec.post_jail = [](service::Context& ctx) {
    for (auto& a : ctx.options().args)
      if (a == "crash") {
        log::error("crashing on purpose");
        std::exit(1);
      }
  };
  spec.max_clients = 1;  // one client per process, so that master spawns more on demand
  spec.on_accept = start_session;
  return service::run(argc, argv, spec);
}
