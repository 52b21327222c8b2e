// qmgr/scheduler_test.cc - concurrency limits, fairness, slow start (growth, back-off,
// dead destinations), rate delays on a fake clock, and retry arithmetic.
#include "qmgr/scheduler.h"

#include <cppunit/extensions/HelperMacros.h>

#include <string>
#include <vector>

using namespace postilion;
using qmgr::Feedback;

namespace {

qmgr::Job job(const char* id, const char* t, const char* n) { return {id, t, n, {0}, ""}; }

// Starts every job the scheduler allows at `now`.
std::vector<qmgr::Job> start_all(qmgr::Scheduler& s, int64_t now) {
  std::vector<qmgr::Job> v;
  while (auto j = s.next(now)) v.push_back(*j);
  return v;
}

}  // namespace

class SchedulerTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(SchedulerTest);
  CPPUNIT_TEST(limits_per_transport_and_destination);
  CPPUNIT_TEST(per_recipient_destinations);
  CPPUNIT_TEST(round_robin_between_destinations);
  CPPUNIT_TEST(drop_jobs_of_a_message);
  CPPUNIT_TEST(slow_start_table);
  CPPUNIT_TEST(feedback_amounts);
  CPPUNIT_TEST(growth_needs_a_busy_window);
  CPPUNIT_TEST(dead_destination);
  CPPUNIT_TEST(dead_destination_revived_by_success);
  CPPUNIT_TEST(rate_delay);
  CPPUNIT_TEST(backoff);
  CPPUNIT_TEST_SUITE_END();

 public:
  void limits_per_transport_and_destination() {
    qmgr::Scheduler s;
    s.set_limits("local", {2, 2, 5, 1, 0});
    s.set_limits("smtp", {3, 1, 5, 1, 0});
    for (int i = 0; i < 5; ++i) s.enqueue(job("L", "local", ""));
    for (int i = 0; i < 3; ++i) s.enqueue(job("A", "smtp", "a.test"));
    s.enqueue(job("B", "smtp", "b.test"));
    auto started = start_all(s, 0);
    // local: 2 of 5 (the limit caps the initial window of 5); smtp: one per destination.
    CPPUNIT_ASSERT_EQUAL(size_t(4), started.size());
    CPPUNIT_ASSERT_EQUAL(2, s.running("local"));
    CPPUNIT_ASSERT_EQUAL(2, s.running("smtp"));
    CPPUNIT_ASSERT_EQUAL(size_t(5), s.queued());
    CPPUNIT_ASSERT_EQUAL(2, s.window("local", ""));
    s.finished(started[0], Feedback::Success, 0);
    auto again = s.next(0);
    CPPUNIT_ASSERT(again.has_value());
    CPPUNIT_ASSERT_EQUAL(started[0].transport, again->transport);
    CPPUNIT_ASSERT(!s.next(0));
    for (size_t i = 1; i < started.size(); ++i) s.finished(started[i], Feedback::Success, 0);
    s.finished(*again, Feedback::Success, 0);
    CPPUNIT_ASSERT_EQUAL(0, s.running());
    size_t n = 0;
    while (auto j = s.next(0)) {
      ++n;
      s.finished(*j, Feedback::Success, 0);
    }
    CPPUNIT_ASSERT_EQUAL(size_t(4), n);
    CPPUNIT_ASSERT_EQUAL(size_t(0), s.queued());
  }

  void per_recipient_destinations() {
    // local schedules per recipient: the limit of 2 holds for each, not for all.
    qmgr::Scheduler s;
    s.set_limits("local", {100, 2, 5, 1, 0});
    for (const char* r : {"a", "a", "a", "b", "b", "c"}) {
      qmgr::Job j = job("L", "local", "");
      j.destination = r;
      s.enqueue(j);
    }
    auto started = start_all(s, 0);
    CPPUNIT_ASSERT_EQUAL(size_t(5), started.size());  // a, a, b, b, c
    CPPUNIT_ASSERT_EQUAL(size_t(1), s.queued());
  }

  void round_robin_between_destinations() {
    qmgr::Scheduler s;
    s.set_default_limits({1, 1, 1, 1, 0});
    for (int i = 0; i < 3; ++i) s.enqueue(job("A", "smtp", "a"));
    s.enqueue(job("B", "smtp", "b"));
    auto j1 = s.next(0);
    s.finished(*j1, Feedback::Success, 0);
    auto j2 = s.next(0);
    CPPUNIT_ASSERT_EQUAL(std::string("a"), j1->nexthop);
    CPPUNIT_ASSERT_EQUAL(std::string("b"), j2->nexthop);  // b is not starved by a's backlog
  }

  void drop_jobs_of_a_message() {
    qmgr::Scheduler s;
    s.set_default_limits({0, 20, 5, 1, 0});  // no transport may start anything
    s.enqueue(job("X", "smtp", "a"));
    s.enqueue(job("Y", "smtp", "a"));
    s.enqueue(job("X", "local", ""));
    CPPUNIT_ASSERT(!s.next(0));
    CPPUNIT_ASSERT_EQUAL(size_t(2), s.queued("X"));
    CPPUNIT_ASSERT_EQUAL(size_t(2), s.drop("X"));
    CPPUNIT_ASSERT_EQUAL(size_t(0), s.queued("X"));
    CPPUNIT_ASSERT_EQUAL(size_t(0), s.drop("X"));
    CPPUNIT_ASSERT_EQUAL(size_t(1), s.queued());
    s.set_default_limits({1, 1, 1, 1, 0});
    auto y = s.next(0);
    CPPUNIT_ASSERT_EQUAL(std::string("Y"), y->queue_id);
    // A started job is no longer queued: nothing left to drop for its message.
    CPPUNIT_ASSERT_EQUAL(size_t(0), s.queued("Y"));
    CPPUNIT_ASSERT_EQUAL(size_t(0), s.drop("Y"));
    CPPUNIT_ASSERT_EQUAL(1, s.running());
    // Two of Z's three jobs start (window 2): one left to drop; jobs of a dead
    // destination leave the count with the suspension.
    s.set_default_limits({10, 2, 2, 1, 0});
    for (int i = 0; i < 3; ++i) s.enqueue(job("Z", "smtp", "z"));
    auto z1 = s.next(0), z2 = s.next(0);
    CPPUNIT_ASSERT(z1 && z2 && !s.next(0));
    CPPUNIT_ASSERT_EQUAL(size_t(1), s.queued("Z"));
    s.finished(*z1, Feedback::SiteFailure, 0);
    auto v = s.finished(*z2, Feedback::SiteFailure, 0);
    CPPUNIT_ASSERT(v.died);
    CPPUNIT_ASSERT_EQUAL(size_t(1), v.suspended.size());
    CPPUNIT_ASSERT_EQUAL(size_t(0), s.queued("Z"));
    CPPUNIT_ASSERT_EQUAL(size_t(0), s.drop("Z"));
  }

  void slow_start_table() {
    // Each row: a sequence of feedbacks ('+' success, '-' site failure, '.' none) given
    // one at a time to a destination kept busy (a backlog of 100 jobs, all startable jobs
    // started before each feedback), and the window expected after each step.
    struct Row {
      const char* name;
      qmgr::Limits limits;
      const char* feedback;
      std::vector<int> windows;
    } rows[] = {
        {"grows by one per success", {100, 20, 5, 1, 0}, "+++", {6, 7, 8}},
        {"stops at the limit", {100, 7, 5, 1, 0}, "++++", {6, 7, 7, 7}},
        {"initial capped by the limit", {100, 3, 5, 1, 0}, "+", {3}},
        {"shrinks by one per failure", {100, 20, 5, 0, 0}, "---", {4, 3, 2}},
        {"never below one", {100, 20, 2, 0, 0}, "----", {1, 1, 1, 1}},
        {"no feedback, no change", {100, 20, 5, 1, 0}, "...", {5, 5, 5}},
        {"success after failures", {100, 20, 5, 0, 0}, "--++", {4, 3, 4, 5}},
        // Cohort limit 1: 1/5 + 1/4 + 1/3 < 1, the fourth failure (+1/2) kills it.
        {"dead after one cohort", {100, 20, 5, 1, 0}, "----", {4, 3, 2, 0}},
        // *_concurrency_positive_feedback: +1 at the end of each run of 1/feedback.
        {"positive 1/2", {100, 20, 5, 1, 0, {0.5, false}, {}}, "++++", {5, 6, 6, 7}},
        {"positive 1/concurrency", {100, 20, 2, 1, 0, {1, true}, {}}, "++++++", {2, 3, 3, 3, 4, 4}},
        {"positive 0: never grows", {100, 20, 5, 1, 0, {0, false}, {}}, "+++", {5, 5, 5}},
        // *_negative_feedback: -1 at the start of each run of 1/feedback.
        {"negative 1/4", {100, 20, 5, 0, 0, {}, {0.25, false}}, "-----", {4, 4, 4, 4, 3}},
        {"negative 1/concurrency", {100, 20, 2, 0, 0, {}, {1, true}}, "---", {1, 1, 1}},
        {"a success starts the failures afresh", {100, 20, 5, 0, 0, {}, {0.5, false}}, "-+-", {4, 5, 4}},
        {"a success resets the cohort count", {100, 20, 5, 1, 0}, "---+---", {4, 3, 2, 3, 2, 1, 0}},
        {"cohort limit 2 at window 1", {100, 20, 1, 2, 0}, "--", {1, 0}},
        {"limit 0: no limit on growth", {100, 0, 2, 1, 0}, "+++", {3, 4, 5}},
    };
    for (const auto& r : rows) {
      qmgr::Scheduler s;
      s.set_limits("smtp", r.limits);
      for (int i = 0; i < 100; ++i) s.enqueue(job("M", "smtp", "d"));
      std::vector<qmgr::Job> running = start_all(s, 0);
      for (size_t k = 0; r.feedback[k]; ++k) {
        char f = r.feedback[k];
        CPPUNIT_ASSERT_MESSAGE(r.name, !running.empty());
        qmgr::Job j = running.back();
        running.pop_back();
        Feedback fb = f == '+' ? Feedback::Success : f == '-' ? Feedback::SiteFailure : Feedback::None;
        s.finished(j, fb, 0, "4.4.1", "connect refused");
        std::string msg = std::string(r.name) + " step " + std::to_string(k);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(msg, r.windows[k], s.window("smtp", "d"));
        for (auto& n : start_all(s, 0)) running.push_back(n);
        // Never more running than the window allows.
        CPPUNIT_ASSERT_MESSAGE(msg, static_cast<int>(running.size()) <= std::max(s.window("smtp", "d"), 0) ||
                                        s.window("smtp", "d") == 0);
      }
    }
  }

  void feedback_amounts() {
    struct Case {
      const char* text;
      bool ok;
      double value;
      bool per_window;
    } cases[] = {
        {"1", true, 1, false},
        {"0", true, 0, false},
        {"0.25", true, 0.25, false},
        {".5", true, 0.5, false},
        {"1/4", true, 0.25, false},
        {" 1 / 8 ", true, 0.125, false},
        {"1/concurrency", true, 1, true},
        {"0.5 / concurrency", true, 0.5, true},
        {"", false, 0, false},
        {"2", false, 0, false},           // more than 1
        {"3/2", false, 0, false},
        {"-1", false, 0, false},          // no sign
        {"1/0", false, 0, false},         // no division by zero
        {"1/", false, 0, false},
        {"/2", false, 0, false},
        {"1/2/3", false, 0, false},
        {"1/concurrencyx", false, 0, false},
        {"1e0", false, 0, false},         // decimal numbers only
        {"0.5.5", false, 0, false},
        {".", false, 0, false},
        {"nan", false, 0, false},
        {"1 2", false, 0, false},
        {"00000000000000000000001", false, 0, false},  // overlong
    };
    for (const auto& c : cases) {
      auto f = qmgr::parse_feedback(c.text);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(c.text, c.ok, f.has_value());
      if (!f) continue;
      CPPUNIT_ASSERT_DOUBLES_EQUAL_MESSAGE(c.text, c.value, f->value, 1e-12);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(c.text, c.per_window, f->per_window);
    }
    CPPUNIT_ASSERT_DOUBLES_EQUAL(0.25, qmgr::parse_feedback("1/concurrency")->at(4), 1e-12);
    CPPUNIT_ASSERT_DOUBLES_EQUAL(1.0, qmgr::parse_feedback("1/concurrency")->at(0), 1e-12);
  }

  void growth_needs_a_busy_window() {
    // One delivery at a time: the window grows only to running + initial.
    qmgr::Scheduler s;
    s.set_limits("smtp", {100, 20, 2, 1, 0});
    for (int i = 0; i < 10; ++i) {
      s.enqueue(job("M", "smtp", "d"));
      auto j = s.next(0);
      CPPUNIT_ASSERT(j);
      s.enqueue(job("N", "smtp", "d"));  // keep the destination known between deliveries
      s.finished(*j, Feedback::Success, 0);
      CPPUNIT_ASSERT(s.window("smtp", "d") <= 3);
      s.drop("N");
    }
  }

  void dead_destination() {
    qmgr::Scheduler s;
    s.set_limits("smtp", {100, 20, 1, 1, 0});
    s.set_dead_time(300000);
    for (int i = 0; i < 4; ++i) s.enqueue(job(i == 3 ? "Z" : "M", "smtp", "d"));
    s.enqueue(job("O", "smtp", "other"));
    auto first = s.next(1000);
    CPPUNIT_ASSERT_EQUAL(std::string("d"), first->nexthop);
    auto other = s.next(1000);
    CPPUNIT_ASSERT_EQUAL(std::string("other"), other->nexthop);
    CPPUNIT_ASSERT(!s.next(1000));  // window 1 at d
    auto v = s.finished(*first, Feedback::SiteFailure, 1000, "4.4.1", "connect to d[127.0.0.9]:25: Connection refused");
    CPPUNIT_ASSERT(v.died);
    CPPUNIT_ASSERT_EQUAL(size_t(3), v.suspended.size());  // everything queued for d
    CPPUNIT_ASSERT_EQUAL(size_t(0), s.queued());
    const qmgr::Suspension* dead = s.dead("smtp", "d", 2000);
    CPPUNIT_ASSERT(dead);
    CPPUNIT_ASSERT_EQUAL(std::string("4.4.1"), dead->dsn);
    CPPUNIT_ASSERT_EQUAL(std::string("connect to d[127.0.0.9]:25: Connection refused"), dead->reason);
    CPPUNIT_ASSERT(!s.dead("smtp", "other", 2000));
    CPPUNIT_ASSERT(!s.dead("relay", "d", 2000));  // another transport's destination
    // A job enqueued anyway does not start while the destination is dead.
    s.enqueue(job("P", "smtp", "d"));
    CPPUNIT_ASSERT(!s.next(2000));
    CPPUNIT_ASSERT(s.dead("smtp", "d", 300999));
    // After the dead time: alive again at the initial concurrency.
    CPPUNIT_ASSERT(!s.dead("smtp", "d", 301000));
    CPPUNIT_ASSERT_EQUAL(1, s.window("smtp", "d"));
    auto p = s.next(301000);
    CPPUNIT_ASSERT(p && p->queue_id == "P");
    s.finished(*other, Feedback::Success, 301000);
    s.finished(*p, Feedback::Success, 301000);
    CPPUNIT_ASSERT_EQUAL(0, s.running());
  }

  void dead_destination_revived_by_success() {
    // Four running; three fail (1/4 + 1/3 + 1/2 >= 1): dead. The fourth, begun before
    // the death, gets through: the destination is alive again at its initial window.
    qmgr::Scheduler s;
    s.set_limits("smtp", {100, 20, 4, 1, 0});
    for (const char* id : {"A", "B", "C", "D"}) s.enqueue(job(id, "smtp", "d"));
    auto running = start_all(s, 0);
    CPPUNIT_ASSERT_EQUAL(size_t(4), running.size());
    s.finished(running[0], Feedback::SiteFailure, 0, "4.4.1", "x");
    s.finished(running[1], Feedback::SiteFailure, 0, "4.4.1", "x");
    CPPUNIT_ASSERT(!s.dead("smtp", "d", 0));
    auto v = s.finished(running[2], Feedback::SiteFailure, 0, "4.4.1", "x");
    CPPUNIT_ASSERT(v.died);
    CPPUNIT_ASSERT(s.dead("smtp", "d", 0));
    // While dead, nothing starts.
    s.enqueue(job("E", "smtp", "d"));
    CPPUNIT_ASSERT(!s.next(0));
    s.finished(running[3], Feedback::Success, 0);
    CPPUNIT_ASSERT(!s.dead("smtp", "d", 0));
    CPPUNIT_ASSERT_EQUAL(4, s.window("smtp", "d"));
    CPPUNIT_ASSERT_EQUAL(std::string("E"), s.next(0)->queue_id);
  }

  void rate_delay() {
    // With a rate delay: one at a time, and each start at least the delay after the
    // previous delivery ended; other destinations are not held up.
    qmgr::Scheduler s;
    s.set_limits("relay", {100, 20, 5, 1, 1000});
    for (int i = 0; i < 3; ++i) s.enqueue(job("M", "relay", "r"));
    s.enqueue(job("O", "relay", "o"));
    struct Step {
      int64_t now;
      bool starts;  // does r start a job at now
    };
    auto j = s.next(0);
    CPPUNIT_ASSERT(j && j->nexthop == "r");
    auto o = s.next(0);
    CPPUNIT_ASSERT(o && o->nexthop == "o");
    CPPUNIT_ASSERT(!s.next(0));  // concurrency 1 at r
    s.finished(*j, Feedback::Success, 200);
    CPPUNIT_ASSERT_EQUAL(int64_t(1200), *s.next_wakeup(200));
    const Step steps[] = {{200, false}, {700, false}, {1199, false}, {1200, true}};
    std::optional<qmgr::Job> got;
    for (const auto& st : steps) {
      got = s.next(st.now);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(std::to_string(st.now), st.starts, got.has_value());
    }
    CPPUNIT_ASSERT(!s.next_wakeup(1200));  // running; nothing to wait for
    s.finished(*got, Feedback::Success, 1500);
    CPPUNIT_ASSERT(!s.next(2499));
    CPPUNIT_ASSERT(s.next(2500));
    s.finished(*o, Feedback::Success, 2500);
    CPPUNIT_ASSERT_EQUAL(1, s.running());
  }

  void backoff() {
    struct Row { int64_t age, min, max, want; } rows[] = {
        {0, 300, 4000, 300},    {10, 300, 4000, 300},   {600, 300, 4000, 600},
        {1200, 300, 4000, 1200}, {99999, 300, 4000, 4000}, {5, 300, 100, 300},
    };
    for (auto& r : rows) CPPUNIT_ASSERT_EQUAL(r.want, qmgr::retry_delay(r.age, r.min, r.max));
    // The wait doubles: each retry happens at age a + delay(a) = 2a while in range.
    int64_t age = 300;
    for (int i = 0; i < 3; ++i) {
      int64_t next = age + qmgr::retry_delay(age, 300, 4000);
      CPPUNIT_ASSERT_EQUAL(2 * age, next);
      age = next;
    }
    CPPUNIT_ASSERT(qmgr::expired(432000, 432000));
    CPPUNIT_ASSERT(!qmgr::expired(431999, 432000));
    CPPUNIT_ASSERT(qmgr::delay_warning_due(14400, 14400, false));
    CPPUNIT_ASSERT(!qmgr::delay_warning_due(14400, 14400, true));
    CPPUNIT_ASSERT(!qmgr::delay_warning_due(99999, 0, false));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(SchedulerTest);
