// lib/service/launcher_test.cc - the listener's side of Kind::Session without root:
// peer addresses, a session process started per connection and reaped, and the
// refusals over client_limit and over a per-client limit (anvil unreachable: this
// process's own counts decide), and a session command that cannot run.
#include "lib/service/launcher.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include <cppunit/extensions/HelperMacros.h>

#include "lib/base/file.h"

using namespace postilion;

namespace {

constexpr const char* kFromHost = "-ERR too many from your host\r\n";
constexpr const char* kTooMany = "-ERR too many\r\n";

// A listening socket on 127.0.0.1 and connections to it, accepted at once.
struct Listener {
  UniqueFd fd{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  uint16_t port = 0;
  Listener() {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CPPUNIT_ASSERT_EQUAL(0, ::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa));
    CPPUNIT_ASSERT_EQUAL(0, ::listen(fd.get(), 16));
    socklen_t len = sizeof sa;
    ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&sa), &len);
    port = ntohs(sa.sin_port);
  }
  // The client's end in *client; returns the server's end.
  UniqueFd connect(UniqueFd* client) {
    client->reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CPPUNIT_ASSERT_EQUAL(0, ::connect(client->get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa));
    UniqueFd s(::accept4(fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
    CPPUNIT_ASSERT(s);
    return s;
  }
};

// Runs the loop until done() or 5 s; true when done() held.
bool run_until(event::EventBase& base, const std::function<bool()>& done) {
  int64_t deadline = file::monotonic_ms() + 5000;
  event::Timer tick(base, [&] {
    if (done() || file::monotonic_ms() > deadline) base.loopbreak();
  });
  tick.repeat(10);
  base.loop();
  return done();
}

// Everything the peer sends until EOF (bounded by a receive timeout).
std::string read_all(int fd) {
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string out;
  char buf[256];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    // A read with SO_RCVTIMEO is not restarted after a signal handler (SIGCHLD of a
    // session that ended): read again.
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

service::SessionLimits limits() {
  service::SessionLimits l;
  l.client_limit_name = "test_client_limit";
  l.too_many_from_host = kFromHost;
  l.too_many_connections = kTooMany;
  return l;
}

// A session that writes its arguments after "-a" ($2: the client's address) to the
// client, and one that waits until the client closes.
const std::vector<std::string> kEcho = {"/bin/sh", "-c", "printf 'ip=%s' \"$2\" >&0", "sh"};
const std::vector<std::string> kWait = {"/bin/sh", "-c", "cat <&0 >/dev/null", "sh"};

}  // namespace

class LauncherTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(LauncherTest);
  CPPUNIT_TEST(peer_ip_of_loopback);
  CPPUNIT_TEST(session_process_per_connection);
  CPPUNIT_TEST(client_limit_refuses);
  CPPUNIT_TEST(per_client_limit_refuses_unless_excepted);
  CPPUNIT_TEST(command_that_cannot_run_ends);
  CPPUNIT_TEST_SUITE_END();

 public:
  void peer_ip_of_loopback() {
    Listener l;
    UniqueFd c;
    UniqueFd s = l.connect(&c);
    CPPUNIT_ASSERT_EQUAL(std::string("127.0.0.1"), service::peer_ip(s.get()));
    UniqueFd pipe_end(::socket(AF_UNIX, SOCK_STREAM, 0));
    CPPUNIT_ASSERT_EQUAL(std::string("unknown"), service::peer_ip(pipe_end.get()));
  }

  void session_process_per_connection() {
    event::EventBase base;
    int ended = 0;
    service::Launcher launcher(base, kEcho, limits(), "/nonexistent/anvil", "test", [&] { ++ended; });
    Listener l;
    UniqueFd c1, c2;
    CPPUNIT_ASSERT(launcher.launch(l.connect(&c1)));
    CPPUNIT_ASSERT(launcher.launch(l.connect(&c2)));
    CPPUNIT_ASSERT_EQUAL(std::string("ip=127.0.0.1"), read_all(c1.get()));
    CPPUNIT_ASSERT_EQUAL(std::string("ip=127.0.0.1"), read_all(c2.get()));
    CPPUNIT_ASSERT(run_until(base, [&] { return ended == 2; }));
    CPPUNIT_ASSERT_EQUAL(size_t(0), launcher.running());
  }

  void client_limit_refuses() {
    event::EventBase base;
    int ended = 0;
    auto l = limits();
    l.client_limit = 1;
    service::Launcher launcher(base, kWait, std::move(l), "/nonexistent/anvil", "test", [&] { ++ended; });
    Listener lis;
    UniqueFd c1, c2;
    CPPUNIT_ASSERT(launcher.launch(lis.connect(&c1)));
    CPPUNIT_ASSERT_EQUAL(size_t(1), launcher.running());
    CPPUNIT_ASSERT(launcher.launch(lis.connect(&c2)));  // refused: on_exit has run
    CPPUNIT_ASSERT_EQUAL(1, ended);
    CPPUNIT_ASSERT_EQUAL(std::string(kTooMany), read_all(c2.get()));
    c1.reset();  // the first session ends
    CPPUNIT_ASSERT(run_until(base, [&] { return ended == 2; }));
    CPPUNIT_ASSERT_EQUAL(size_t(0), launcher.running());
  }

  void per_client_limit_refuses_unless_excepted() {
    for (bool excepted : {false, true}) {
      event::EventBase base;
      int ended = 0;
      auto l = limits();
      l.per_client.count_limit = 1;
      l.anvil_timeout_ms = 100;
      if (excepted) l.exceptions = *parse_cidr_list({"127.0.0.0/8"});
      service::Launcher launcher(base, kWait, std::move(l), "/nonexistent/anvil", "test", [&] { ++ended; });
      Listener lis;
      UniqueFd c1, c2;
      CPPUNIT_ASSERT(launcher.launch(lis.connect(&c1)));
      CPPUNIT_ASSERT(run_until(base, [&] { return launcher.running() == 1 && ended == 0; }));
      CPPUNIT_ASSERT(launcher.launch(lis.connect(&c2)));
      if (!excepted) {
        CPPUNIT_ASSERT(run_until(base, [&] { return ended == 1; }));
        CPPUNIT_ASSERT_EQUAL(std::string(kFromHost), read_all(c2.get()));
      } else {
        CPPUNIT_ASSERT(run_until(base, [&] { return launcher.running() == 2; }));
        c2.reset();
      }
      c1.reset();
      CPPUNIT_ASSERT(run_until(base, [&] { return ended == 2; }));
      CPPUNIT_ASSERT_EQUAL(size_t(0), launcher.running());
    }
  }

  void command_that_cannot_run_ends() {
    event::EventBase base;
    int ended = 0;
    service::Launcher launcher(base, {"/nonexistent/program"}, limits(), "/nonexistent/anvil", "test",
                               [&] { ++ended; });
    Listener l;
    UniqueFd c;
    CPPUNIT_ASSERT(launcher.launch(l.connect(&c)));
    CPPUNIT_ASSERT(run_until(base, [&] { return ended == 1; }));
    CPPUNIT_ASSERT_EQUAL(std::string(""), read_all(c.get()));  // closed, nothing said
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(LauncherTest);
