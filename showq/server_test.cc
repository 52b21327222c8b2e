// showq/server_test.cc - the showq server in a real event loop, with the client calls
// of lib/queue/showq_protocol.h: list, flush passed on to a stand-in qmgr, qmgr down,
// bad requests answered with an error, garbage and second requests dropped.
#include "showq/server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cppunit/extensions/HelperMacros.h>

#include <atomic>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "lib/base/file.h"
#include "lib/event/listener.h"
#include "lib/ipc/channel.h"
#include "lib/ipc/protocols.h"
#include "lib/queue/showq_protocol.h"
#include "lib/testing/temp_dir.h"

using namespace postilion;

namespace {

ipc::Message msg(std::vector<std::pair<std::string, std::string>> attrs) {
  ipc::Message m;
  for (auto& [n, v] : attrs) m.set(n, v);
  return m;
}

// Runs the loop until `client` (run on a thread, blocking calls allowed) returns.
template <class F>
auto with_loop(event::EventBase& base, F client) {
  std::atomic<bool> done{false};
  std::optional<decltype(client())> result;
  std::thread t([&] {
    result.emplace(client());
    done = true;
  });
  event::Timer tick(base, [] {});
  tick.repeat(5);
  int64_t deadline = file::monotonic_ms() + 20000;
  while (!done && file::monotonic_ms() < deadline) base.loop_once();
  t.join();
  return std::move(*result);
}

// Turns the loop until cond() holds (bounded).
template <class F>
bool turn_until(event::EventBase& base, F cond) {
  event::Timer tick(base, [] {});
  tick.repeat(5);
  int64_t deadline = file::monotonic_ms() + 10000;
  while (!cond() && file::monotonic_ms() < deadline) base.loop_once();
  return cond();
}

// A stand-in for qmgr on private/qmgr: records each cmd and answers `status`.
struct FakeQmgr {
  FakeQmgr(event::EventBase& base, const std::string& path, std::string status) : base_(base), status_(std::move(status)) {
    auto fd = ipc::listen_unix(path, 0600);
    CPPUNIT_ASSERT(fd.ok());
    listener = event::Listener(base, std::move(*fd), [this](UniqueFd conn, const sockaddr*, int) {
      auto ch = std::make_unique<ipc::Channel>(base_, std::move(conn));
      ipc::Channel* raw = ch.get();
      raw->on_message([this, raw](ipc::Message&& m) {
        cmds.push_back(m.get_or("cmd", ""));
        raw->send(msg({{"status", status_}}));
      });
      raw->start();
      channels.push_back(std::move(ch));
    });
  }
  event::EventBase& base_;
  std::string status_;
  event::Listener listener;
  std::vector<std::unique_ptr<ipc::Channel>> channels;
  std::vector<std::string> cmds;
};

}  // namespace

class ShowqServerTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(ShowqServerTest);
  CPPUNIT_TEST(server_lists_and_flushes);
  CPPUNIT_TEST(server_flush_without_qmgr);
  CPPUNIT_TEST(server_answers_bad_requests_with_error);
  CPPUNIT_TEST(server_drops_garbage_ignores_second_request);
  CPPUNIT_TEST_SUITE_END();

 public:
  void server_lists_and_flushes() {
    postilion::testing::TempDir tmp;
    event::EventBase base;
    FakeQmgr qmgr(base, tmp.file("qmgr"), "ok");
    std::string listing = "-Queue ID-  --Size--\n" + std::string(2 * ipc::proto::kShowqChunk + 5, 'q') + "\n";
    int listed = 0;
    showq::Server server(base, [&]() -> Result<std::string> { ++listed; return listing; }, tmp.file("qmgr"));
    std::string path = tmp.file("showq");
    auto l1 = listen(base, server, path);
    auto got = with_loop(base, [&] { return queue::showq_list(path, 10000); });
    CPPUNIT_ASSERT_MESSAGE(got ? "" : got.error().str(), got.ok());
    CPPUNIT_ASSERT(listing == *got);
    CPPUNIT_ASSERT_EQUAL(1, listed);
    CPPUNIT_ASSERT(qmgr.cmds.empty());
    auto flushed = with_loop(base, [&] { return queue::showq_flush(path, 10000); });
    CPPUNIT_ASSERT_MESSAGE(flushed ? "" : flushed.error().str(), flushed.ok());
    CPPUNIT_ASSERT(qmgr.cmds == std::vector<std::string>{"flush"});
    CPPUNIT_ASSERT(turn_until(base, [&] { return server.clients() == 0; }));
    // A lister that cannot read the spool is an error for the client, not an empty queue.
    showq::Server closed(base, []() -> Result<std::string> { return Error("active: Permission denied", EACCES); },
                                 tmp.file("qmgr"));
    std::string path2 = tmp.file("showq2");
    auto l2 = listen(base, closed, path2);
    auto denied = with_loop(base, [&] { return queue::showq_list(path2, 10000); });
    CPPUNIT_ASSERT(!denied.ok());
    CPPUNIT_ASSERT(denied.error().str().find("Permission denied") != std::string::npos);
    // qmgr refusing is passed on too.
    FakeQmgr sulky(base, tmp.file("qmgr3"), "error");
    showq::Server third(base, [] { return Result<std::string>(std::string()); }, tmp.file("qmgr3"));
    std::string path3 = tmp.file("showq3");
    auto l3 = listen(base, third, path3);
    auto refused = with_loop(base, [&] { return queue::showq_flush(path3, 10000); });
    CPPUNIT_ASSERT(!refused.ok());
    CPPUNIT_ASSERT_EQUAL(std::string("qmgr refused the flush"), refused.error().str());
    CPPUNIT_ASSERT(turn_until(base, [&] { return third.clients() == 0 && base.pending_deletes() == 0; }));
  }

  void server_flush_without_qmgr() {
    postilion::testing::TempDir tmp;
    event::EventBase base;
    showq::Server server(base, [] { return Result<std::string>(std::string("x")); }, tmp.file("no-qmgr"));
    std::string path = tmp.file("showq");
    auto l = listen(base, server, path);
    auto r = with_loop(base, [&] { return queue::showq_flush(path, 10000); });
    CPPUNIT_ASSERT(!r.ok());
    CPPUNIT_ASSERT(r.error().str().find("cannot reach qmgr") != std::string::npos);
    CPPUNIT_ASSERT(turn_until(base, [&] { return server.clients() == 0; }));
    // Nobody listening at all: a temporary error for the client.
    auto down = queue::showq_list(tmp.file("nothing-here"), 1000);
    CPPUNIT_ASSERT(!down.ok() && down.error().temporary());
  }

  void server_answers_bad_requests_with_error() {
    event::EventBase base;
    int listed = 0;
    showq::Server server(base, [&] { ++listed; return Result<std::string>(std::string("x")); }, "/nonexistent/qmgr");
    const std::vector<std::vector<std::pair<std::string, std::string>>> bad = {
        {{"cmd", "delete"}, {"id", "ALL"}}, {{"cmd", "hold"}}, {{"cmd", "list"}, {"cmd", "list"}}, {}};
    for (const auto& attrs : bad) {
      auto [mine, theirs] = pair();
      server.accept(std::move(mine));
      CPPUNIT_ASSERT(file::write_all(theirs.get(), msg(attrs).encode()).ok());
      auto reply = with_loop(base, [&] { return ipc::read_message(theirs.get(), 5000); });
      CPPUNIT_ASSERT(reply.ok());
      CPPUNIT_ASSERT_EQUAL(std::string("error"), reply->get_or("status", ""));
      CPPUNIT_ASSERT(reply->get_or("text", "").find("bad request") == 0);
      // Then the connection ends.
      CPPUNIT_ASSERT(turn_until(base, [&] { return server.clients() == 0; }));
      CPPUNIT_ASSERT(peer_closed(base, theirs.get()));
    }
    CPPUNIT_ASSERT_EQUAL(0, listed);
  }

  void server_drops_garbage_ignores_second_request() {
    event::EventBase base;
    int listed = 0;
    showq::Server server(base, [&] { ++listed; return Result<std::string>(std::string("x")); }, "/nonexistent/qmgr");
    const std::string garbage[] = {
        std::string("\x7f\xff\xff\xff", 4),                         // a frame far over the limit
        std::string("\0\0\x10\0", 4) + std::string(4096, 'A'),      // over kShowqMaxRequest
        std::string("\0\0\0\x08\0\xc8" "cmd\0\0\0", 12),            // a name longer than the body
        std::string("GET / HTTP/1.0\r\n\r\n"),
    };
    for (const std::string& g : garbage) {
      auto [mine, theirs] = pair();
      server.accept(std::move(mine));
      CPPUNIT_ASSERT(file::write_all(theirs.get(), g).ok());
      size_t got = 1;
      CPPUNIT_ASSERT(peer_closed(base, theirs.get(), &got));
      CPPUNIT_ASSERT_EQUAL(size_t{0}, got);  // no answer at all
      CPPUNIT_ASSERT_EQUAL(size_t{0}, server.clients());
    }
    // Two requests in one go: the first is answered, the second ignored, then the end.
    auto [mine, theirs] = pair();
    server.accept(std::move(mine));
    std::string two = msg({{"cmd", "list"}}).encode() + msg({{"cmd", "flush"}}).encode();
    CPPUNIT_ASSERT(file::write_all(theirs.get(), two).ok());
    size_t got = 0;
    CPPUNIT_ASSERT(peer_closed(base, theirs.get(), &got));
    std::string answer;
    for (const auto& f : queue::showq_listing_reply("x")) answer += f.encode();
    CPPUNIT_ASSERT_EQUAL(answer.size(), got);
    CPPUNIT_ASSERT_EQUAL(size_t{0}, server.clients());
    CPPUNIT_ASSERT_EQUAL(1, listed);
    CPPUNIT_ASSERT(turn_until(base, [&] { return base.pending_deletes() == 0; }));
  }

 private:
  static std::pair<UniqueFd, UniqueFd> pair() {
    int sv[2];
    CPPUNIT_ASSERT(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    return {UniqueFd(sv[0]), UniqueFd(sv[1])};
  }

  // True when the server closes its end (while the loop turns; whatever it sent
  // before is skipped). *got counts the bytes it sent.
  static bool peer_closed(event::EventBase& base, int fd, size_t* got = nullptr) {
    bool eof = false;
    size_t total = 0;
    turn_until(base, [&] {
      char buf[4096];
      for (;;) {
        ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) {
          total += static_cast<size_t>(n);
          continue;
        }
        eof = n == 0;
        return eof;
      }
    });
    if (got) *got = total;
    return eof;
  }

  // The listener lives as long as the test keeps it (it must go before the loop).
  static std::unique_ptr<event::Listener> listen(event::EventBase& base, showq::Server& server,
                                                 const std::string& path) {
    auto fd = ipc::listen_unix(path, 0600);
    CPPUNIT_ASSERT(fd.ok());
    return std::make_unique<event::Listener>(
        base, std::move(*fd), [&server](UniqueFd conn, const sockaddr*, int) { server.accept(std::move(conn)); });
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ShowqServerTest);
