// auth/auth_test.cc - throttling arithmetic, virtual user entries, and whole requests
// through Server::handle against an inline virtual-user map.
#include <cppunit/extensions/HelperMacros.h>

#include "auth/backend.h"
#include "auth/server.h"
#include "auth/throttle.h"
#include <sys/socket.h>
#include <unistd.h>

#include "auth/verifier.h"
#include "lib/base/file.h"
#include "lib/ipc/message.h"
#include "lib/password/password.h"

using namespace postilion;
using namespace postilion::auth;

class AuthTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(AuthTest);
  CPPUNIT_TEST(throttle_grows_and_refuses);
  CPPUNIT_TEST(throttle_window_and_success);
  CPPUNIT_TEST(throttle_memory_bound);
  CPPUNIT_TEST(virtual_entries);
  CPPUNIT_TEST(user_names);
  CPPUNIT_TEST(requests);
  CPPUNIT_TEST(system_backend);
  CPPUNIT_TEST(verifier_threads);
  CPPUNIT_TEST(async_requests);
  CPPUNIT_TEST_SUITE_END();

 public:
  void throttle_grows_and_refuses() {
    Throttle t({.window_ms = 1000, .limit = 3, .base_delay_ms = 100, .max_delay_ms = 250});
    CPPUNIT_ASSERT(!t.refused("1.2.3.4", "bob", 0));
    CPPUNIT_ASSERT_EQUAL(int64_t(100), t.failed("1.2.3.4", "bob", 0));
    CPPUNIT_ASSERT_EQUAL(int64_t(200), t.failed("1.2.3.4", "bob", 10));
    CPPUNIT_ASSERT(!t.refused("1.2.3.4", "bob", 20));
    CPPUNIT_ASSERT_EQUAL(int64_t(250), t.failed("1.2.3.4", "bob", 20));  // capped
    CPPUNIT_ASSERT(t.refused("1.2.3.4", "bob", 30));
    CPPUNIT_ASSERT(t.refused("1.2.3.4", "alice", 30));  // by client IP
    CPPUNIT_ASSERT(t.refused("5.6.7.8", "bob", 30));    // by user
    CPPUNIT_ASSERT(!t.refused("5.6.7.8", "carol", 30));
    // Refused attempts keep the block alive: 900 ms later it still holds...
    CPPUNIT_ASSERT(t.refused("1.2.3.4", "x", 900));
    // ...and it ends a whole window after the last attempt.
    CPPUNIT_ASSERT(!t.refused("1.2.3.4", "x", 1900));
  }

  void throttle_window_and_success() {
    Throttle t({.window_ms = 1000, .limit = 2, .base_delay_ms = 10, .max_delay_ms = 100});
    t.failed("ip", "u", 0);
    // A success resets the user's count but not the client's.
    t.succeeded("u");
    CPPUNIT_ASSERT_EQUAL(int64_t(1), t.failures_of_ip("ip", 1));
    t.failed("ip", "v", 5);
    CPPUNIT_ASSERT(t.refused("ip", "u", 6));
    // After a quiet window the count starts again.
    CPPUNIT_ASSERT(!t.refused("ip", "w", 2000));
    CPPUNIT_ASSERT_EQUAL(int64_t(10), t.failed("ip", "w", 2001));
    t.prune(5000);
    CPPUNIT_ASSERT_EQUAL(size_t(0), t.size());
  }

  void throttle_memory_bound() {
    Throttle t({.window_ms = 100000, .limit = 5, .base_delay_ms = 1, .max_delay_ms = 1, .max_entries = 50});
    for (int i = 0; i < 1000; ++i) t.failed("10.0.0." + std::to_string(i), "u" + std::to_string(i), i);
    CPPUNIT_ASSERT(t.size() <= 100);
  }

  void virtual_entries() {
    struct Row { const char* value; bool ok; unsigned uid, gid; const char* maildir; } rows[] = {
        {"$y$j9T$abc$def:5000:5000:/var/mail/a/Maildir/", true, 5000, 5000, "/var/mail/a/Maildir/"},
        {"$6$s$h:1:2:/m", true, 1, 2, "/m/"},
        {"$6$s$h:1:2:/with:colon/", true, 1, 2, "/with:colon/"},
        {"$6$s$h:1:2:relative/", false, 0, 0, ""},
        {"$6$s$h:1:2:/a/../etc/", false, 0, 0, ""},
        {"$6$s$h:1:2:/a/..", false, 0, 0, ""},
        {"$6$s$h:x:2:/m/", false, 0, 0, ""},
        {"$6$s$h:1:-2:/m/", false, 0, 0, ""},
        {"$6$s$h:1:2:", false, 0, 0, ""},
        {"$6$s$h:1:2", false, 0, 0, ""},
        {"$6$s$h", false, 0, 0, ""},
        {"", false, 0, 0, ""},
        {"h:99999999999:1:/m/", false, 0, 0, ""},
    };
    for (auto& r : rows) {
      auto a = parse_virtual_entry("u", r.value);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.value, r.ok, a.has_value());
      if (!a) continue;
      CPPUNIT_ASSERT_EQUAL(r.uid, unsigned(a->uid));
      CPPUNIT_ASSERT_EQUAL(r.gid, unsigned(a->gid));
      CPPUNIT_ASSERT_EQUAL(std::string(r.maildir), a->maildir);
    }
  }

  void user_names() {
    CPPUNIT_ASSERT(valid_user_name("alice"));
    CPPUNIT_ASSERT(valid_user_name("alice@example.org"));
    CPPUNIT_ASSERT(valid_user_name("j\xc3\xb6rg"));
    const std::string bad[] = {"", "-rf", "a b", "a:b", "a/b", std::string("a\0b", 3), "a\nb",
                               std::string(256, 'a')};
    for (const auto& b : bad) CPPUNIT_ASSERT_MESSAGE(b, !valid_user_name(b));
  }

  ipc::Message auth_req(const std::string& user, const std::string& pw, const std::string& ip) {
    ipc::Message m;
    m.set("cmd", "auth").set("service", "pop3d").set("user", user).set("password", pw).set("client", ip);
    return m;
  }

  void requests() {
    auto h = password::hash_password("sekrit", "$6$");
    CPPUNIT_ASSERT(h.ok());
    Settings s;
    s.backends = {"virtual"};
    s.virtual_users = "inline:{alice@example.test=" + *h + ":5000:5001:/srv/mail/alice/, broken=nonsense}";
    s.failure_delay_ms = 100;
    s.failure_max_delay_ms = 1000;
    s.failure_limit = 3;
    s.failure_window_ms = 10000;
    auto b = Backends::open(s);
    CPPUNIT_ASSERT_MESSAGE(b.ok() ? "" : b.error().str(), b.ok());
    event::EventBase base;
    Server server(base, s, std::move(*b));

    auto ok = server.handle(auth_req("alice@example.test", "sekrit", "127.0.0.9"), 0);
    CPPUNIT_ASSERT_EQUAL(std::string("ok"), std::string(*ok.reply.get("status")));
    CPPUNIT_ASSERT_EQUAL(int64_t(5000), *ok.reply.get_int("uid"));
    CPPUNIT_ASSERT_EQUAL(int64_t(5001), *ok.reply.get_int("gid"));
    CPPUNIT_ASSERT_EQUAL(std::string("/srv/mail/alice/"), std::string(*ok.reply.get("maildir")));
    CPPUNIT_ASSERT(!ok.reply.has("password") && !ok.reply.has("hash"));
    CPPUNIT_ASSERT_EQUAL(int64_t(0), ok.delay_ms);
    // Keys are case-insensitive in maps.
    CPPUNIT_ASSERT_EQUAL(std::string("ok"), server.handle(auth_req("Alice@Example.test", "sekrit", "127.0.0.9"), 0)
                                                 .reply.get_or("status", ""));

    struct Row { ipc::Message req; const char* status; bool delayed; } rows[] = {
        {auth_req("alice@example.test", "wrong", "10.0.0.1"), "fail", true},
        {auth_req("nobody@example.test", "x", "10.0.0.2"), "fail", true},
        {auth_req("broken", "x", "10.0.0.3"), "tempfail", false},
        {auth_req("a b", "x", "10.0.0.4"), "fail", true},
        {ipc::Message().set("cmd", "auth").set("user", "alice@example.test"), "fail", false},
        {ipc::Message().set("cmd", "auth").set("service", "ftpd").set("user", "u").set("password", "p"), "fail", false},
        {ipc::Message().set("cmd", "frobnicate").set("user", "u"), "fail", false},
        {ipc::Message().set("user", "u"), "fail", false},
        {ipc::Message(), "fail", false},
        {ipc::Message().set("cmd", "lookup").set("user", "alice@example.test"), "ok", false},
        {ipc::Message().set("cmd", "lookup").set("user", "nobody"), "fail", false},
    };
    for (auto& r : rows) {
      auto a = server.handle(r.req, 100);
      CPPUNIT_ASSERT_EQUAL(std::string(r.status), a.reply.get_or("status", ""));
      CPPUNIT_ASSERT_EQUAL(r.delayed, a.delay_ms > 0);
    }
    // Brute force from one client: delays grow, then even a right password from it is refused.
    int64_t last = 0;
    for (int i = 0; i < 3; ++i) {
      auto a = server.handle(auth_req("carol@example.test", "guess" + std::to_string(i), "192.0.2.1"), 200 + i);
      CPPUNIT_ASSERT_EQUAL(std::string("fail"), a.reply.get_or("status", ""));
      CPPUNIT_ASSERT(a.delay_ms > last);
      last = a.delay_ms;
    }
    auto refused = server.handle(auth_req("alice@example.test", "sekrit", "192.0.2.1"), 300);
    CPPUNIT_ASSERT_EQUAL(std::string("tempfail"), refused.reply.get_or("status", ""));
    CPPUNIT_ASSERT(!refused.reply.has("uid"));
    // The window passes: the right password works again.
    auto later = server.handle(auth_req("alice@example.test", "sekrit", "192.0.2.1"), 20000);
    CPPUNIT_ASSERT_EQUAL(std::string("ok"), later.reply.get_or("status", ""));
  }

  // Many checks at once on worker threads: every verdict reaches its own callback.
  void verifier_threads() {
    auto h = password::hash_password("pw", "$6$");
    CPPUNIT_ASSERT(h.ok());
    event::EventBase base;
    Verifier v(base, 3);
    std::map<int, bool> got;
    for (int i = 0; i < 40; ++i)
      v.verify(i % 3 == 0 ? "pw" : "nope" + std::to_string(i), *h, [&got, i](bool ok) { got[i] = ok; });
    int64_t deadline = file::monotonic_ms() + 20000;
    while (got.size() < 40 && file::monotonic_ms() < deadline) base.loop_once(false);
    CPPUNIT_ASSERT_EQUAL(size_t(40), got.size());
    for (auto [i, ok] : got) CPPUNIT_ASSERT_EQUAL_MESSAGE(std::to_string(i), i % 3 == 0, ok);
    CPPUNIT_ASSERT_EQUAL(size_t(0), v.pending());
  }

  // The event-loop path: a request over a socket, checked on a worker, answered after
  // the failure delay; a second request on the same connection before the answer ends it.
  void async_requests() {
    auto h = password::hash_password("sekrit", "$6$");
    Settings s;
    s.backends = {"virtual"};
    s.virtual_users = "inline:{bob=" + *h + ":7:8:/m/bob/}";
    s.failure_delay_ms = 300;
    s.verify_threads = 2;
    event::EventBase base;
    auto backends = Backends::open(s);
    CPPUNIT_ASSERT(backends.ok());
    Server server(base, s, std::move(*backends));
    auto roundtrip = [&](const ipc::Message& req, int64_t* ms) -> ipc::Message {
      int sv[2];
      CPPUNIT_ASSERT(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
      UniqueFd mine(sv[0]);
      server.accept(UniqueFd(sv[1]));
      CPPUNIT_ASSERT(ipc::write_message(mine.get(), req, 1000).ok());
      int64_t start = file::monotonic_ms(), deadline = start + 10000;
      char c;
      while (::recv(mine.get(), &c, 1, MSG_PEEK | MSG_DONTWAIT) <= 0 && file::monotonic_ms() < deadline)
        base.loop_once(true), ::usleep(1000);
      *ms = file::monotonic_ms() - start;
      auto r = ipc::read_message(mine.get(), 1000);
      CPPUNIT_ASSERT(r.ok());
      return *r;
    };
    int64_t ms = 0;
    auto ok = roundtrip(auth_req("bob", "sekrit", "10.1.1.1"), &ms);
    CPPUNIT_ASSERT_EQUAL(std::string("ok"), ok.get_or("status", ""));
    CPPUNIT_ASSERT_EQUAL(int64_t(7), *ok.get_int("uid"));
    CPPUNIT_ASSERT(ms < 300);
    auto bad = roundtrip(auth_req("bob", "wrong", "10.1.1.1"), &ms);
    CPPUNIT_ASSERT_EQUAL(std::string("fail"), bad.get_or("status", ""));
    CPPUNIT_ASSERT(ms >= 290);
  }

  // root exists everywhere: refused below auth_system_min_uid, found with it lowered.
  void system_backend() {
    Settings s;
    s.backends = {"system"};
    auto b = Backends::open(s);
    CPPUNIT_ASSERT(b.ok());
    auto r = (*b)->lookup("root");
    CPPUNIT_ASSERT(r.ok() && !r->has_value());
    auto none = (*b)->lookup("no-such-user-postilion");
    CPPUNIT_ASSERT(none.ok() && !none->has_value());
    s.system_min_uid = 0;
    auto b0 = Backends::open(s);
    auto root = (*b0)->lookup("root");
    CPPUNIT_ASSERT(root.ok() && root->has_value());
    CPPUNIT_ASSERT_EQUAL(0u, unsigned((*root)->uid));
    CPPUNIT_ASSERT_EQUAL(std::string("system"), (*root)->backend);
    CPPUNIT_ASSERT_EQUAL((*root)->home + ((*root)->home.back() == '/' ? "" : "/") + "Maildir/", (*root)->maildir);
    // Without permission to read shadow the hash is unusable, never empty.
    CPPUNIT_ASSERT(!(*root)->hash.empty());
    CPPUNIT_ASSERT(!password::verify_password("", (*root)->hash));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(AuthTest);
