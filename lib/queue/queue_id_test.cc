// lib/queue/queue_id_test.cc - queue ID shape, validation, ordering, uniqueness
// within a process and across processes.
#include "lib/queue/queue_id.h"

#include <cppunit/extensions/HelperMacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "lib/base/file.h"
#include "lib/queue/queue_writer.h"
#include "lib/queue/test_util.h"
#include "lib/testing/temp_dir.h"

namespace postilion::queue {

class QueueIdTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(QueueIdTest);
  CPPUNIT_TEST(shape);
  CPPUNIT_TEST(validation_table);
  CPPUNIT_TEST(ordering_and_uniqueness);
  CPPUNIT_TEST(two_processes);
  CPPUNIT_TEST_SUITE_END();

 public:
  void shape() {
    CPPUNIT_ASSERT_EQUAL(std::string("0000000000000Fa"), make_id(15, 0));
    CPPUNIT_ASSERT_EQUAL(std::string("0000000000000Fba"), make_id(15, 26));
    std::string id = make_id(0x5F3A2B1C9D4E0, 123456789);
    CPPUNIT_ASSERT(valid_id(id));
    CPPUNIT_ASSERT_EQUAL(int64_t{0x5F3A2B1C9D4E0}, id_time(id));
    CPPUNIT_ASSERT(valid_id(make_id(INT64_MAX, UINT64_MAX)));
    CPPUNIT_ASSERT(make_id(INT64_MAX, UINT64_MAX).size() <= kIdMaxLength);
  }

  void validation_table() {
    struct Row {
      const char* in;
      bool ok;
    } rows[] = {
        {"005F3A2B1C9D4Eb", true},
        {"005F3A2B1C9D4Ebqxkzzzzzzzzzz", true},
        {"005F3A2B1C9D4E", false},           // no inode part
        {"0005f3a2b1c9d4eb", false},         // lowercase hex
        {"005F3A2B1C9D4EB", false},         // inode part uppercase
        {"005F3A2B1C9D4Eb/", false},
        {"../../etc/passwd", false},
        {".tmp.123.1.456", false},
        {"", false},
        {"005F3A2B1C9D4Eb\n", false},
        {"005F3A2B1C9D4Ebqxkzzzzzzzzzzz", false},  // too long
        {"005F3A2B1C9D4E b", false},
    };
    for (const Row& r : rows) CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.ok, valid_id(r.in));
    CPPUNIT_ASSERT(!valid_id(std::string_view("005F3A2B1C9D4E\0b", 17)));
  }

  void ordering_and_uniqueness() {
    std::vector<std::string> ids;
    for (int i = 0; i < 10000; ++i) ids.push_back(make_id(next_id_time(), 4242));
    // Generated in order, so already sorted, and all distinct.
    CPPUNIT_ASSERT(std::is_sorted(ids.begin(), ids.end()));
    CPPUNIT_ASSERT_EQUAL(size_t{10000}, std::set<std::string>(ids.begin(), ids.end()).size());
    // A later microsecond sorts later whatever the inode.
    CPPUNIT_ASSERT(make_id(1000, 999999999) < make_id(1001, 0));
    // Same microsecond, different inode: different IDs.
    CPPUNIT_ASSERT(make_id(1000, 1) != make_id(1000, 2));
  }

  // Two processes commit real queue files into one folder at the same time: every
  // file gets its own valid ID, and each process's IDs sort in its commit order.
  void two_processes() {
    postilion::testing::TempDir tmp;
    const int kPerProcess = 300;
    int pipes[2][2];
    pid_t pids[2];
    for (int p = 0; p < 2; ++p) {
      CPPUNIT_ASSERT_EQUAL(0, ::pipe(pipes[p]));
      pids[p] = ::fork();
      CPPUNIT_ASSERT(pids[p] >= 0);
      if (pids[p] == 0) {
        ::close(pipes[p][0]);
        testing::FaultyOps ops;
        ops.skip_sync = true;  // uniqueness does not depend on fsync; keep it fast
        std::string out;
        for (int i = 0; i < kPerProcess; ++i) {
          auto w = QueueWriter::create(tmp.path(), ops);
          if (!w || !(*w)->recipient("a@b") || !(*w)->append_content("x")) ::_exit(2);
          auto id = (*w)->commit();
          if (!id) ::_exit(3);
          out += *id + "\n";
        }
        (void)file::write_all(pipes[p][1], out);
        ::_exit(0);
      }
      ::close(pipes[p][1]);
    }
    std::vector<std::string> all;
    for (int p = 0; p < 2; ++p) {
      auto text = file::read_all(pipes[p][0]);
      ::close(pipes[p][0]);
      int status = 0;
      ::waitpid(pids[p], &status, 0);
      CPPUNIT_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
      CPPUNIT_ASSERT(text.ok());
      std::vector<std::string> mine;
      size_t start = 0;
      for (size_t nl; (nl = text->find('\n', start)) != std::string::npos; start = nl + 1)
        mine.push_back(text->substr(start, nl - start));
      CPPUNIT_ASSERT_EQUAL(size_t{kPerProcess}, mine.size());
      CPPUNIT_ASSERT(std::is_sorted(mine.begin(), mine.end()));
      for (auto& id : mine) CPPUNIT_ASSERT(valid_id(id));
      all.insert(all.end(), mine.begin(), mine.end());
    }
    CPPUNIT_ASSERT_EQUAL(size_t{2 * kPerProcess}, std::set<std::string>(all.begin(), all.end()).size());
    CPPUNIT_ASSERT_EQUAL(size_t{2 * kPerProcess}, testing::list_dir(tmp.path()).size());
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(QueueIdTest);

}  // namespace postilion::queue
