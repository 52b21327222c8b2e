// lib/event/event_test.cc - the loop, timers, signals, fd events, buffered sockets and
// listeners, over real socketpairs and loopback sockets.
#include "lib/event/buffer_event.h"
#include "lib/event/event.h"
#include "lib/event/listener.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cppunit/extensions/HelperMacros.h>

#include <string>
#include <vector>

#include "lib/base/file.h"

using namespace postilion;
using event::EventBase;

namespace {

std::pair<UniqueFd, UniqueFd> socket_pair() {
  int sv[2];
  CPPUNIT_ASSERT_EQUAL(0, ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
  return {UniqueFd(sv[0]), UniqueFd(sv[1])};
}

// Stops a test loop that would otherwise wait forever.
struct Watchdog {
  event::Timer t;
  bool fired = false;
  Watchdog(EventBase& b, int ms) : t(b, [this, &b] { fired = true; b.loopbreak(); }) { t.start(ms); }
};

struct Counted {
  static int alive;
  Counted() { ++alive; }
  ~Counted() { --alive; }
};
int Counted::alive = 0;

}  // namespace

class EventTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(EventTest);
  CPPUNIT_TEST(timer_order);
  CPPUNIT_TEST(timer_repeat_and_stop);
  CPPUNIT_TEST(fd_event_reads);
  CPPUNIT_TEST(signal_through_loop);
  CPPUNIT_TEST(defer_delete_after_callback);
  CPPUNIT_TEST(buffer_event_lines);
  CPPUNIT_TEST(buffer_event_eof);
  CPPUNIT_TEST(buffer_event_timeout);
  CPPUNIT_TEST(buffer_event_send_now);
  CPPUNIT_TEST(listener_accepts);
  CPPUNIT_TEST(listen_inet_errors);
  CPPUNIT_TEST(listen_inet_spec_forms);
  CPPUNIT_TEST_SUITE_END();

 public:
  void timer_order() {
    EventBase base;
    std::vector<int> order;
    struct Row { int ms; int id; } rows[] = {{30, 3}, {0, 1}, {10, 2}};
    std::vector<event::Timer> timers;
    for (auto r : rows) {
      timers.emplace_back(base, [&order, r] { order.push_back(r.id); });
      timers.back().start(r.ms);
    }
    int64_t t0 = file::monotonic_ms();
    CPPUNIT_ASSERT(base.loop() >= 0);
    CPPUNIT_ASSERT((std::vector<int>{1, 2, 3}) == order);
    CPPUNIT_ASSERT(file::monotonic_ms() - t0 >= 25);
    for (auto& t : timers) CPPUNIT_ASSERT(!t.pending());
  }

  void timer_repeat_and_stop() {
    EventBase base;
    int n = 0;
    event::Timer t;
    t = event::Timer(base, [&] {
      if (++n == 3) t.stop();
    });
    t.repeat(5);
    Watchdog w(base, 2000);
    w.t.stop();  // the loop must end by itself once the repeating timer is stopped
    CPPUNIT_ASSERT(base.loop() >= 0);
    CPPUNIT_ASSERT_EQUAL(3, n);
  }

  void fd_event_reads() {
    EventBase base;
    auto [a, b] = socket_pair();
    std::string got;
    event::Event ev(base, b.get(), EV_READ | EV_PERSIST, [&](short what) {
      CPPUNIT_ASSERT(what & EV_READ);
      char buf[16];
      ssize_t n = ::read(b.get(), buf, sizeof buf);
      if (n > 0) got.append(buf, static_cast<size_t>(n));
      if (got.size() >= 5) base.loopbreak();
    });
    ev.add();
    CPPUNIT_ASSERT(ev.pending());
    CPPUNIT_ASSERT(file::write_all(a.get(), "hello").ok());
    Watchdog w(base, 2000);
    base.loop();
    CPPUNIT_ASSERT(!w.fired);
    CPPUNIT_ASSERT_EQUAL(std::string("hello"), got);
    ev.del();
    CPPUNIT_ASSERT(!ev.pending());

    // A read event with a timeout reports EV_TIMEOUT when nothing comes.
    short seen = 0;
    event::Event quiet(base, b.get(), EV_READ, [&](short what) { seen = what; });
    quiet.add(10);
    base.loop();
    CPPUNIT_ASSERT(seen & EV_TIMEOUT);
  }

  void signal_through_loop() {
    EventBase base;
    int got = 0;
    event::Signal s(base, SIGUSR1, [&] {
      ++got;
      base.loopbreak();
    });
    event::Timer t(base, [] { ::kill(::getpid(), SIGUSR1); });
    t.start(1);
    Watchdog w(base, 2000);
    base.loop();
    CPPUNIT_ASSERT(!w.fired);
    CPPUNIT_ASSERT_EQUAL(1, got);
  }

  void defer_delete_after_callback() {
    EventBase base;
    // An object that ends itself from its own timer callback.
    struct Self : Counted {
      event::Timer t;
      bool after = false;
    };
    auto owner = std::make_unique<Self>();
    Self* raw = owner.get();
    raw->t = event::Timer(base, [&base, &owner, raw] {
      base.defer_delete(std::move(owner));
      // Still alive here: deletion waits until this callback returns.
      CPPUNIT_ASSERT_EQUAL(1, Counted::alive);
      raw->after = true;
    });
    raw->t.start(0);
    CPPUNIT_ASSERT_EQUAL(1, Counted::alive);
    base.loop();
    CPPUNIT_ASSERT_EQUAL(0, Counted::alive);
    CPPUNIT_ASSERT_EQUAL(size_t(0), base.pending_deletes());
    // Anything still pending at the base's end is freed too.
    {
      EventBase b2;
      b2.defer_delete(std::make_unique<Counted>());
      CPPUNIT_ASSERT_EQUAL(1, Counted::alive);
    }
    CPPUNIT_ASSERT_EQUAL(0, Counted::alive);
  }

  void buffer_event_lines() {
    EventBase base;
    auto [a, b] = socket_pair();
    event::BufferEvent server(base, std::move(b));
    std::vector<std::string> lines;
    bool long_seen = false;
    server.set_callbacks(
        [&] {
          bool too_long = false;
          while (auto l = server.read_line(16, &too_long)) lines.push_back(*l);
          if (too_long) {
            long_seen = true;
            base.loopbreak();
          }
        },
        nullptr, nullptr);
    server.enable(EV_READ);
    // One byte at a time, then a line with no end that is too long.
    std::string input = "one\r\ntwo\n\nthree\r\n";
    for (char c : input) CPPUNIT_ASSERT(file::write_all(a.get(), std::string(1, c)).ok());
    CPPUNIT_ASSERT(file::write_all(a.get(), std::string(40, 'x')).ok());
    Watchdog w(base, 2000);
    base.loop();
    CPPUNIT_ASSERT(!w.fired);
    CPPUNIT_ASSERT((std::vector<std::string>{"one", "two", "", "three"}) == lines);
    CPPUNIT_ASSERT(long_seen);
    CPPUNIT_ASSERT_EQUAL(size_t(40), server.input_length());
    CPPUNIT_ASSERT_EQUAL(std::string(40, 'x'), server.read());
  }

  void buffer_event_eof() {
    EventBase base;
    auto [a, b] = socket_pair();
    event::BufferEvent bev(base, std::move(b));
    short what = 0;
    bev.set_callbacks([&] { bev.write(bev.read()); }, nullptr,
                      [&](short w) {
                        what = w;
                        base.loopbreak();
                      });
    bev.enable();
    CPPUNIT_ASSERT(file::write_all(a.get(), "ping").ok());
    ::shutdown(a.get(), SHUT_WR);
    Watchdog w(base, 2000);
    base.loop();
    CPPUNIT_ASSERT(!w.fired);
    CPPUNIT_ASSERT(what & BEV_EVENT_EOF);
    bev = event::BufferEvent();  // frees the bufferevent; libevent closes the socket
    base.loop_once(true);        // in its next pass (deferred finalizer)
    auto back = file::read_all(a.get(), 100);
    CPPUNIT_ASSERT(back.ok());
    CPPUNIT_ASSERT_EQUAL(std::string("ping"), *back);
  }

  void buffer_event_send_now() {
    EventBase base;
    auto [a, b] = socket_pair();
    int small = 4096;
    CPPUNIT_ASSERT_EQUAL(0, ::setsockopt(b.get(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small));
    event::BufferEvent bev(base, std::move(b));
    int drained = 0;
    bev.set_callbacks(nullptr, [&] { ++drained; }, nullptr);
    bev.enable(EV_WRITE);
    base.loop_once(true);  // libevent reports the empty output once after enable()
    drained = 0;
    // Nothing queued: it goes at once, without the loop and without a write callback.
    CPPUNIT_ASSERT(bev.send_now("250 ok\r\n"));
    CPPUNIT_ASSERT_EQUAL(size_t(0), bev.output_length());
    char buf[64];
    CPPUNIT_ASSERT_EQUAL(ssize_t(8), ::recv(a.get(), buf, sizeof buf, MSG_DONTWAIT));
    CPPUNIT_ASSERT_EQUAL(std::string("250 ok\r\n"), std::string(buf, 8));
    base.loop_once(true);
    CPPUNIT_ASSERT_EQUAL(0, drained);
    // More than the socket takes: the rest is queued, in order, and goes out through
    // the loop with the write callback at the end.
    std::string big;
    for (int i = 0; big.size() < 1 << 20; ++i) big += std::to_string(i) + "\n";
    CPPUNIT_ASSERT(!bev.send_now(big));
    CPPUNIT_ASSERT(bev.output_length() > 0);
    CPPUNIT_ASSERT(!bev.send_now("tail\n"));  // behind the queue, never before it
    std::string got;
    event::Event reader(base, a.get(), EV_READ | EV_PERSIST, [&](short) {
      char chunk[65536];
      ssize_t n = ::recv(a.get(), chunk, sizeof chunk, MSG_DONTWAIT);
      if (n > 0) got.append(chunk, static_cast<size_t>(n));
      if (got.size() == big.size() + 5) base.loopbreak();
    });
    reader.add();
    Watchdog w(base, 5000);
    base.loop();
    CPPUNIT_ASSERT(!w.fired);
    CPPUNIT_ASSERT(got == big + "tail\n");
    CPPUNIT_ASSERT_EQUAL(size_t(0), bev.output_length());
    CPPUNIT_ASSERT_EQUAL(1, drained);
    // An adopted bufferevent (TLS is one) always queues.
    auto [c, d] = socket_pair();
    event::BufferEvent adopted = event::BufferEvent::adopt(bufferevent_socket_new(base.get(), d.release(), BEV_OPT_CLOSE_ON_FREE));
    CPPUNIT_ASSERT(!adopted.send_now("x\n"));
    CPPUNIT_ASSERT_EQUAL(size_t(2), adopted.output_length());
  }

  void buffer_event_timeout() {
    EventBase base;
    auto [a, b] = socket_pair();
    event::BufferEvent bev(base, std::move(b));
    short what = 0;
    bev.set_callbacks(nullptr, nullptr, [&](short w) {
      what = w;
      base.loopbreak();
    });
    bev.enable(EV_READ);
    bev.set_timeouts(20, -1);
    Watchdog w(base, 2000);
    base.loop();
    CPPUNIT_ASSERT(!w.fired);
    CPPUNIT_ASSERT(what & BEV_EVENT_TIMEOUT);
    CPPUNIT_ASSERT(what & BEV_EVENT_READING);
  }

  void listener_accepts() {
    EventBase base;
    auto fd = event::listen_inet("127.0.0.1", 0);
    CPPUNIT_ASSERT_MESSAGE(fd.ok() ? "" : fd.error().str(), fd.ok());
    sockaddr_in sa{};
    socklen_t len = sizeof sa;
    CPPUNIT_ASSERT_EQUAL(0, ::getsockname(fd->get(), reinterpret_cast<sockaddr*>(&sa), &len));
    std::vector<UniqueFd> accepted;
    event::Listener l(base, std::move(*fd), [&](UniqueFd c, const sockaddr* peer, int) {
      CPPUNIT_ASSERT(c.valid());
      CPPUNIT_ASSERT_EQUAL(int(AF_INET), int(peer->sa_family));
      accepted.push_back(std::move(c));
      if (accepted.size() == 2) base.loopbreak();
    });
    std::vector<UniqueFd> clients;
    for (int i = 0; i < 2; ++i) {
      UniqueFd c(::socket(AF_INET, SOCK_STREAM, 0));
      CPPUNIT_ASSERT_EQUAL(0, ::connect(c.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa));
      clients.push_back(std::move(c));
    }
    Watchdog w(base, 2000);
    base.loop();
    CPPUNIT_ASSERT(!w.fired);
    CPPUNIT_ASSERT_EQUAL(size_t(2), accepted.size());
  }

  void listen_inet_errors() {
    auto a = event::listen_inet("127.0.0.1", 0);
    CPPUNIT_ASSERT(a.ok());
    sockaddr_in sa{};
    socklen_t len = sizeof sa;
    ::getsockname(a->get(), reinterpret_cast<sockaddr*>(&sa), &len);
    uint16_t port = ntohs(sa.sin_port);
    auto b = event::listen_inet("127.0.0.1", port);  // taken
    CPPUNIT_ASSERT(!b.ok());
    CPPUNIT_ASSERT(b.error().str().find("127.0.0.1:" + std::to_string(port)) != std::string::npos);
    CPPUNIT_ASSERT(!event::listen_inet("not an address!", 25).ok());
    CPPUNIT_ASSERT_EQUAL(std::string("[::1]:25"), event::inet_label("::1", 25));
    CPPUNIT_ASSERT_EQUAL(std::string("*:25"), event::inet_label("", 25));
    auto v6 = event::listen_inet("[::1]", 0);
    if (!v6.ok()) CPPUNIT_ASSERT(v6.error().str().find("[::1]") != std::string::npos);
  }

  void listen_inet_spec_forms() {
    // Port 0 is refused on the command line: "any port" is not something to type.
    const struct {
      const char* spec;
      bool ok;
      const char* label;
    } cases[] = {
        {"127.0.0.1:0", false, ""},      {"127.0.0.1:65536", false, ""}, {"127.0.0.1:x", false, ""},
        {"", false, ""},                 {"127.0.0.1:", false, ""},      {"bad host!:2525", false, "bad host!:2525"},
    };
    for (const auto& c : cases) {
      std::string label;
      auto fd = event::listen_inet_spec(c.spec, &label);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(c.spec, c.ok, fd.ok());
      CPPUNIT_ASSERT_EQUAL_MESSAGE(c.spec, std::string(c.label), label);
    }
    // A real one: take a free port, release it, then listen through the spec form.
    uint16_t port;
    {
      auto a = event::listen_inet("127.0.0.1", 0);
      CPPUNIT_ASSERT(a.ok());
      sockaddr_in sa{};
      socklen_t len = sizeof sa;
      ::getsockname(a->get(), reinterpret_cast<sockaddr*>(&sa), &len);
      port = ntohs(sa.sin_port);
    }
    std::string label;
    auto fd = event::listen_inet_spec("127.0.0.1:" + std::to_string(port), &label);
    CPPUNIT_ASSERT(fd.ok());
    CPPUNIT_ASSERT_EQUAL("127.0.0.1:" + std::to_string(port), label);
    auto v6 = event::listen_inet_spec("[::1]:" + std::to_string(port), &label);
    CPPUNIT_ASSERT_EQUAL("[::1]:" + std::to_string(port), label);  // brackets kept, port parsed
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(EventTest);
