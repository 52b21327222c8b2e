// qmgr/sender_limits_test.cc - local sender limits: messages and recipients per hour
// per uid, root exempt, windows that end, a message larger than the whole recipient
// limit passing alone, bounded memory.
#include "qmgr/sender_limits.h"

#include <cppunit/extensions/HelperMacros.h>

using namespace postilion::qmgr;
using V = SenderLimits::Verdict;

class SenderLimitsTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(SenderLimitsTest);
  CPPUNIT_TEST(messages_per_hour);
  CPPUNIT_TEST(recipients_per_hour);
  CPPUNIT_TEST(off_and_root);
  CPPUNIT_TEST_SUITE_END();

 public:
  void messages_per_hour() {
    SenderLimits l(3, 0);
    for (int i = 0; i < 3; ++i) CPPUNIT_ASSERT(l.admit("1000", 1, 100 + i) == V::Admit);
    CPPUNIT_ASSERT(l.admit("1000", 1, 200) == V::Messages);
    CPPUNIT_ASSERT(l.admit("1000", 1, 100 + 3599) == V::Messages);  // the same window
    CPPUNIT_ASSERT(l.admit("1001", 1, 200) == V::Admit);              // another user
    CPPUNIT_ASSERT_EQUAL(3, l.messages("1000"));
    CPPUNIT_ASSERT(l.admit("1000", 1, 100 + 3600) == V::Admit);       // a new hour
    CPPUNIT_ASSERT_EQUAL(1, l.messages("1000"));
    CPPUNIT_ASSERT(l.admit("1000", 1, 50) == V::Admit);               // the clock went back: anew
  }

  void recipients_per_hour() {
    SenderLimits l(0, 10);
    CPPUNIT_ASSERT(l.admit("1000", 6, 0) == V::Admit);
    CPPUNIT_ASSERT(l.admit("1000", 5, 1) == V::Recipients);  // 11 > 10: waits, not counted
    CPPUNIT_ASSERT_EQUAL(6, l.recipients("1000"));
    CPPUNIT_ASSERT(l.admit("1000", 4, 2) == V::Admit);       // exactly 10
    CPPUNIT_ASSERT(l.admit("1000", 1, 3) == V::Recipients);
    // More recipients than the whole limit: alone in a fresh window, or never.
    CPPUNIT_ASSERT(l.admit("1002", 50, 0) == V::Admit);
    CPPUNIT_ASSERT(l.admit("1002", 1, 1) == V::Recipients);
  }

  void off_and_root() {
    SenderLimits off(0, 0);
    CPPUNIT_ASSERT(!off.active());
    for (int i = 0; i < 1000; ++i) CPPUNIT_ASSERT(off.admit("1000", 100, i) == V::Admit);
    SenderLimits l(1, 1);
    for (int i = 0; i < 10; ++i) CPPUNIT_ASSERT(l.admit("0", 5, i) == V::Admit);
    CPPUNIT_ASSERT_EQUAL(0, l.messages("0"));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(SenderLimitsTest);
