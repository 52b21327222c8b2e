// lib/queue/queue_control_test.cc - listing and hold/release/requeue/delete on a real spool.
#include "lib/queue/queue_control.h"

#include <unistd.h>

#include <cppunit/extensions/HelperMacros.h>

#include "lib/testing/temp_dir.h"

using namespace postilion;
using namespace postilion::queue;

class QueueControlTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(QueueControlTest);
  CPPUNIT_TEST(list_and_control);
  CPPUNIT_TEST_SUITE_END();

 public:
  void list_and_control() {
    testing::TempDir dir;
    SpoolStore st(dir.file("spool"));
    CPPUNIT_ASSERT(st.spool().create({getuid(), getgid(), getgid()}).ok());
    auto add = [&](const char* sender, const char* rcpt) {
      NewMessage m;
      m.sender = sender;
      m.recipients = {{rcpt, "", 0, 0, false}, {"done@example.org", "", 0, 0, false}};
      m.content = "Subject: x\r\n\r\nbody\r\n";
      auto id = st.inject(m);
      CPPUNIT_ASSERT(id.ok());
      bool corrupt;
      auto msg = st.load("incoming", *id, &corrupt);
      CPPUNIT_ASSERT(st.mark_done("incoming", *id, msg->recipients[1].offset, false).ok());
      return *id;
    };
    std::string a = add("alice@example.org", "bob@remote.test");
    std::string b = add("carol@example.org", "dave@remote.test");
    CPPUNIT_ASSERT(st.move(b, "incoming", "deferred").ok());
    DeferInfo info;
    info.reasons["dave@remote.test"] = "connection refused";
    CPPUNIT_ASSERT(st.set_defer_info(b, info).ok());

    auto entries = list_queue(st);
    CPPUNIT_ASSERT_EQUAL(size_t(2), entries.size());
    CPPUNIT_ASSERT_EQUAL(a, entries[0].id);
    CPPUNIT_ASSERT_EQUAL(size_t(1), entries[0].recipients.size());  // the delivered one is not listed
    CPPUNIT_ASSERT_EQUAL(std::string("connection refused"), entries[1].recipients[0].reason);
    CPPUNIT_ASSERT(format_mailq(entries).find("(connection refused)") != std::string::npos);

    CPPUNIT_ASSERT(matches(entries[0], "ALL"));
    CPPUNIT_ASSERT(matches(entries[0], a));
    CPPUNIT_ASSERT(matches(entries[0], "BOB@remote.test"));
    CPPUNIT_ASSERT(!matches(entries[0], "done@example.org"));
    CPPUNIT_ASSERT(!matches(entries[0], "bob"));

    auto held = control(st, Operation::Hold, "dave@remote.test");
    CPPUNIT_ASSERT(std::vector<std::string>{b} == held.done);
    CPPUNIT_ASSERT_EQUAL(std::string("hold"), list_queue(st)[1].queue);
    auto rel = control(st, Operation::Release, "ALL");
    CPPUNIT_ASSERT(std::vector<std::string>{b} == rel.done);
    CPPUNIT_ASSERT_EQUAL(int64_t(0), *st.next_try(b));
    auto req = control(st, Operation::Requeue, b);
    CPPUNIT_ASSERT_EQUAL(size_t(1), req.done.size());
    CPPUNIT_ASSERT_EQUAL(size_t(2), st.list("incoming").size());
    auto del = control(st, Operation::Delete, "alice@example.org");
    CPPUNIT_ASSERT(std::vector<std::string>{a} == del.done);
    CPPUNIT_ASSERT_EQUAL(size_t(1), list_queue(st).size());
    CPPUNIT_ASSERT(control(st, Operation::Delete, "nobody@nowhere").done.empty());
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(QueueControlTest);
