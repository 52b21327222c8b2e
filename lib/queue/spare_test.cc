// lib/queue/spare_test.cc - reusing finished queue files: retire() and SparePool, the
// truncation of a reused file, and the locks that keep a file that is still open from
// being reused.
#include "lib/queue/spare.h"

#include <cppunit/extensions/HelperMacros.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "lib/base/file.h"
#include "lib/queue/queue_file.h"
#include "lib/queue/queue_writer.h"
#include "lib/queue/spool.h"
#include "lib/queue/test_util.h"
#include "lib/testing/temp_dir.h"

namespace postilion::queue {
namespace {

Result<std::string> write_message(const std::string& dir, SparePool* pool, const std::string& rcpt,
                                  const std::string& content) {
  auto w = QueueWriter::create(dir, system_ops(), 0, pool);
  if (!w) return w.error();
  Status st = (*w)->recipient(rcpt);
  if (st) st = (*w)->append_content(content);
  if (!st) return st.error();
  return (*w)->commit();
}

ino_t inode(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

off_t size_of(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

struct Fixture {
  postilion::testing::TempDir tmp;
  Spool spool{tmp.file("spool")};
  Fixture() {
    SpoolOwners me{::geteuid(), ::getegid(), ::getegid(), false};
    CPPUNIT_ASSERT(spool.create(me).ok());
  }
  std::string active(const std::string& id) const { return spool.path(Folder::Active, id); }
  std::string spare(const std::string& id) const { return spool.path(Folder::Spare, id); }
  // A message written straight into active/ (as if qmgr had moved it there).
  std::string queued(const std::string& content, SparePool* pool = nullptr) {
    auto id = write_message(spool.dir(Folder::Active), pool, "a@example.org", content);
    CPPUNIT_ASSERT(id.ok());
    return *id;
  }
};

}  // namespace

class SpareTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(SpareTest);
  CPPUNIT_TEST(reused_file_holds_only_the_new_message);
  CPPUNIT_TEST(open_file_is_unlinked_not_reused);
  CPPUNIT_TEST(reader_refused_while_file_is_retired);
  CPPUNIT_TEST(foreign_or_big_files_are_unlinked);
  CPPUNIT_TEST(take_claims_each_file_once);
  CPPUNIT_TEST(empty_folder_is_not_read_again_at_once);
  CPPUNIT_TEST(take_skips_files_that_are_not_ours);
  CPPUNIT_TEST(without_spare_folder_files_are_unlinked);
  CPPUNIT_TEST_SUITE_END();

 public:
  void reused_file_holds_only_the_new_message() {
    Fixture f;
    std::string big(100 * 1024, 'B');
    std::string id1 = f.queued(big);
    ino_t ino = inode(f.active(id1));
    off_t big_size = size_of(f.active(id1));
    auto r = retire(f.active(id1), f.spare(id1));
    CPPUNIT_ASSERT(r.ok());
    CPPUNIT_ASSERT(*r == Retired::Recycled);
    CPPUNIT_ASSERT(!file::exists(f.active(id1)));
    CPPUNIT_ASSERT_EQUAL(size_t{1}, count_spare(f.spool.dir(Folder::Spare)).value());

    SparePool pool(f.spool.dir(Folder::Spare));
    std::string id2 = f.queued("Subject: small\r\n\r\nhi\r\n", &pool);
    CPPUNIT_ASSERT(id2 != id1);
    CPPUNIT_ASSERT_EQUAL(ino, inode(f.active(id2)));  // the same file, written over
    CPPUNIT_ASSERT_EQUAL(size_t{0}, count_spare(f.spool.dir(Folder::Spare)).value());
    CPPUNIT_ASSERT(size_of(f.active(id2)) < big_size / 10);
    auto opened = read_queue_file(f.active(id2));
    CPPUNIT_ASSERT(opened.ok());
    CPPUNIT_ASSERT(opened->parsed.status == Parse::Complete);
    std::string content;
    CPPUNIT_ASSERT(stream_content(opened->fd.get(), opened->parsed.file, [&](std::string_view s) {
                     content += s;
                     return Status{};
                   }).ok());
    CPPUNIT_ASSERT_EQUAL(std::string("Subject: small\r\n\r\nhi\r\n"), content);
    // Nothing of the old message is left in the file.
    auto raw = file::read_file(f.active(id2), 1 << 20);
    CPPUNIT_ASSERT(raw.ok());
    CPPUNIT_ASSERT(raw->find("BBBB") == std::string::npos);
    // No spare left: the next message gets a new file.
    std::string id3 = f.queued("x", &pool);
    CPPUNIT_ASSERT(inode(f.active(id3)) != ino);
  }

  void open_file_is_unlinked_not_reused() {
    Fixture f;
    std::string id = f.queued("hello");
    auto reader = read_queue_file(f.active(id), true);  // e.g. a delivery agent still at it
    CPPUNIT_ASSERT(reader.ok());
    auto r = retire(f.active(id), f.spare(id));
    CPPUNIT_ASSERT(r.ok());
    CPPUNIT_ASSERT(*r == Retired::Removed);
    CPPUNIT_ASSERT(!file::exists(f.active(id)));
    CPPUNIT_ASSERT_EQUAL(size_t{0}, count_spare(f.spool.dir(Folder::Spare)).value());
    // Closed, the next file is reused.
    reader->fd.reset();
    std::string id2 = f.queued("hello");
    CPPUNIT_ASSERT(*retire(f.active(id2), f.spare(id2)) == Retired::Recycled);
  }

  void reader_refused_while_file_is_retired() {
    Fixture f;
    std::string id = f.queued("hello");
    UniqueFd fd(::open(f.active(id).c_str(), O_RDWR));
    struct flock fl {};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    CPPUNIT_ASSERT_EQUAL(0, ::fcntl(fd.get(), F_OFD_SETLK, &fl));  // what retire() holds
    auto reader = read_queue_file(f.active(id));
    CPPUNIT_ASSERT(!reader.ok());
    CPPUNIT_ASSERT_EQUAL(ENOENT, reader.error().code());
    fd.reset();
    CPPUNIT_ASSERT(read_queue_file(f.active(id)).ok());
  }

  void foreign_or_big_files_are_unlinked() {
    Fixture f;
    // Two links (someone else can reach it): unlinked.
    std::string id = f.queued("hello");
    std::string other = f.tmp.file("other-link");
    CPPUNIT_ASSERT_EQUAL(0, ::link(f.active(id).c_str(), other.c_str()));
    CPPUNIT_ASSERT(*retire(f.active(id), f.spare(id)) == Retired::Removed);
    CPPUNIT_ASSERT(!file::exists(f.active(id)));
    // Larger than kMaxSpareSize: unlinked, spare/ stays small.
    std::string big = f.queued(std::string(kMaxSpareSize + 1, 'x'));
    CPPUNIT_ASSERT(*retire(f.active(big), f.spare(big)) == Retired::Removed);
    // A symlink in active/ is never followed.
    CPPUNIT_ASSERT_EQUAL(0, ::symlink(other.c_str(), f.active("4Zsymlink0000").c_str()));
    CPPUNIT_ASSERT(*retire(f.active("4Zsymlink0000"), f.spare("4Zsymlink0000")) == Retired::Removed);
    CPPUNIT_ASSERT(file::exists(other));
    CPPUNIT_ASSERT_EQUAL(size_t{0}, count_spare(f.spool.dir(Folder::Spare)).value());
    // Gone already: an error.
    CPPUNIT_ASSERT(!retire(f.active(id), f.spare(id)).ok());
  }

  void take_claims_each_file_once() {
    Fixture f;
    std::string id = f.queued("hello");
    CPPUNIT_ASSERT(*retire(f.active(id), f.spare(id)) == Retired::Recycled);
    SparePool a(f.spool.dir(Folder::Spare)), b(f.spool.dir(Folder::Spare));
    uint64_t old_size = 0;
    std::string to_a = file::join(f.spool.dir(Folder::Incoming), ".tmp.a");
    std::string to_b = file::join(f.spool.dir(Folder::Incoming), ".tmp.b");
    auto fa = a.take(to_a, system_ops(), &old_size);
    CPPUNIT_ASSERT(fa.ok());
    CPPUNIT_ASSERT(old_size > 0);
    auto fb = b.take(to_b, system_ops(), &old_size);
    CPPUNIT_ASSERT(!fb.ok());
    CPPUNIT_ASSERT_EQUAL(ENOENT, fb.error().code());
    CPPUNIT_ASSERT(file::exists(to_a));
    CPPUNIT_ASSERT(!file::exists(to_b));
    // Its mtime is now: the sweep of stale temporary files leaves it alone.
    auto removed = f.spool.remove_stale_temp(Folder::Incoming, 60);
    CPPUNIT_ASSERT(removed.ok());
    CPPUNIT_ASSERT_EQUAL(size_t{0}, *removed);
  }

  void empty_folder_is_not_read_again_at_once() {
    Fixture f;
    SparePool held(f.spool.dir(Folder::Spare), 3600LL * 1000), eager(f.spool.dir(Folder::Spare), 0);
    uint64_t old_size = 0;
    std::string to = file::join(f.spool.dir(Folder::Incoming), ".tmp.h");
    CPPUNIT_ASSERT_EQUAL(ENOENT, held.take(to, system_ops(), &old_size).error().code());
    CPPUNIT_ASSERT_EQUAL(ENOENT, eager.take(to, system_ops(), &old_size).error().code());
    std::string id = f.queued("hello");
    CPPUNIT_ASSERT(*retire(f.active(id), f.spare(id)) == Retired::Recycled);
    // The held pool found spare/ empty a moment ago and does not look again yet.
    CPPUNIT_ASSERT_EQUAL(ENOENT, held.take(to, system_ops(), &old_size).error().code());
    CPPUNIT_ASSERT(file::exists(f.spare(id)));
    CPPUNIT_ASSERT(eager.take(to, system_ops(), &old_size).ok());
    CPPUNIT_ASSERT(!file::exists(f.spare(id)));
    CPPUNIT_ASSERT(file::exists(to));
  }

  void take_skips_files_that_are_not_ours() {
    Fixture f;
    std::string id = f.queued("hello");
    CPPUNIT_ASSERT(*retire(f.active(id), f.spare(id)) == Retired::Recycled);
    // Someone linked it from elsewhere after it was retired: not taken, and our name
    // for it is dropped.
    std::string other = f.tmp.file("other-link");
    CPPUNIT_ASSERT_EQUAL(0, ::link(f.spare(id).c_str(), other.c_str()));
    // A name that is no queue ID is not even tried.
    CPPUNIT_ASSERT(file::write_file_atomic(f.spare("not-an-id"), "x", 0600).ok());
    SparePool pool(f.spool.dir(Folder::Spare));
    uint64_t old_size = 0;
    std::string to = file::join(f.spool.dir(Folder::Incoming), ".tmp.x");
    auto fd = pool.take(to, system_ops(), &old_size);
    CPPUNIT_ASSERT(!fd.ok());
    CPPUNIT_ASSERT(!file::exists(to));
    CPPUNIT_ASSERT(!file::exists(f.spare(id)));
    CPPUNIT_ASSERT(file::exists(other));
    CPPUNIT_ASSERT(file::exists(f.spare("not-an-id")));
  }

  void without_spare_folder_files_are_unlinked() {
    Fixture f;
    CPPUNIT_ASSERT_EQUAL(0, ::rmdir(f.spool.dir(Folder::Spare).c_str()));  // a spool from before spare/
    std::string id = f.queued("hello");
    CPPUNIT_ASSERT(*retire(f.active(id), f.spare(id)) == Retired::Removed);
    CPPUNIT_ASSERT(!file::exists(f.active(id)));
    CPPUNIT_ASSERT(!count_spare(f.spool.dir(Folder::Spare)).ok());
    SparePool pool(f.spool.dir(Folder::Spare));
    CPPUNIT_ASSERT(!f.queued("again", &pool).empty());  // a new file, as before
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(SpareTest);

}  // namespace postilion::queue
