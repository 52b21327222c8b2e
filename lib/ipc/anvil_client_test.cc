// lib/ipc/anvil_client_test.cc - the servers' side of anvil(8): verdicts and warnings
// (table-driven), this process's own counts while anvil is absent or answers garbage,
// and counts from a real anvil table behind private/anvil, including sessions that end
// before anvil answered.
#include "lib/ipc/anvil_client.h"

#include <cppunit/extensions/HelperMacros.h>

#include <map>
#include <memory>
#include <vector>

#include "lib/base/file.h"
#include "lib/event/listener.h"
#include "lib/ipc/channel.h"
#include "lib/testing/temp_dir.h"

using namespace postilion;
using namespace postilion::ipc;

namespace {

// A stand-in for anvil(8) on a Unix socket: the real table and decoders, or garbage.
struct FakeAnvil {
  FakeAnvil(event::EventBase& base, const std::string& path, bool garbage) : table(60000), garbage(garbage) {
    auto fd = listen_unix(path, 0600);
    CPPUNIT_ASSERT(fd.ok());
    listener = event::Listener(base, std::move(*fd), [this, &base](UniqueFd c, const sockaddr*, int) {
      auto ch = std::make_unique<Channel>(base, std::move(c));
      Channel* raw = ch.get();
      raw->on_message([this, raw](Message&& m) {
        auto r = parse_anvil_request(m);
        CPPUNIT_ASSERT_MESSAGE(r ? "" : r.error(), r.ok());
        if (r->event) {
          int rate = table.event(*r->event, r->key, 0);
          if (this->garbage) raw->send(Message().set("status", "ok").set("rate", "many"));
          else raw->send(anvil_event_reply(rate));
          return;
        }
        if (!r->connect) {
          ++disconnects;
          table.disconnect(1, r->key);
          return;
        }
        auto counts = table.connect(1, r->key, 0);
        if (this->garbage) raw->send(Message().set("status", "ok").set("count", "many"));
        else raw->send(anvil_reply(counts));
      });
      raw->start();
      channels.push_back(std::move(ch));
    });
  }
  AnvilTable table;
  bool garbage;
  int disconnects = 0;
  event::Listener listener;
  std::vector<std::unique_ptr<Channel>> channels;
};

// Runs the loop until pred() holds (at most 5 s).
template <class Pred>
bool run_until(event::EventBase& base, Pred pred) {
  event::Timer guard(base, [] {});
  guard.start(5000);
  int64_t end = file::monotonic_ms() + 5000;
  while (!pred() && file::monotonic_ms() < end) base.loop_once();
  return pred();
}

}  // namespace

class AnvilClientTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(AnvilClientTest);
  CPPUNIT_TEST(verdicts);
  CPPUNIT_TEST(warnings);
  CPPUNIT_TEST(without_anvil);
  CPPUNIT_TEST(with_anvil);
  CPPUNIT_TEST(garbage_reply);
  CPPUNIT_TEST(event_warnings);
  CPPUNIT_TEST(events_with_anvil);
  CPPUNIT_TEST(events_without_anvil);
  CPPUNIT_TEST_SUITE_END();

  struct Seen {
    std::vector<AnvilClient::Decision> decisions;
    std::vector<AnvilClient::Ticket> tickets;
  };
  static AnvilClient::DecisionCallback record(Seen& s) {
    return [&s](AnvilClient::Ticket t, const AnvilClient::Decision& d) {
      s.tickets.push_back(t);
      s.decisions.push_back(d);
    };
  }

 public:
  void verdicts() {
    struct Row {
      int count_limit, rate_limit, count, rate;
      AnvilVerdict want;
    } rows[] = {
        {0, 0, 1000, 1000, AnvilVerdict::Admit},        // no limits
        {2, 0, 2, 99, AnvilVerdict::Admit},             // at the limit is allowed
        {2, 0, 3, 1, AnvilVerdict::CountExceeded},
        {0, 5, 99, 5, AnvilVerdict::Admit},
        {0, 5, 1, 6, AnvilVerdict::RateExceeded},
        {2, 5, 3, 6, AnvilVerdict::CountExceeded},      // the count is checked first
        {2, 5, 2, 6, AnvilVerdict::RateExceeded},
        {-1, -1, 50, 50, AnvilVerdict::Admit},          // negative: no limit
    };
    for (const auto& r : rows) {
      AnvilLimits l{r.count_limit, r.rate_limit, 60000};
      CPPUNIT_ASSERT_EQUAL_MESSAGE(std::to_string(r.count) + "/" + std::to_string(r.rate), static_cast<int>(r.want),
                                   static_cast<int>(anvil_verdict(l, r.count, r.rate)));
    }
  }

  void warnings() {
    CPPUNIT_ASSERT_EQUAL(std::string("Connection concurrency limit exceeded: 11 from unknown[192.0.2.7] for service pop3"),
                         anvil_warning(AnvilVerdict::CountExceeded, 11, 3, "unknown[192.0.2.7]", "pop3"));
    CPPUNIT_ASSERT_EQUAL(std::string("Connection rate limit exceeded: 4 from mx.example[2001:db8::1] for service smtp"),
                         anvil_warning(AnvilVerdict::RateExceeded, 1, 4, "mx.example[2001:db8::1]", "smtp"));
    CPPUNIT_ASSERT_EQUAL(std::string(), anvil_warning(AnvilVerdict::Admit, 1, 1, "x[1.2.3.4]", "smtp"));
  }

  // No anvil socket: every verdict comes at once from this process's counts.
  void without_anvil() {
    testing::TempDir dir;
    event::EventBase base;
    AnvilClient a(base, dir.file("anvil"), "pop3", AnvilLimits{2, 4, 60000}, 1000);
    Seen s;
    auto t1 = a.begin("192.0.2.7", record(s));
    auto t2 = a.begin("192.0.2.7", record(s));
    auto t3 = a.begin("192.0.2.7", record(s));
    auto other = a.begin("192.0.2.8", record(s));  // another client has its own count
    CPPUNIT_ASSERT_EQUAL(size_t(4), s.decisions.size());
    CPPUNIT_ASSERT(t1 != t2 && t2 != t3 && t1 != 0);
    CPPUNIT_ASSERT(s.decisions[0].verdict == AnvilVerdict::Admit && !s.decisions[0].from_anvil);
    CPPUNIT_ASSERT(s.decisions[1].verdict == AnvilVerdict::Admit);
    CPPUNIT_ASSERT(s.decisions[2].verdict == AnvilVerdict::CountExceeded);
    CPPUNIT_ASSERT_EQUAL(3, s.decisions[2].count);
    CPPUNIT_ASSERT(s.decisions[3].verdict == AnvilVerdict::Admit);
    CPPUNIT_ASSERT_EQUAL(1, s.decisions[3].count);
    CPPUNIT_ASSERT_EQUAL(t3, s.tickets[2]);
    a.end(t3);
    a.end(t3);  // a second end changes nothing
    a.end(t1);
    CPPUNIT_ASSERT_EQUAL(size_t(2), a.open());
    // One session open again: count 2, admitted; the rate (4 per unit) is now used up.
    auto t4 = a.begin("192.0.2.7", record(s));
    CPPUNIT_ASSERT(s.decisions[4].verdict == AnvilVerdict::Admit);
    CPPUNIT_ASSERT_EQUAL(2, s.decisions[4].count);
    CPPUNIT_ASSERT_EQUAL(4, s.decisions[4].rate);
    a.end(t4);
    auto t5 = a.begin("192.0.2.7", record(s));
    CPPUNIT_ASSERT(s.decisions[5].verdict == AnvilVerdict::RateExceeded);
    CPPUNIT_ASSERT_EQUAL(5, s.decisions[5].rate);
    for (auto t : {t2, t5, other}) a.end(t);
    CPPUNIT_ASSERT_EQUAL(size_t(0), a.open());
  }

  void with_anvil() {
    testing::TempDir dir;
    event::EventBase base;
    FakeAnvil anvil(base, dir.file("anvil"), false);
    // Two server processes of one service: anvil's counts span both.
    AnvilClient a(base, dir.file("anvil"), "pop3", AnvilLimits{2, 0, 60000}, 5000);
    AnvilClient b(base, dir.file("anvil"), "pop3", AnvilLimits{2, 0, 60000}, 5000);
    AnvilClient other_service(base, dir.file("anvil"), "pop3s", AnvilLimits{2, 0, 60000}, 5000);
    Seen s;
    auto t1 = a.begin("127.0.0.2", record(s));
    CPPUNIT_ASSERT(run_until(base, [&] { return s.decisions.size() == 1; }));
    auto t2 = b.begin("127.0.0.2", record(s));
    CPPUNIT_ASSERT(run_until(base, [&] { return s.decisions.size() == 2; }));
    auto t3 = a.begin("127.0.0.2", record(s));
    CPPUNIT_ASSERT(run_until(base, [&] { return s.decisions.size() == 3; }));
    auto t4 = other_service.begin("127.0.0.2", record(s));
    CPPUNIT_ASSERT(run_until(base, [&] { return s.decisions.size() == 4; }));
    for (const auto& d : s.decisions) CPPUNIT_ASSERT(d.from_anvil);
    CPPUNIT_ASSERT(s.decisions[1].verdict == AnvilVerdict::Admit);
    CPPUNIT_ASSERT_EQUAL(2, s.decisions[1].count);
    // Process a counts only one session of its own: the 3 is anvil's.
    CPPUNIT_ASSERT(s.decisions[2].verdict == AnvilVerdict::CountExceeded);
    CPPUNIT_ASSERT_EQUAL(3, s.decisions[2].count);
    CPPUNIT_ASSERT(s.decisions[3].verdict == AnvilVerdict::Admit);
    CPPUNIT_ASSERT_EQUAL(1, s.decisions[3].count);
    CPPUNIT_ASSERT_EQUAL(3, anvil.table.count("pop3 127.0.0.2"));
    a.end(t3);
    b.end(t2);
    CPPUNIT_ASSERT(run_until(base, [&] { return anvil.table.count("pop3 127.0.0.2") == 1; }));
    // A session that ends before anvil answers is taken back once the answer is in.
    auto t5 = a.begin("127.0.0.3", record(s));
    a.end(t5);
    CPPUNIT_ASSERT(run_until(base, [&] { return anvil.disconnects == 3; }));
    CPPUNIT_ASSERT_EQUAL(0, anvil.table.count("pop3 127.0.0.3"));
    CPPUNIT_ASSERT_EQUAL(size_t(4), s.decisions.size());  // its callback never ran
    a.end(t1);
    other_service.end(t4);
    CPPUNIT_ASSERT(run_until(base, [&] { return anvil.disconnects == 5; }));
    CPPUNIT_ASSERT_EQUAL(0, anvil.table.count("pop3 127.0.0.2"));
    CPPUNIT_ASSERT_EQUAL(0, anvil.table.count("pop3s 127.0.0.2"));
  }

  // A reply that does not decode: this process's counts decide.
  void garbage_reply() {
    testing::TempDir dir;
    event::EventBase base;
    FakeAnvil anvil(base, dir.file("anvil"), true);
    AnvilClient a(base, dir.file("anvil"), "pop3", AnvilLimits{1, 0, 60000}, 5000);
    Seen s;
    a.begin("127.0.0.2", record(s));
    CPPUNIT_ASSERT(run_until(base, [&] { return s.decisions.size() == 1; }));
    CPPUNIT_ASSERT(!s.decisions[0].from_anvil);
    CPPUNIT_ASSERT(s.decisions[0].verdict == AnvilVerdict::Admit);
    a.begin("127.0.0.2", record(s));
    CPPUNIT_ASSERT(run_until(base, [&] { return s.decisions.size() == 2; }));
    CPPUNIT_ASSERT(!s.decisions[1].from_anvil);
    CPPUNIT_ASSERT(s.decisions[1].verdict == AnvilVerdict::CountExceeded);
  }

  void event_warnings() {
    CPPUNIT_ASSERT_EQUAL(
        std::string("Message delivery request rate limit exceeded: 11 from unknown[192.0.2.7] for service smtpd"),
        anvil_event_warning(AnvilEvent::Message, 11, "unknown[192.0.2.7]", "smtpd"));
    CPPUNIT_ASSERT_EQUAL(
        std::string("Recipient address rate limit exceeded: 4 from mx.example[2001:db8::1] for service 127.0.0.1:25"),
        anvil_event_warning(AnvilEvent::Recipient, 4, "mx.example[2001:db8::1]", "127.0.0.1:25"));
    CPPUNIT_ASSERT_EQUAL(std::string("AUTH command rate limit exceeded: 3 from x[1.2.3.4] for service submission"),
                         anvil_event_warning(AnvilEvent::Auth, 3, "x[1.2.3.4]", "submission"));
  }

  // Two processes of one service count one client's events together in anvil.
  void events_with_anvil() {
    testing::TempDir dir;
    event::EventBase base;
    FakeAnvil anvil(base, dir.file("anvil"), false);
    AnvilClient a(base, dir.file("anvil"), "smtpd", AnvilLimits{}, 5000);
    AnvilClient b(base, dir.file("anvil"), "smtpd", AnvilLimits{}, 5000);
    std::vector<int> rates;
    auto rec = [&rates](int r) { rates.push_back(r); };
    a.event(AnvilEvent::Message, "127.0.0.2", rec);
    CPPUNIT_ASSERT(run_until(base, [&] { return rates.size() == 1; }));
    b.event(AnvilEvent::Message, "127.0.0.2", rec);
    CPPUNIT_ASSERT(run_until(base, [&] { return rates.size() == 2; }));
    // Answers on two connections come in either order: each is kept by name.
    std::map<std::string, int> got;
    auto as = [&got](std::string name) { return [&got, name](int r) { got[name] = r; }; };
    a.event(AnvilEvent::Recipient, "127.0.0.2", as("recipient"));
    a.event(AnvilEvent::Message, "127.0.0.3", as("other client"));
    CPPUNIT_ASSERT(run_until(base, [&] { return got.size() == 2; }));
    b.event(AnvilEvent::Message, "127.0.0.2", as("third"));
    CPPUNIT_ASSERT(run_until(base, [&] { return got.size() == 3; }));
    CPPUNIT_ASSERT_EQUAL(1, rates[0]);
    CPPUNIT_ASSERT_EQUAL(2, rates[1]);
    CPPUNIT_ASSERT_EQUAL(1, got["recipient"]);     // another kind
    CPPUNIT_ASSERT_EQUAL(1, got["other client"]);
    CPPUNIT_ASSERT_EQUAL(3, got["third"]);
    // Events hold no session: nothing to end, nothing counted as one.
    CPPUNIT_ASSERT_EQUAL(0, anvil.table.count("smtpd 127.0.0.2"));
    CPPUNIT_ASSERT_EQUAL(size_t(0), a.open());
  }

  // No anvil, or one that answers garbage: rate 0, which no limit refuses.
  void events_without_anvil() {
    testing::TempDir dir;
    event::EventBase base;
    {
      AnvilClient a(base, dir.file("none"), "smtpd", AnvilLimits{}, 1000);
      std::vector<int> rates;
      for (int i = 0; i < 3; ++i) a.event(AnvilEvent::Message, "127.0.0.2", [&rates](int r) { rates.push_back(r); });
      CPPUNIT_ASSERT_EQUAL(size_t(3), rates.size());  // at once
      for (int r : rates) CPPUNIT_ASSERT_EQUAL(0, r);
    }
    FakeAnvil anvil(base, dir.file("anvil"), true);
    AnvilClient a(base, dir.file("anvil"), "smtpd", AnvilLimits{}, 5000);
    std::vector<int> rates;
    a.event(AnvilEvent::Auth, "127.0.0.2", [&rates](int r) { rates.push_back(r); });
    CPPUNIT_ASSERT(run_until(base, [&] { return rates.size() == 1; }));
    CPPUNIT_ASSERT_EQUAL(0, rates[0]);
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(AnvilClientTest);
