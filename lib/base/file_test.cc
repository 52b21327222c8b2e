// lib/base/file_test.cc - whole reads/writes, atomic replace, mkdir -p.
#include "lib/base/file.h"

#include <cppunit/extensions/HelperMacros.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "lib/testing/temp_dir.h"

using namespace postilion;

class FileTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(FileTest);
  CPPUNIT_TEST(atomic_write_then_read);
  CPPUNIT_TEST(read_limit);
  CPPUNIT_TEST(make_dirs_nested);
  CPPUNIT_TEST(path_parts);
  CPPUNIT_TEST_SUITE_END();

 public:
  void atomic_write_then_read() {
    testing::TempDir dir;
    std::string p = dir.file("a");
    CPPUNIT_ASSERT(file::write_file_atomic(p, "one", 0600));
    CPPUNIT_ASSERT(file::write_file_atomic(p, "two", 0640));
    CPPUNIT_ASSERT_EQUAL(std::string("two"), *file::read_file(p));
    struct stat sb;
    CPPUNIT_ASSERT(stat(p.c_str(), &sb) == 0);
    CPPUNIT_ASSERT_EQUAL(0640u, static_cast<unsigned>(sb.st_mode & 07777));
    auto missing = file::read_file(dir.file("none"));
    CPPUNIT_ASSERT(!missing);
    CPPUNIT_ASSERT_EQUAL(ENOENT, missing.error().code());
  }

  void read_limit() {
    testing::TempDir dir;
    CPPUNIT_ASSERT(file::write_file_atomic(dir.file("big"), std::string(100, 'x'), 0600));
    CPPUNIT_ASSERT(!file::read_file(dir.file("big"), 99));
    CPPUNIT_ASSERT(file::read_file(dir.file("big"), 100));
  }

  void make_dirs_nested() {
    testing::TempDir dir;
    CPPUNIT_ASSERT(file::make_dirs(dir.file("a/b/c"), 0755));
    CPPUNIT_ASSERT(file::exists(dir.file("a/b/c")));
    CPPUNIT_ASSERT(file::make_dirs(dir.file("a/b/c"), 0755));
    CPPUNIT_ASSERT(file::write_file_atomic(dir.file("f"), "", 0600));
    CPPUNIT_ASSERT(!file::make_dirs(dir.file("f/g"), 0755));
  }

  void path_parts() {
    CPPUNIT_ASSERT_EQUAL(std::string("/a/b"), file::dirname("/a/b/c"));
    CPPUNIT_ASSERT_EQUAL(std::string("c"), file::basename("/a/b/c"));
    CPPUNIT_ASSERT_EQUAL(std::string("/"), file::dirname("/c"));
    CPPUNIT_ASSERT_EQUAL(std::string("."), file::dirname("c"));
    CPPUNIT_ASSERT_EQUAL(std::string("a/b"), file::join("a/", "b"));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(FileTest);
