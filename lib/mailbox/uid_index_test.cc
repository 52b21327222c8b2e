// lib/mailbox/uid_index_test.cc - the UID index file: round trips, and every truncated
// prefix and damaged copy of a valid file is refused (never trusted, never a crash).
#include "lib/mailbox/uid_index.h"

#include <cppunit/extensions/HelperMacros.h>

#include "lib/base/file.h"
#include "lib/testing/temp_dir.h"

using namespace postilion;
using namespace postilion::mailbox;

class UidIndexTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(UidIndexTest);
  CPPUNIT_TEST(round_trip);
  CPPUNIT_TEST(missing);
  CPPUNIT_TEST(truncated);
  CPPUNIT_TEST(corrupted);
  CPPUNIT_TEST(garbage_files);
  CPPUNIT_TEST_SUITE_END();

  UidIndex sample(size_t n) {
    UidIndex idx;
    idx.uid_validity = 1700000000;
    for (size_t i = 0; i < n; ++i)
      idx.entries["1700000000.M" + std::to_string(i) + "P1.host,S=10"] = IndexEntry{uint32_t(i + 1), 10 + i};
    idx.next_uid = uint32_t(n + 1);
    return idx;
  }

 public:
  void round_trip() {
    testing::TempDir t;
    for (size_t n : {0, 1, 3, 2000}) {
      UidIndex idx = sample(n);
      CPPUNIT_ASSERT(save_index(t.file("x.db"), idx).ok());
      auto back = load_index(t.file("x.db"));
      CPPUNIT_ASSERT_MESSAGE(back.ok() ? "" : back.error().str(), back.ok());
      CPPUNIT_ASSERT(*back == idx);
    }
    CPPUNIT_ASSERT(!file::exists(t.file("x.db.tmp." + std::to_string(getpid()))));
  }

  void missing() {
    testing::TempDir t;
    auto r = load_index(t.file("none.db"));
    CPPUNIT_ASSERT(!r.ok());
    CPPUNIT_ASSERT_EQUAL(ENOENT, r.error().code());
  }

  // Every prefix of a valid index is refused as bad (or, when empty, as missing).
  void truncated() {
    testing::TempDir t;
    CPPUNIT_ASSERT(save_index(t.file("good.db"), sample(50)).ok());
    auto good = file::read_file(t.file("good.db"));
    CPPUNIT_ASSERT(good.ok());
    size_t step = std::max<size_t>(1, good->size() / 300);
    for (size_t n = 0; n < good->size(); n += (n < 600 ? 1 : step)) {
      CPPUNIT_ASSERT(file::write_file_atomic(t.file("cut.db"), good->substr(0, n), 0600).ok());
      auto r = load_index(t.file("cut.db"));
      CPPUNIT_ASSERT_MESSAGE("prefix " + std::to_string(n), !r.ok());
      CPPUNIT_ASSERT_MESSAGE("prefix " + std::to_string(n) + ": " + r.error().str(),
                             r.error().code() == EBADMSG || (n == 0 && r.error().code() == ENOENT));
    }
  }

  // Flipped bytes anywhere: either refused, or (a byte Berkeley DB does not look at,
  // e.g. free space) the same index as before. Never a different, wrong index.
  void corrupted() {
    testing::TempDir t;
    UidIndex idx = sample(40);
    CPPUNIT_ASSERT(save_index(t.file("good.db"), idx).ok());
    auto good = file::read_file(t.file("good.db"));
    CPPUNIT_ASSERT(good.ok());
    size_t refused = 0;
    for (size_t i = 0; i < good->size(); i += 7) {
      std::string bad = *good;
      bad[i] = static_cast<char>(bad[i] ^ 0x5a);
      CPPUNIT_ASSERT(file::write_file_atomic(t.file("bad.db"), bad, 0600).ok());
      auto r = load_index(t.file("bad.db"));
      if (!r.ok()) {
        ++refused;
        CPPUNIT_ASSERT(r.error().code() == EBADMSG);
      } else {
        CPPUNIT_ASSERT_MESSAGE("byte " + std::to_string(i), *r == idx);
      }
    }
    CPPUNIT_ASSERT(refused > 0);
  }

  void garbage_files() {
    testing::TempDir t;
    const std::string rows[] = {
        "x", std::string(4096, '\0'), std::string(8192, '\xff'), "From: not a database\n\nhello\n",
        std::string(100000, 'A'),
    };
    for (const auto& g : rows) {
      CPPUNIT_ASSERT(file::write_file_atomic(t.file("g.db"), g, 0600).ok());
      auto r = load_index(t.file("g.db"));
      CPPUNIT_ASSERT(!r.ok());
      CPPUNIT_ASSERT_EQUAL(EBADMSG, r.error().code());
    }
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(UidIndexTest);
