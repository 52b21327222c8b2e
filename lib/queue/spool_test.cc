// lib/queue/spool_test.cc - spool creation and checks, moves between folders, and
// quarantine of unreadable files to corrupt/.
#include "lib/queue/spool.h"

#include <cppunit/extensions/HelperMacros.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "lib/base/file.h"
#include "lib/log/log.h"
#include "lib/queue/queue_file.h"
#include "lib/queue/queue_id.h"
#include "lib/queue/queue_writer.h"
#include "lib/queue/test_util.h"
#include "lib/testing/temp_dir.h"

namespace postilion::queue {

class SpoolTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(SpoolTest);
  CPPUNIT_TEST(create_and_check);
  CPPUNIT_TEST(check_reports_problems);
  CPPUNIT_TEST(owners_of_public_and_pid);
  CPPUNIT_TEST(move_between_folders);
  CPPUNIT_TEST(quarantine_unreadable);
  CPPUNIT_TEST(list_and_sweep);
  CPPUNIT_TEST_SUITE_END();

 public:
  SpoolOwners me() { return {::geteuid(), ::getegid(), ::getegid()}; }

  void create_and_check() {
    postilion::testing::TempDir tmp;
    Spool spool(tmp.file("spool"));
    CPPUNIT_ASSERT(spool.create(me()).ok());
    CPPUNIT_ASSERT(spool.check(me()).empty());
    struct Row {
      Folder f;
      mode_t mode;
    } rows[] = {{Folder::Maildrop, 01730}, {Folder::Public, 0710}, {Folder::Private, 0700},
                {Folder::Incoming, 0700},  {Folder::Corrupt, 0700}, {Folder::Pid, 0700}};
    for (const Row& r : rows) {
      struct stat st;
      CPPUNIT_ASSERT_EQUAL(0, ::stat(spool.dir(r.f).c_str(), &st));
      CPPUNIT_ASSERT_EQUAL_MESSAGE(folder_name(r.f), unsigned{r.mode}, unsigned{st.st_mode & 07777u});
    }
    // Idempotent, and repairs modes.
    ::chmod(spool.dir(Folder::Active).c_str(), 0755);
    CPPUNIT_ASSERT(spool.create(me()).ok());
    CPPUNIT_ASSERT(spool.check(me()).empty());
    Folder f;
    CPPUNIT_ASSERT(parse_folder("deferred", &f) && f == Folder::Deferred);
    CPPUNIT_ASSERT(!parse_folder("../etc", &f));
    CPPUNIT_ASSERT_EQUAL(tmp.file("spool") + "/hold/X", spool.path(Folder::Hold, "X"));
  }

  void check_reports_problems() {
    postilion::testing::TempDir tmp;
    Spool spool(tmp.path());
    CPPUNIT_ASSERT(spool.create(me()).ok());
    ::chmod(spool.dir(Folder::Incoming).c_str(), 0777);
    ::rmdir(spool.dir(Folder::Hold).c_str());
    auto problems = spool.check(me());
    CPPUNIT_ASSERT_EQUAL(size_t{2}, problems.size());
    std::string inc = spool.dir(Folder::Incoming);
    CPPUNIT_ASSERT_EQUAL(inc + ": mode 0777, expected 0700", problems[0].what);
    CPPUNIT_ASSERT_EQUAL("chmod 0700 " + inc, problems[0].remedy);
    CPPUNIT_ASSERT_EQUAL(spool.dir(Folder::Hold) + " is missing", problems[1].what);
    // A different expected owner is reported with a chown remedy.
    SpoolOwners other = me();
    other.uid += 1;
    bool saw_chown = false;
    for (auto& p : spool.check(other)) saw_chown |= p.remedy.rfind("chown ", 0) == 0;
    CPPUNIT_ASSERT(saw_chown);
    CPPUNIT_ASSERT_EQUAL(size_t{1}, Spool(tmp.file("nope")).check(me()).size());
  }

  // public/ (showq's socket) is mail_owner's with the drop group, 0710; pid/ is root's
  // when root_pid is set (a master run as root) and mail_owner's otherwise.
  void owners_of_public_and_pid() {
    SpoolOwners o{1001, 1002, 1003};
    struct Row {
      Folder f;
      bool root_pid;
      uid_t uid;
      gid_t gid;
      mode_t mode;
    } rows[] = {
        {Folder::Public, false, 1001, 1003, 0710},  {Folder::Public, true, 1001, 1003, 0710},
        {Folder::Maildrop, true, 1001, 1003, 01730}, {Folder::Private, true, 1001, 1002, 0700},
        {Folder::Pid, false, 1001, 1002, 0700},      {Folder::Pid, true, 0, 0, 0700},
        {Folder::Deferred, true, 1001, 1002, 0700},
    };
    for (const Row& r : rows) {
      o.root_pid = r.root_pid;
      CPPUNIT_ASSERT_EQUAL_MESSAGE(folder_name(r.f), r.uid, folder_uid(r.f, o));
      CPPUNIT_ASSERT_EQUAL_MESSAGE(folder_name(r.f), r.gid, folder_gid(r.f, o));
      CPPUNIT_ASSERT_EQUAL_MESSAGE(folder_name(r.f), unsigned{r.mode}, unsigned{folder_mode(r.f)});
    }
    // check() wants pid/ root's once root_pid is set: one problem, with its remedy.
    postilion::testing::TempDir tmp;
    Spool spool(tmp.path());
    CPPUNIT_ASSERT(spool.create(me()).ok());
    if (::geteuid() != 0) {
      SpoolOwners root_pid = me();
      root_pid.root_pid = true;
      auto problems = spool.check(root_pid);
      CPPUNIT_ASSERT(!problems.empty());
      for (const auto& p : problems) CPPUNIT_ASSERT(p.what.rfind(spool.dir(Folder::Pid) + ":", 0) == 0);
      CPPUNIT_ASSERT(problems[0].remedy.rfind("chown root ", 0) == 0);
      return;
    }
    // As root: a spool for another mail_owner, made and checked for real.
    SpoolOwners other{65534, 65534, 65533, true};
    CPPUNIT_ASSERT(spool.create(other).ok());
    CPPUNIT_ASSERT(spool.check(other).empty());
    for (Folder f : kAllFolders) {
      struct stat st;
      CPPUNIT_ASSERT_EQUAL(0, ::stat(spool.dir(f).c_str(), &st));
      CPPUNIT_ASSERT_EQUAL_MESSAGE(folder_name(f), folder_uid(f, other), st.st_uid);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(folder_name(f), folder_gid(f, other), st.st_gid);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(folder_name(f), unsigned{folder_mode(f)}, unsigned{st.st_mode & 07777u});
    }
    struct stat st;
    CPPUNIT_ASSERT_EQUAL(0, ::stat(spool.dir(Folder::Pid).c_str(), &st));
    CPPUNIT_ASSERT_EQUAL(uid_t{0}, st.st_uid);
    // The same spool made again without root_pid gives pid/ back to mail_owner.
    other.root_pid = false;
    CPPUNIT_ASSERT(!spool.check(other).empty());
    CPPUNIT_ASSERT(spool.create(other).ok());
    CPPUNIT_ASSERT(spool.check(other).empty());
    CPPUNIT_ASSERT_EQUAL(0, ::stat(spool.dir(Folder::Pid).c_str(), &st));
    CPPUNIT_ASSERT_EQUAL(uid_t{65534}, st.st_uid);
  }

  void move_between_folders() {
    postilion::testing::TempDir tmp;
    Spool spool(tmp.path());
    CPPUNIT_ASSERT(spool.create(me()).ok());
    auto w = QueueWriter::create(spool.dir(Folder::Incoming));
    CPPUNIT_ASSERT((*w)->recipient("a@b").ok());
    auto id = (*w)->commit();
    CPPUNIT_ASSERT(id.ok());
    testing::FaultyOps ops;
    CPPUNIT_ASSERT(spool.move(Folder::Incoming, Folder::Active, *id, ops).ok());
    CPPUNIT_ASSERT((ops.log == std::vector<std::string>{"rename", "fsync_dir", "fsync_dir"}));
    CPPUNIT_ASSERT(!file::exists(spool.path(Folder::Incoming, *id)));
    CPPUNIT_ASSERT(file::exists(spool.path(Folder::Active, *id)));
    CPPUNIT_ASSERT(!spool.move(Folder::Incoming, Folder::Active, *id).ok());  // gone
    CPPUNIT_ASSERT(!spool.move(Folder::Active, Folder::Hold, "../../x").ok());
    CPPUNIT_ASSERT(file::exists(spool.path(Folder::Active, *id)));
  }

  void quarantine_unreadable() {
    postilion::testing::TempDir tmp;
    Spool spool(tmp.file("spool"));
    CPPUNIT_ASSERT(spool.create(me()).ok());
    std::string id = make_id(next_id_time(), 77);
    CPPUNIT_ASSERT(file::write_file_atomic(spool.path(Folder::Active, id), "PSTQ\0\1garbage", 0600).ok());
    auto f = read_queue_file(spool.path(Folder::Active, id));
    CPPUNIT_ASSERT(f.ok());
    CPPUNIT_ASSERT(f->parsed.status != Parse::Complete);
    log::init("queue_test");
    CPPUNIT_ASSERT(log::use_file(tmp.file("maillog")).ok());
    CPPUNIT_ASSERT(spool.quarantine(Folder::Active, id, f->parsed.error).ok());
    log::use_stderr();
    CPPUNIT_ASSERT(!file::exists(spool.path(Folder::Active, id)));
    CPPUNIT_ASSERT(file::exists(spool.path(Folder::Corrupt, id)));
    auto text = file::read_file(tmp.file("maillog"));
    CPPUNIT_ASSERT(text.ok());
    CPPUNIT_ASSERT_MESSAGE(*text, text->find(id + ": moved to corrupt/ from active/: ") != std::string::npos);
    CPPUNIT_ASSERT(text->find("warning:") != std::string::npos);
  }

  void list_and_sweep() {
    postilion::testing::TempDir tmp;
    Spool spool(tmp.path());
    CPPUNIT_ASSERT(spool.create(me()).ok());
    std::vector<std::string> committed;
    for (int i = 0; i < 3; ++i) {
      auto w = QueueWriter::create(spool.dir(Folder::Incoming));
      CPPUNIT_ASSERT((*w)->recipient("a@b").ok());
      committed.push_back((*w)->commit().value());
    }
    auto open_writer = QueueWriter::create(spool.dir(Folder::Incoming));  // a live temp file
    CPPUNIT_ASSERT(open_writer.ok());
    std::string old_tmp = spool.dir(Folder::Incoming) + "/.tmp.1.1.1";
    std::string strange = spool.dir(Folder::Incoming) + "/not-an-id";
    CPPUNIT_ASSERT(file::write_file_atomic(old_tmp, "half", 0600).ok());
    CPPUNIT_ASSERT(file::write_file_atomic(strange, "?", 0600).ok());
    struct timespec old[2] = {{1000000000, 0}, {1000000000, 0}};
    CPPUNIT_ASSERT_EQUAL(0, ::utimensat(AT_FDCWD, old_tmp.c_str(), old, 0));

    std::vector<std::string> odd;
    auto ids = spool.list(Folder::Incoming, &odd);
    CPPUNIT_ASSERT(ids.ok());
    CPPUNIT_ASSERT(committed == *ids);  // sorted = commit order
    CPPUNIT_ASSERT((odd == std::vector<std::string>{"not-an-id"}));

    auto removed = spool.remove_stale_temp(Folder::Incoming, 3600);
    CPPUNIT_ASSERT(removed.ok());
    CPPUNIT_ASSERT_EQUAL(size_t{1}, *removed);
    CPPUNIT_ASSERT(!file::exists(old_tmp));
    CPPUNIT_ASSERT(file::exists((*open_writer)->temp_path()));  // young: left alone
    CPPUNIT_ASSERT_EQUAL(size_t{3}, spool.list(Folder::Incoming)->size());
    CPPUNIT_ASSERT(!Spool(tmp.file("none")).list(Folder::Active).ok());
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(SpoolTest);

}  // namespace postilion::queue
