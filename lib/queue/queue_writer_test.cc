// lib/queue/queue_writer_test.cc - the writer's crash safety through the file-ops seam:
// injected failures and crashes after every step, buffering, abort, group commit.
#include "lib/queue/queue_writer.h"

#include <cppunit/extensions/HelperMacros.h>

#include <unistd.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "lib/base/file.h"
#include "lib/queue/queue_id.h"
#include "lib/queue/test_util.h"
#include "lib/testing/temp_dir.h"

namespace postilion::queue {
namespace {

// One message: 3 records' worth of envelope and ~150 KiB of content in 1 KiB chunks,
// so the run spans several buffered writes.
Result<std::string> write_message(const std::string& dir, FileOps& ops) {
  auto w = QueueWriter::create(dir, ops);
  if (!w) return w.error();
  QueueWriter& q = **w;
  Status st = q.sender("s@example.org");
  if (st) st = q.attribute("helo", "mx.example");
  if (st) st = q.recipient("a@example.org", "rfc822;a@example.org", kNotifyFailure);
  for (int i = 0; st && i < 150; ++i) st = q.append_content(std::string(1024, static_cast<char>('a' + i % 26)));
  if (!st) return st.error();
  return q.commit();
}

size_t index_of(const std::vector<std::string>& log, const std::string& op, size_t from = 0) {
  for (size_t i = from; i < log.size(); ++i)
    if (log[i] == op) return i;
  return std::string::npos;
}

}  // namespace

class QueueWriterTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(QueueWriterTest);
  CPPUNIT_TEST(commit_leaves_one_named_file);
  CPPUNIT_TEST(abort_and_destructor_remove_temp);
  CPPUNIT_TEST(reserved_id_and_read_back);
  CPPUNIT_TEST(few_write_calls);
  CPPUNIT_TEST(injected_failure_at_every_step);
  CPPUNIT_TEST(crash_after_every_step);
  CPPUNIT_TEST(group_commit_batches_dir_fsync);
  CPPUNIT_TEST(finish_commit_in_worker_thread);
  CPPUNIT_TEST(reserved_id_and_final_dir);
  CPPUNIT_TEST_SUITE_END();

 public:
  void commit_leaves_one_named_file() {
    postilion::testing::TempDir tmp;
    testing::FaultyOps ops;
    auto id = write_message(tmp.path(), ops);
    CPPUNIT_ASSERT(id.ok());
    CPPUNIT_ASSERT(valid_id(*id));
    CPPUNIT_ASSERT((testing::list_dir(tmp.path()) == std::vector<std::string>{*id}));
    // Durable before reported: fsync(file) < rename < fsync_dir, in that order.
    size_t fs = index_of(ops.log, "fsync"), rn = index_of(ops.log, "rename"), fd = index_of(ops.log, "fsync_dir");
    CPPUNIT_ASSERT(fs != std::string::npos && rn != std::string::npos && fd != std::string::npos);
    CPPUNIT_ASSERT(fs < rn && rn < fd);
    CPPUNIT_ASSERT_EQUAL(std::string("fsync_dir"), ops.log.back());
    auto f = read_queue_file(file::join(tmp.path(), *id));
    CPPUNIT_ASSERT(f->parsed.status == Parse::Complete);
    CPPUNIT_ASSERT_EQUAL(uint64_t{150 * 1024}, f->parsed.file.content_length);
  }

  // The ID logged before the commit is the one the file gets; a held message goes
  // straight to hold/ and that folder is the one fsynced.
  void reserved_id_and_final_dir() {
    postilion::testing::TempDir tmp;
    std::string in = tmp.file("incoming"), hold = tmp.file("hold");
    CPPUNIT_ASSERT(file::make_dirs(in, 0700).ok() && file::make_dirs(hold, 0700).ok());
    testing::FaultyOps ops;
    auto w = QueueWriter::create(in, ops);
    CPPUNIT_ASSERT(w.ok());
    std::string reserved = (*w)->reserve_id();
    CPPUNIT_ASSERT(valid_id(reserved));
    CPPUNIT_ASSERT_EQUAL(reserved, (*w)->reserve_id());
    CPPUNIT_ASSERT((*w)->recipient("a@example.org").ok());
    CPPUNIT_ASSERT((*w)->append_content("Subject: x\r\n\r\nbody\r\n").ok());
    (*w)->set_final_dir(hold);
    auto id = (*w)->commit();
    CPPUNIT_ASSERT(id.ok());
    CPPUNIT_ASSERT_EQUAL(reserved, *id);
    CPPUNIT_ASSERT((testing::list_dir(hold) == std::vector<std::string>{reserved}));
    CPPUNIT_ASSERT(testing::list_dir(in).empty());
    CPPUNIT_ASSERT_EQUAL(std::string("fsync_dir"), ops.log.back());
    CPPUNIT_ASSERT((ops.synced_dirs == std::vector<std::string>{hold}));
  }

  // The ID chosen before the commit is the one the file gets, also by a second writer
  // for the same message; the prepared content can be read back at content_offset().
  void reserved_id_and_read_back() {
    postilion::testing::TempDir tmp;
    auto w = QueueWriter::create(tmp.path());
    CPPUNIT_ASSERT((*w)->recipient("a@b").ok());
    CPPUNIT_ASSERT((*w)->append_content("Subject: x\r\n\r\nbody\r\n").ok());
    std::string id = (*w)->reserve_id();
    CPPUNIT_ASSERT(valid_id(id));
    CPPUNIT_ASSERT_EQUAL(id, (*w)->reserve_id());
    CPPUNIT_ASSERT((*w)->prepare_commit().ok());
    char buf[32] = {};
    CPPUNIT_ASSERT_EQUAL(ssize_t{20}, ::pread((*w)->fd(), buf, 20, static_cast<off_t>((*w)->content_offset())));
    CPPUNIT_ASSERT_EQUAL(std::string("Subject: x\r\n\r\nbody\r\n"), std::string(buf, 20));
    auto again = QueueWriter::create(tmp.path());
    CPPUNIT_ASSERT((*again)->recipient("c@d").ok());
    (*again)->adopt_id(id);
    (*w)->abort();
    auto got = (*again)->commit();
    CPPUNIT_ASSERT(got.ok());
    CPPUNIT_ASSERT_EQUAL(id, *got);
    // Taken already: another name, not a failure.
    auto third = QueueWriter::create(tmp.path());
    CPPUNIT_ASSERT((*third)->recipient("e@f").ok());
    (*third)->adopt_id(id);
    auto other = (*third)->commit();
    CPPUNIT_ASSERT(other.ok() && *other != id);
  }

  void abort_and_destructor_remove_temp() {
    postilion::testing::TempDir tmp;
    {
      auto w = QueueWriter::create(tmp.path());
      CPPUNIT_ASSERT((*w)->recipient("a@b").ok());
      CPPUNIT_ASSERT_EQUAL(size_t{1}, testing::list_dir(tmp.path()).size());
      CPPUNIT_ASSERT_EQUAL(0, testing::list_dir(tmp.path())[0].compare(0, 5, ".tmp."));
    }
    CPPUNIT_ASSERT(testing::list_dir(tmp.path()).empty());
    auto w = QueueWriter::create(tmp.path());
    CPPUNIT_ASSERT((*w)->recipient("a@b").ok());
    (*w)->abort();
    CPPUNIT_ASSERT(testing::list_dir(tmp.path()).empty());
    CPPUNIT_ASSERT(!(*w)->append_content("x").ok());
    CPPUNIT_ASSERT(!(*w)->commit().ok());
    CPPUNIT_ASSERT(testing::list_dir(tmp.path()).empty());
  }

  void few_write_calls() {
    postilion::testing::TempDir tmp;
    testing::FaultyOps ops;
    ops.skip_sync = true;
    auto w = QueueWriter::create(tmp.path(), ops);
    CPPUNIT_ASSERT((*w)->recipient("a@b").ok());
    const size_t kTotal = 1 << 20;
    for (size_t i = 0; i < kTotal; i += 100) CPPUNIT_ASSERT((*w)->append_content(std::string(100, 'x')).ok());
    CPPUNIT_ASSERT((*w)->commit().ok());
    // 1 MiB in 100-byte pieces: about 1 MiB / 64 KiB writes, not 10,000.
    CPPUNIT_ASSERT(ops.count("write") <= 18);
    CPPUNIT_ASSERT(ops.count("write") >= 16);
  }

  // Each step fails once (ENOSPC at writes, EIO elsewhere): commit reports the error,
  // and the folder is left empty - nothing half-written, nothing named.
  void injected_failure_at_every_step() {
    postilion::testing::TempDir probe;
    testing::FaultyOps count;
    CPPUNIT_ASSERT(write_message(probe.path(), count).ok());
    const int steps = count.step;
    CPPUNIT_ASSERT(steps >= 6);
    for (int n = 0; n < steps; ++n) {
      postilion::testing::TempDir tmp;
      testing::FaultyOps ops;
      ops.mode = testing::FaultyOps::Mode::FailOnce;
      ops.fail_step = n;
      ops.fail_errno = count.log[n] == "write" ? ENOSPC : EIO;
      auto id = write_message(tmp.path(), ops);
      std::string ctx = "step " + std::to_string(n) + " (" + count.log[n] + ")";
      CPPUNIT_ASSERT_MESSAGE(ctx, !id.ok());
      CPPUNIT_ASSERT_MESSAGE(ctx, id.error().temporary());
      CPPUNIT_ASSERT_MESSAGE(ctx + ": " + id.error().str(), testing::list_dir(tmp.path()).empty());
      if (count.log[n] == "write") CPPUNIT_ASSERT_EQUAL(ENOSPC, id.error().code());
    }
  }

  // The process dies before step n (no step from n on happens, cleanup included).
  // Whatever is left under a non-dot name is a complete, fsync'd queue file, and a
  // commit is reported only when every step ran.
  void crash_after_every_step() {
    postilion::testing::TempDir probe;
    testing::FaultyOps count;
    CPPUNIT_ASSERT(write_message(probe.path(), count).ok());
    const int steps = count.step;
    for (int n = 0; n <= steps; ++n) {
      postilion::testing::TempDir tmp;
      testing::FaultyOps ops;
      ops.mode = testing::FaultyOps::Mode::Crash;
      ops.fail_step = n;
      auto id = write_message(tmp.path(), ops);
      CPPUNIT_ASSERT_EQUAL_MESSAGE("step " + std::to_string(n), n == steps, id.ok());
      for (const std::string& name : testing::list_dir(tmp.path())) {
        if (name[0] == '.') continue;  // temp names: readers skip them
        CPPUNIT_ASSERT(valid_id(name));
        auto f = read_queue_file(file::join(tmp.path(), name));
        CPPUNIT_ASSERT(f.ok() && f->parsed.status == Parse::Complete);
        // It got its name only after its fsync.
        CPPUNIT_ASSERT(index_of(ops.log, "fsync") < index_of(ops.log, "rename"));
      }
    }
  }

  void group_commit_batches_dir_fsync() {
    postilion::testing::TempDir tmp;
    testing::FaultyOps ops;
    std::vector<std::unique_ptr<QueueWriter>> ws;
    std::vector<QueueWriter*> ptrs;
    for (int i = 0; i < 5; ++i) {
      auto w = QueueWriter::create(tmp.path(), ops);
      CPPUNIT_ASSERT((*w)->recipient("r" + std::to_string(i) + "@b").ok());
      CPPUNIT_ASSERT((*w)->append_content("message " + std::to_string(i)).ok());
      CPPUNIT_ASSERT((*w)->prepare_commit().ok());
      ptrs.push_back(w->get());
      ws.push_back(std::move(w.value()));
    }
    ops.log.clear();
    auto ids = QueueWriter::finish_commit_group(ptrs);
    CPPUNIT_ASSERT_EQUAL(5, ops.count("fsync"));
    CPPUNIT_ASSERT_EQUAL(1, ops.count("fsync_dir"));
    // Every file's writing starts before the first fsync waits.
    CPPUNIT_ASSERT_EQUAL(5, ops.count("writeback"));
    CPPUNIT_ASSERT_EQUAL(size_t(5), index_of(ops.log, "fsync"));
    std::set<std::string> uniq;
    for (auto& id : ids) {
      CPPUNIT_ASSERT(id.ok());
      uniq.insert(*id);
      auto f = read_queue_file(file::join(tmp.path(), *id));
      CPPUNIT_ASSERT(f->parsed.status == Parse::Complete);
    }
    CPPUNIT_ASSERT_EQUAL(size_t{5}, uniq.size());
    CPPUNIT_ASSERT_EQUAL(size_t{5}, testing::list_dir(tmp.path()).size());

    // A failed dir fsync fails the whole group and takes the names back.
    postilion::testing::TempDir tmp2;
    testing::FaultyOps bad;
    std::vector<std::unique_ptr<QueueWriter>> ws2;
    std::vector<QueueWriter*> ptrs2;
    for (int i = 0; i < 3; ++i) {
      auto w = QueueWriter::create(tmp2.path(), bad);
      CPPUNIT_ASSERT((*w)->recipient("a@b").ok() && (*w)->prepare_commit().ok());
      ptrs2.push_back(w->get());
      ws2.push_back(std::move(w.value()));
    }
    bad.mode = testing::FaultyOps::Mode::FailOnce;
    bad.fail_step = bad.step + 6;  // 3 fsyncs, 3 renames, then the dir fsync
    auto ids2 = QueueWriter::finish_commit_group(ptrs2);
    for (auto& id : ids2) CPPUNIT_ASSERT(!id.ok());
    CPPUNIT_ASSERT(testing::list_dir(tmp2.path()).empty());
  }

  void finish_commit_in_worker_thread() {
    postilion::testing::TempDir tmp;
    auto w = QueueWriter::create(tmp.path());
    CPPUNIT_ASSERT((*w)->recipient("a@b").ok());
    CPPUNIT_ASSERT((*w)->append_content("hello\r\n").ok());
    CPPUNIT_ASSERT((*w)->prepare_commit().ok());
    CPPUNIT_ASSERT(!(*w)->append_content("late").ok());
    Result<std::string> id = Error("not run");
    std::thread t([&] { id = (*w)->finish_commit(); });
    t.join();
    CPPUNIT_ASSERT(id.ok());
    CPPUNIT_ASSERT((testing::list_dir(tmp.path()) == std::vector<std::string>{*id}));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(QueueWriterTest);

}  // namespace postilion::queue
