// lib/ipc/socket_test.cc - blocking call over a real Unix socket, timeouts, fd passing.
#include <cppunit/extensions/HelperMacros.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/base/file.h"
#include "lib/ipc/message.h"
#include "lib/testing/temp_dir.h"

using namespace postilion;

class SocketTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(SocketTest);
  CPPUNIT_TEST(call_round_trip);
  CPPUNIT_TEST(call_times_out_on_silent_server);
  CPPUNIT_TEST(call_to_missing_socket_fails);
  CPPUNIT_TEST(garbage_reply_is_an_error);
  CPPUNIT_TEST(pass_descriptor);
  CPPUNIT_TEST_SUITE_END();

  // Forks a server that answers one connection with `reply` bytes (raw).
  pid_t serve_once(int listen_fd, const std::string& reply, bool echo_cmd) {
    pid_t pid = fork();
    if (pid == 0) {
      int c = accept(listen_fd, nullptr, nullptr);
      auto req = ipc::read_message(c, 2000);
      std::string out = reply;
      if (echo_cmd && req) out = ipc::Message().set("status", "ok").set("echo", std::string(*req->get("cmd"))).encode();
      (void)file::write_all(c, out);
      sleep(echo_cmd ? 0 : 2);
      _exit(0);
    }
    return pid;
  }

 public:
  void call_round_trip() {
    testing::TempDir dir;
    auto l = ipc::listen_unix(dir.file("s"), 0600);
    CPPUNIT_ASSERT(l);
    pid_t pid = serve_once(l->get(), "", true);
    auto r = ipc::call(dir.file("s"), ipc::Message().set("cmd", "status"), 3000);
    CPPUNIT_ASSERT_MESSAGE(r ? "" : r.error().str(), r.ok());
    CPPUNIT_ASSERT_EQUAL(std::string("status"), std::string(*r->get("echo")));
    waitpid(pid, nullptr, 0);
  }

  void call_times_out_on_silent_server() {
    testing::TempDir dir;
    auto l = ipc::listen_unix(dir.file("s"), 0600);
    CPPUNIT_ASSERT(l);
    // Nobody accepts: connect succeeds (backlog), the reply never comes.
    int64_t t0 = file::monotonic_ms();
    auto r = ipc::call(dir.file("s"), ipc::Message().set("cmd", "status"), 200);
    CPPUNIT_ASSERT(!r);
    CPPUNIT_ASSERT_EQUAL(ETIMEDOUT, r.error().code());
    CPPUNIT_ASSERT(file::monotonic_ms() - t0 < 2000);
  }

  void call_to_missing_socket_fails() {
    auto r = ipc::call("/nonexistent/sock", ipc::Message().set("cmd", "x"), 200);
    CPPUNIT_ASSERT(!r);
    CPPUNIT_ASSERT(r.error().str().find("/nonexistent/sock") != std::string::npos);
  }

  void garbage_reply_is_an_error() {
    testing::TempDir dir;
    auto l = ipc::listen_unix(dir.file("s"), 0600);
    pid_t pid = serve_once(l->get(), std::string("\x00\x00\x00\x03\x00\x09x", 7), false);
    auto r = ipc::call(dir.file("s"), ipc::Message().set("cmd", "status"), 3000);
    CPPUNIT_ASSERT(!r);
    CPPUNIT_ASSERT(r.error().str().find("malformed") != std::string::npos);
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }

  void pass_descriptor() {
    testing::TempDir dir;
    int sv[2];
    CPPUNIT_ASSERT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    UniqueFd a(sv[0]), b(sv[1]);
    CPPUNIT_ASSERT(file::write_file_atomic(dir.file("f"), "passed", 0600));
    auto f = file::open(dir.file("f"), O_RDONLY);
    CPPUNIT_ASSERT(ipc::send_fd(a.get(), f->get()));
    auto got = ipc::recv_fd(b.get(), 1000);
    CPPUNIT_ASSERT(got);
    CPPUNIT_ASSERT_EQUAL(std::string("passed"), *file::read_all(got->get()));
    // A plain byte without a descriptor is an error, not a crash.
    CPPUNIT_ASSERT(file::write_all(a.get(), "x"));
    auto none = ipc::recv_fd(b.get(), 1000);
    CPPUNIT_ASSERT(!none);
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(SocketTest);
