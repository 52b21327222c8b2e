// lib/service/service_test.cc - option parsing, and a Context run in-process over real
// sockets: accepts, status records to the master, max_use and the lifeline.
#include "lib/service/service.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cppunit/extensions/HelperMacros.h>

#include "lib/base/file.h"
#include "lib/event/listener.h"
#include "lib/ipc/message.h"
#include "lib/testing/temp_dir.h"

using namespace postilion;

namespace {

std::optional<service::Options> parse(std::vector<std::string> args, std::string* why) {
  std::vector<char*> argv;
  static std::string prog = "svc";
  argv.push_back(prog.data());
  for (auto& a : args) argv.push_back(a.data());
  auto o = service::parse_options(static_cast<int>(argv.size()), argv.data());
  if (!o) {
    *why = o.error();
    return std::nullopt;
  }
  return std::move(*o);
}

uint16_t port_of(int fd) {
  sockaddr_in sa{};
  socklen_t len = sizeof sa;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  return ntohs(sa.sin_port);
}

UniqueFd connect_to(uint16_t port) {
  UniqueFd c(::socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CPPUNIT_ASSERT_EQUAL(0, ::connect(c.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa));
  return c;
}

}  // namespace

class ServiceTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(ServiceTest);
  CPPUNIT_TEST(options_table);
  CPPUNIT_TEST(argv_round_trip);
  CPPUNIT_TEST(context_serves_until_max_use);
  CPPUNIT_TEST(lifeline_eof_stops);
  CPPUNIT_TEST(pass_service_takes_handed_clients);
  CPPUNIT_TEST(ignore_max_use_keeps_accepting);
  CPPUNIT_TEST_SUITE_END();

 public:
  void options_table() {
    struct Row {
      std::vector<std::string> args;
      bool ok;
      const char* why_has;
    } rows[] = {
        {{"-c", "/etc/p", "-n", "smtpd", "-t", "inet", "-s", "2"}, true, ""},
        {{"-c", "/e", "-n", "q", "-t", "unix", "-s", "1", "-w", "60", "-u", "-j", "-l", "-v",
          "-o", "max_use=3", "extra", "-x"}, true, ""},
        {{"-c", "/e", "-n", "smtpd", "-t", "pass", "-s", "1"}, true, ""},
        {{"-t", "udp"}, false, "inet, unix or pass"},
        {{"-s", "many"}, false, "not a number"},
        {{"-s", "-1"}, false, "not a number"},
        {{"-s", "9999"}, false, "too many"},
        {{"-o", "novalue"}, false, "name=value"},
        {{"-o", "=x"}, false, "name=value"},
        {{"-c"}, false, "needs a value"},
        {{"-z"}, false, "unknown option"},
    };
    for (auto& r : rows) {
      std::string why;
      auto o = parse(r.args, &why);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.args[0], r.ok, o.has_value());
      if (!r.ok) CPPUNIT_ASSERT_MESSAGE(why, why.find(r.why_has) != std::string::npos);
    }
    std::string why;
    CPPUNIT_ASSERT_EQUAL(std::string("pass"), parse(rows[2].args, &why)->type);
    auto o = parse(rows[1].args, &why);
    CPPUNIT_ASSERT_EQUAL(std::string("q"), o->name);
    CPPUNIT_ASSERT_EQUAL(60, o->wakeup);
    CPPUNIT_ASSERT(o->unprivileged && o->chroot && o->long_running && o->verbose);
    CPPUNIT_ASSERT_EQUAL(size_t(1), o->overrides.size());
    CPPUNIT_ASSERT_EQUAL(std::string("max_use"), o->overrides[0].first);
    CPPUNIT_ASSERT((std::vector<std::string>{"extra", "-x"}) == o->args);
  }

  void argv_round_trip() {
    service::Options o;
    o.config_dir = "/etc/postilion";
    o.name = "127.0.0.1:2525";
    o.type = "inet";
    o.listen_fds = 1;
    o.wakeup = 5;
    o.unprivileged = true;
    o.overrides = {{"smtpd_tls_wrappermode", "yes"}};
    o.args = {"extra", "-x"};  // after the first non-option, everything is an argument
    std::string why;
    auto back = parse(service::make_argv(o), &why);
    CPPUNIT_ASSERT_MESSAGE(why, back.has_value());
    CPPUNIT_ASSERT(service::make_argv(*back) == service::make_argv(o));
  }

  void context_serves_until_max_use() {
    service::Spec spec{.name = "echo", .kind = service::Kind::Stream};
    spec.max_clients = 1;
    int accepted = 0;
    spec.on_accept = [&](service::Context& ctx, UniqueFd fd) {
      ++accepted;
      CPPUNIT_ASSERT(file::write_all(fd.get(), "hi\n").ok());
      ctx.session_end();
    };
    auto cfg = config::Config::parse("max_use = 2\nmax_idle = 100s\n");
    service::Options o;
    o.name = "echo";
    o.listen_fds = 1;
    service::Context ctx(spec, o, cfg);
    auto lfd = event::listen_inet("127.0.0.1", 0);
    CPPUNIT_ASSERT(lfd.ok());
    uint16_t port = port_of(lfd->get());
    int status[2];
    CPPUNIT_ASSERT_EQUAL(0, ::pipe(status));
    UniqueFd status_r(status[0]), status_w(status[1]);
    std::vector<UniqueFd> fds;
    fds.push_back(std::move(*lfd));
    ctx.start(std::move(fds), status_w.get(), -1);
    auto c1 = connect_to(port);
    auto c2 = connect_to(port);
    // max_clients 1: the second client is taken only after the first session ended.
    event::Timer watchdog(ctx.loop(), [&] { ctx.loop().loopbreak(); });
    watchdog.start(3000);
    ctx.loop().loop();  // ends by itself after max_use clients
    CPPUNIT_ASSERT(watchdog.pending());
    CPPUNIT_ASSERT_EQUAL(2, accepted);
    CPPUNIT_ASSERT_EQUAL(0, ctx.sessions());
    CPPUNIT_ASSERT(ctx.stopping());
    // busy (first client), available, busy (used up): 3 records of {pid, state}
    status_w.reset();
    auto rec = file::read_all(status_r.get(), 1000);
    CPPUNIT_ASSERT(rec.ok());
    CPPUNIT_ASSERT_EQUAL(size_t(24), rec->size());
    int32_t r[6];
    std::memcpy(r, rec->data(), sizeof r);
    CPPUNIT_ASSERT_EQUAL(int32_t(::getpid()), r[0]);
    CPPUNIT_ASSERT_EQUAL(service::kStateBusy, r[1]);
    CPPUNIT_ASSERT_EQUAL(service::kStateAvailable, r[3]);
    CPPUNIT_ASSERT_EQUAL(service::kStateBusy, r[5]);
  }

  void lifeline_eof_stops() {
    service::Spec spec{.name = "q", .kind = service::Kind::Stream};
    service::Options o;
    o.name = "q";
    service::Context ctx(spec, o, config::Config::parse(""));
    int life[2];
    CPPUNIT_ASSERT_EQUAL(0, ::pipe(life));
    UniqueFd life_r(life[0]), life_w(life[1]);
    // The context reads the lifeline at its fixed number.
    UniqueFd saved(::dup(service::kLifelineFd));
    CPPUNIT_ASSERT(::dup2(life_r.get(), service::kLifelineFd) >= 0);
    ctx.start({}, -1, service::kLifelineFd);
    event::Timer closer(ctx.loop(), [&] { life_w.reset(); });
    closer.start(10);
    event::Timer watchdog(ctx.loop(), [&] { ctx.loop().loopbreak(); });
    watchdog.start(3000);
    ctx.loop().loop();
    CPPUNIT_ASSERT(watchdog.pending());
    CPPUNIT_ASSERT(ctx.stopping());
    if (saved) ::dup2(saved.get(), service::kLifelineFd); else ::close(service::kLifelineFd);
  }

  void ignore_max_use_keeps_accepting() {
    service::Spec spec{.name = "postscreen", .kind = service::Kind::Stream};
    spec.ignore_max_use = true;
    int accepted = 0;
    spec.on_accept = [&](service::Context& ctx, UniqueFd) {
      ++accepted;
      ctx.session_end();
    };
    service::Options o;
    o.name = "postscreen";
    o.listen_fds = 1;
    service::Context ctx(spec, o, config::Config::parse("max_use = 1\nmax_idle = 100s\n"));
    auto lfd = event::listen_inet("127.0.0.1", 0);
    CPPUNIT_ASSERT(lfd.ok());
    uint16_t port = port_of(lfd->get());
    std::vector<UniqueFd> fds;
    fds.push_back(std::move(*lfd));
    ctx.start(std::move(fds), -1, -1);
    auto c1 = connect_to(port), c2 = connect_to(port), c3 = connect_to(port);
    event::Timer done(ctx.loop(), [&] { ctx.loop().loopbreak(); });
    done.start(300);
    ctx.loop().loop();
    CPPUNIT_ASSERT_EQUAL(3, accepted);
    CPPUNIT_ASSERT(!ctx.stopping());
  }

  // -t pass: each connection brings a client descriptor; on_accept gets that client (the
  // same socket: its peer is the original one), and a connection that brings none, or
  // garbage, gives on_accept nothing.
  void pass_service_takes_handed_clients() {
    service::Spec spec{.name = "smtpd", .kind = service::Kind::Stream};
    std::vector<UniqueFd> got;
    spec.on_accept = [&](service::Context& ctx, UniqueFd fd) {
      got.push_back(std::move(fd));
      ctx.session_end();
    };
    service::Options o;
    o.name = "smtpd";
    o.type = "pass";
    o.listen_fds = 1;
    service::Context ctx(spec, o, config::Config::parse("max_idle = 100s\n"));
    testing::TempDir dir;
    std::string path = dir.path() + "/smtpd";
    auto lfd = ipc::listen_unix(path, 0600, 16);
    CPPUNIT_ASSERT(lfd.ok());
    std::vector<UniqueFd> fds;
    fds.push_back(std::move(*lfd));
    ctx.start(std::move(fds), -1, -1);
    // The "client": one end of a socket pair; the other end stays here.
    int pair[2];
    CPPUNIT_ASSERT_EQUAL(0, ::socketpair(AF_UNIX, SOCK_STREAM, 0, pair));
    UniqueFd mine(pair[0]), theirs(pair[1]);
    auto conn = ipc::connect_unix(path, 1000);
    CPPUNIT_ASSERT(conn.ok());
    CPPUNIT_ASSERT(ipc::send_fd(conn->get(), theirs.get()).ok());
    conn->reset();
    theirs.reset();  // in flight, the descriptor stays open
    auto bad = ipc::connect_unix(path, 1000);  // garbage: no descriptor
    CPPUNIT_ASSERT(bad.ok());
    CPPUNIT_ASSERT(file::write_all(bad->get(), "x").ok());
    auto empty = ipc::connect_unix(path, 1000);  // closes at once
    CPPUNIT_ASSERT(empty.ok());
    empty->reset();
    event::Timer done(ctx.loop(), [&] { ctx.loop().loopbreak(); });
    done.start(300);
    ctx.loop().loop();
    CPPUNIT_ASSERT_EQUAL(size_t(1), got.size());
    CPPUNIT_ASSERT(file::write_all(got[0].get(), "hello").ok());
    char buf[8] = {};
    CPPUNIT_ASSERT_EQUAL(ssize_t(5), ::read(mine.get(), buf, sizeof buf));
    CPPUNIT_ASSERT_EQUAL(std::string("hello"), std::string(buf, 5));
    CPPUNIT_ASSERT_EQUAL(0, ctx.sessions());
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ServiceTest);
