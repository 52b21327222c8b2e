// local/mbox_test.cc - mbox quoting, and locking under concurrent writers.
#include "local/mbox.h"

#include <sys/stat.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cppunit/extensions/HelperMacros.h>

#include "lib/base/file.h"
#include "lib/testing/temp_dir.h"

using namespace postilion;

class MboxTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(MboxTest);
  CPPUNIT_TEST(entry_format);
  CPPUNIT_TEST(concurrent_appends_never_interleave);
  CPPUNIT_TEST(refuses_symlinks_and_foreign_files);
  CPPUNIT_TEST(stale_and_live_dotlocks);
  CPPUNIT_TEST_SUITE_END();

 public:
  void entry_format() {
    std::string e = local::mbox_entry("a@b", 0, "Subject: x\r\n\r\nFrom here\r\n>From there\r\nok\r\nlast");
    CPPUNIT_ASSERT_EQUAL(std::string("From a@b Thu Jan  1 00:00:00 1970\nSubject: x\n\n>From here\n>>From there\nok\nlast\n\n"), e);
    CPPUNIT_ASSERT(local::mbox_entry("", 0, "x").starts_with("From MAILER-DAEMON "));
    CPPUNIT_ASSERT(local::mbox_entry("a b\nc", 0, "x").starts_with("From a_b_c "));
  }

  void concurrent_appends_never_interleave() {
    testing::TempDir dir;
    std::string mbox = dir.file("mbox");
    const int kWriters = 4, kEach = 25;
    std::vector<pid_t> kids;
    for (int w = 0; w < kWriters; ++w) {
      pid_t pid = fork();
      if (pid == 0) {
        for (int i = 0; i < kEach; ++i) {
          // A large body written in one go makes interleaving visible if locking fails.
          std::string body(20000, char('a' + w));
          std::string e = local::mbox_entry("w@x", 0, "Subject: " + std::to_string(w) + "\n\n" + body);
          if (!local::append_mbox(mbox, e, getuid(), 10000)) _exit(1);
        }
        _exit(0);
      }
      kids.push_back(pid);
    }
    for (pid_t k : kids) {
      int st = 0;
      waitpid(k, &st, 0);
      CPPUNIT_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    auto text = file::read_file(mbox);
    CPPUNIT_ASSERT(text.ok());
    size_t entries = 0, pos = 0;
    while ((pos = text->find("From w@x ", pos)) != std::string::npos) {
      ++entries;
      size_t body = text->find("\n\n", pos) + 2;
      char c = (*text)[body];
      CPPUNIT_ASSERT_EQUAL(std::string(20000, c), text->substr(body, 20000));
      pos = body + 20000;
    }
    CPPUNIT_ASSERT_EQUAL(size_t(kWriters * kEach), entries);
    CPPUNIT_ASSERT(!file::exists(mbox + ".lock"));
  }

  void refuses_symlinks_and_foreign_files() {
    testing::TempDir dir;
    CPPUNIT_ASSERT(file::write_file_atomic(dir.file("target"), "x", 0600).ok());
    CPPUNIT_ASSERT_EQUAL(0, symlink(dir.file("target").c_str(), dir.file("link").c_str()));
    CPPUNIT_ASSERT(!local::append_mbox(dir.file("link"), "From x\n\n", getuid(), 100).ok());
    CPPUNIT_ASSERT_EQUAL(std::string("x"), *file::read_file(dir.file("target")));
    CPPUNIT_ASSERT(!local::append_mbox(dir.file("target"), "y", getuid() + 1, 100).ok());
    CPPUNIT_ASSERT_EQUAL(0, link(dir.file("target").c_str(), dir.file("hard").c_str()));
    CPPUNIT_ASSERT(!local::append_mbox(dir.file("target"), "y", getuid(), 100).ok());
    CPPUNIT_ASSERT_EQUAL(0, mkdir(dir.file("d").c_str(), 0700));
    CPPUNIT_ASSERT(!local::append_mbox(dir.file("d"), "y", getuid(), 100).ok());
  }

  void stale_and_live_dotlocks() {
    testing::TempDir dir;
    std::string mbox = dir.file("mbox");
    CPPUNIT_ASSERT(file::write_file_atomic(mbox + ".lock", "", 0600).ok());
    // A fresh lock held by someone else: the delivery waits, then gives up (defer).
    auto r = local::append_mbox(mbox, "From a\n\n", getuid(), 200);
    CPPUNIT_ASSERT(!r.ok());
    CPPUNIT_ASSERT(r.error().temporary());
    // An old lock is stale and removed.
    struct timespec old[2] = {{1000, 0}, {1000, 0}};
    CPPUNIT_ASSERT_EQUAL(0, utimensat(AT_FDCWD, (mbox + ".lock").c_str(), old, 0));
    CPPUNIT_ASSERT(local::append_mbox(mbox, "From a\n\n", getuid(), 200).ok());
    CPPUNIT_ASSERT(!file::exists(mbox + ".lock"));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(MboxTest);
