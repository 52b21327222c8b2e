// lib/ipc/channel_test.cc - messages over a Channel in a real event loop; garbage and
// oversized frames end the channel with a reason.
#include "lib/ipc/channel.h"

#include <cppunit/extensions/HelperMacros.h>
#include <sys/socket.h>

#include "lib/base/file.h"

using namespace postilion;

class ChannelTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(ChannelTest);
  CPPUNIT_TEST(request_reply);
  CPPUNIT_TEST(garbage_closes_with_reason);
  CPPUNIT_TEST(oversized_frame_closes);
  CPPUNIT_TEST(peer_close_reported_after_last_message);
  CPPUNIT_TEST_SUITE_END();

  static std::pair<UniqueFd, UniqueFd> pair() {
    int sv[2];
    CPPUNIT_ASSERT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    return {UniqueFd(sv[0]), UniqueFd(sv[1])};
  }

 public:
  void request_reply() {
    event::EventBase base;
    auto [a, b] = pair();
    ipc::Channel server(base, std::move(a));
    ipc::Channel client(base, std::move(b));
    std::string got;
    server.on_message([&](ipc::Message&& m) {
      server.send(ipc::Message().set("status", "ok").set("echo", m.get_or("cmd", "?")));
    });
    client.on_message([&](ipc::Message&& m) {
      got = m.get_or("echo", "");
      base.loopbreak();
    });
    server.start();
    client.start();
    client.send(ipc::Message().set("cmd", "wakeup"));
    event::Timer guard(base, [&] { base.loopbreak(); });
    guard.start(5000);
    base.loop();
    CPPUNIT_ASSERT_EQUAL(std::string("wakeup"), got);
  }

  void garbage_closes_with_reason() {
    event::EventBase base;
    auto [a, b] = pair();
    ipc::Channel server(base, std::move(a));
    std::string reason;
    int messages = 0;
    server.on_message([&](ipc::Message&&) { ++messages; });
    server.on_close([&](const std::string& r) {
      reason = r;
      base.loopbreak();
    });
    server.start();
    std::string wire = ipc::Message().set("cmd", "ok").encode() + std::string("\0\0\0\2\0\0", 6);
    CPPUNIT_ASSERT(file::write_all(b.get(), wire));
    event::Timer guard(base, [&] { base.loopbreak(); });
    guard.start(5000);
    base.loop();
    CPPUNIT_ASSERT_EQUAL(1, messages);
    CPPUNIT_ASSERT(reason.find("malformed") != std::string::npos);
    CPPUNIT_ASSERT(server.closed());
  }

  void oversized_frame_closes() {
    event::EventBase base;
    auto [a, b] = pair();
    ipc::Channel server(base, std::move(a), 64);
    std::string reason;
    server.on_close([&](const std::string& r) {
      reason = r;
      base.loopbreak();
    });
    server.start();
    CPPUNIT_ASSERT(file::write_all(b.get(), ipc::Message().set("x", std::string(100, 'y')).encode()));
    event::Timer guard(base, [&] { base.loopbreak(); });
    guard.start(5000);
    base.loop();
    CPPUNIT_ASSERT(reason.find("exceeds limit") != std::string::npos);
  }

  void peer_close_reported_after_last_message() {
    event::EventBase base;
    auto [a, b] = pair();
    ipc::Channel server(base, std::move(a));
    std::vector<std::string> events;
    server.on_message([&](ipc::Message&& m) { events.push_back(m.get_or("cmd", "")); });
    server.on_close([&](const std::string& r) {
      events.push_back(r);
      base.loopbreak();
    });
    server.start();
    CPPUNIT_ASSERT(file::write_all(b.get(), ipc::Message().set("cmd", "last").encode()));
    b.reset();
    event::Timer guard(base, [&] { base.loopbreak(); });
    guard.start(5000);
    base.loop();
    CPPUNIT_ASSERT_EQUAL(size_t(2), events.size());
    CPPUNIT_ASSERT_EQUAL(std::string("last"), events[0]);
    CPPUNIT_ASSERT_EQUAL(std::string("closed"), events[1]);
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ChannelTest);
