// sendmail/drop_test.cc - the sendmail -> postdrop hand-over, good and hostile input.
#include "sendmail/drop.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cppunit/extensions/HelperMacros.h>

#include <filesystem>

#include "lib/base/file.h"
#include "lib/ipc/message.h"
#include "lib/queue/queue_file.h"
#include "lib/testing/temp_dir.h"

using namespace postilion;

namespace {

// Runs drop() on the bytes in `input` (through a pipe, as postdrop's stdin).
Result<std::string> run_drop(const std::string& dir, const std::string& input, uint64_t max = 0) {
  int p[2];
  if (pipe(p) != 0) abort();
  UniqueFd rd(p[0]);
  {
    UniqueFd wr(p[1]);
    CPPUNIT_ASSERT(input.size() < 60000);
    CPPUNIT_ASSERT(file::write_all(wr.get(), input).ok());
  }
  return sendmail::drop(rd.get(), dir, 1234, max);
}

std::string envelope(const sendmail::Envelope& e) {
  int p[2];
  if (pipe(p) != 0) abort();
  UniqueFd rd(p[0]), wr(p[1]);
  CPPUNIT_ASSERT(sendmail::write_envelope(wr.get(), e).ok());
  wr.reset();
  return *file::read_all(rd.get());
}

}  // namespace

class DropTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(DropTest);
  CPPUNIT_TEST(good_drop);
  CPPUNIT_TEST(hostile_drops);
  CPPUNIT_TEST_SUITE_END();

 public:
  void good_drop() {
    testing::TempDir dir;
    sendmail::Envelope e{"joe@example.org", {{"bob@example.org", "Bob@example.org", 1}}, "E1", "HDRS"};
    auto id = run_drop(dir.path(), envelope(e) + "Subject: x\r\n\r\nhi\r\n");
    CPPUNIT_ASSERT_MESSAGE(id.ok() ? "" : id.error().str(), id.ok());
    auto f = queue::read_queue_file(dir.file(*id));
    CPPUNIT_ASSERT(f->parsed.status == queue::Parse::Complete);
    const auto& q = f->parsed.file;
    CPPUNIT_ASSERT_EQUAL(std::string("joe@example.org"), q.sender);
    CPPUNIT_ASSERT_EQUAL(std::string("1234"), *q.attribute("uid"));
    CPPUNIT_ASSERT_EQUAL(std::string("HDRS"), *q.attribute("ret"));
    CPPUNIT_ASSERT_EQUAL(std::string("rfc822;Bob@example.org"), q.recipients[0].orcpt);
    CPPUNIT_ASSERT_EQUAL(uint8_t(queue::kNotifySuccess), q.recipients[0].notify);
    CPPUNIT_ASSERT_EQUAL(uint64_t(18), q.content_length);
    struct stat st;
    CPPUNIT_ASSERT_EQUAL(0, stat(dir.file(*id).c_str(), &st));
    CPPUNIT_ASSERT_EQUAL(0644u, unsigned(st.st_mode & 07777));
  }

  void hostile_drops() {
    testing::TempDir dir;
    ipc::Message uneven;
    uneven.set("sender", "a@b").set("rcpt", "c@d");  // no orcpt/notify
    sendmail::Envelope bad_rcpt{"a@b", {{"c\r\nd@e", "", 0}}, "", ""};
    sendmail::Envelope no_rcpt{"a@b", {}, "", ""};
    sendmail::Envelope bad_notify{"a@b", {{"c@d", "", 99}}, "", ""};
    sendmail::Envelope bad_ret{"a@b", {{"c@d", "", 0}}, "", "SOME"};
    sendmail::Envelope bad_sender{"a b@c", {{"c@d", "", 0}}, "", ""};
    std::vector<std::string> inputs = {"", "garbage that is no frame", uneven.encode(), envelope(bad_rcpt),
                                       envelope(no_rcpt), envelope(bad_notify), envelope(bad_ret),
                                       envelope(bad_sender)};
    for (const auto& in : inputs) {
      auto r = run_drop(dir.path(), in + "body");
      CPPUNIT_ASSERT(!r.ok());
      CPPUNIT_ASSERT(!r.error().temporary());
    }
    sendmail::Envelope ok{"a@b", {{"c@d", "", 0}}, "", ""};
    auto big = run_drop(dir.path(), envelope(ok) + std::string(5000, 'x'), 1000);
    CPPUNIT_ASSERT(!big.ok());
    // Nothing at all was left behind, not even a temporary file.
    int entries = 0;
    for (auto& e : std::filesystem::directory_iterator(dir.path())) (void)e, ++entries;
    CPPUNIT_ASSERT_EQUAL(0, entries);
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(DropTest);
