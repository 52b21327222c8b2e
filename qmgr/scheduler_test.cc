// qmgr/scheduler_test.cc - concurrency limits, fairness and retry arithmetic.
#include "qmgr/scheduler.h"

#include <cppunit/extensions/HelperMacros.h>

using namespace postilion;

class SchedulerTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(SchedulerTest);
  CPPUNIT_TEST(limits_per_transport_and_destination);
  CPPUNIT_TEST(round_robin_between_destinations);
  CPPUNIT_TEST(drop_jobs_of_a_message);
  CPPUNIT_TEST(backoff);
  CPPUNIT_TEST_SUITE_END();

  static qmgr::Job job(const char* id, const char* t, const char* n) { return {id, t, n, {0}}; }

 public:
  void limits_per_transport_and_destination() {
    qmgr::Scheduler s;
    s.set_limits("local", {2, 2});
    s.set_limits("smtp", {3, 1});
    for (int i = 0; i < 5; ++i) s.enqueue(job("L", "local", ""));
    for (int i = 0; i < 3; ++i) s.enqueue(job("A", "smtp", "a.test"));
    s.enqueue(job("B", "smtp", "b.test"));
    std::vector<qmgr::Job> started;
    while (auto j = s.next()) started.push_back(*j);
    // local: 2 of 5; smtp: one per destination (a, b).
    CPPUNIT_ASSERT_EQUAL(size_t(4), started.size());
    CPPUNIT_ASSERT_EQUAL(2, s.running("local"));
    CPPUNIT_ASSERT_EQUAL(2, s.running("smtp"));
    CPPUNIT_ASSERT_EQUAL(size_t(5), s.queued());
    s.finished(started[0]);
    auto again = s.next();
    CPPUNIT_ASSERT(again.has_value());
    CPPUNIT_ASSERT_EQUAL(started[0].transport, again->transport);
    CPPUNIT_ASSERT(!s.next());
    for (size_t i = 1; i < started.size(); ++i) s.finished(started[i]);
    s.finished(*again);
    CPPUNIT_ASSERT_EQUAL(0, s.running());
    size_t n = 0;
    while (auto j = s.next()) {
      ++n;
      s.finished(*j);
    }
    CPPUNIT_ASSERT_EQUAL(size_t(4), n);
    CPPUNIT_ASSERT_EQUAL(size_t(0), s.queued());
  }

  void round_robin_between_destinations() {
    qmgr::Scheduler s;
    s.set_default_limits({1, 1});
    for (int i = 0; i < 3; ++i) s.enqueue(job("A", "smtp", "a"));
    s.enqueue(job("B", "smtp", "b"));
    auto j1 = s.next();
    s.finished(*j1);
    auto j2 = s.next();
    CPPUNIT_ASSERT_EQUAL(std::string("a"), j1->nexthop);
    CPPUNIT_ASSERT_EQUAL(std::string("b"), j2->nexthop);  // b is not starved by a's backlog
  }

  void drop_jobs_of_a_message() {
    qmgr::Scheduler s;
    s.set_default_limits({0, 0});  // nothing may start
    s.enqueue(job("X", "smtp", "a"));
    s.enqueue(job("Y", "smtp", "a"));
    s.enqueue(job("X", "local", ""));
    CPPUNIT_ASSERT(!s.next());
    CPPUNIT_ASSERT_EQUAL(size_t(2), s.drop("X"));
    CPPUNIT_ASSERT_EQUAL(size_t(1), s.queued());
    s.set_default_limits({1, 1});
    CPPUNIT_ASSERT_EQUAL(std::string("Y"), s.next()->queue_id);
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
