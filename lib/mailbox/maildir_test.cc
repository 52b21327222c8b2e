// lib/mailbox/maildir_test.cc - Maildir delivery, scanning with stable UIDs, reading
// moved messages, removal, the session lock, and recovery from a damaged index.
#include "lib/mailbox/maildir.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cppunit/extensions/HelperMacros.h>

#include <cstdlib>

#include "lib/base/file.h"
#include "lib/testing/temp_dir.h"

using namespace postilion;
using namespace postilion::mailbox;

class MaildirTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(MaildirTest);
  CPPUNIT_TEST(deliver_and_scan);
  CPPUNIT_TEST(stable_uids);
  CPPUNIT_TEST(moved_and_removed);
  CPPUNIT_TEST(hostile_names);
  CPPUNIT_TEST(damaged_index);
  CPPUNIT_TEST(session_lock);
  CPPUNIT_TEST(refuses_symlinks);
  CPPUNIT_TEST(recreated_after_removal);
  CPPUNIT_TEST(arrival_order);
  CPPUNIT_TEST_SUITE_END();

 public:
  void deliver_and_scan() {
    testing::TempDir t;
    std::string md = t.file("Maildir");
    CPPUNIT_ASSERT_EQUAL(ENOENT, Maildir::open(md).error().code());
    auto d1 = deliver(md, "Subject: one\n\nbody\n");
    auto d2 = deliver(md, "Subject: two\r\n\r\nbody two\r\n");
    CPPUNIT_ASSERT(d1.ok() && d2.ok());
    CPPUNIT_ASSERT(d1->key != d2->key);
    CPPUNIT_ASSERT(valid_name(d1->key));
    struct stat st;
    CPPUNIT_ASSERT(::stat(d1->file.c_str(), &st) == 0 && (st.st_mode & 0777) == 0600);
    CPPUNIT_ASSERT(::stat((md + "/tmp").c_str(), &st) == 0 && (st.st_mode & 0777) == 0700);
    auto tmp = file::read_file(md + "/tmp/" + d1->key);
    CPPUNIT_ASSERT(!tmp.ok());  // nothing left behind in tmp/
    auto box = Maildir::open(md);
    CPPUNIT_ASSERT(box.ok());
    auto snap = box->scan();
    CPPUNIT_ASSERT(snap.ok());
    CPPUNIT_ASSERT_EQUAL(size_t(2), snap->messages.size());
    CPPUNIT_ASSERT_EQUAL(uint32_t(1), snap->messages[0].uid);
    CPPUNIT_ASSERT_EQUAL(uint32_t(2), snap->messages[1].uid);
    CPPUNIT_ASSERT_EQUAL(uint32_t(3), snap->next_uid);
    CPPUNIT_ASSERT(snap->uid_validity != 0);
    CPPUNIT_ASSERT_EQUAL(uint64_t(19), snap->messages[0].size);
    CPPUNIT_ASSERT_EQUAL(uint64_t(22), snap->messages[0].vsize);  // three LFs become CRLF
    CPPUNIT_ASSERT_EQUAL(uint64_t(26), snap->messages[1].vsize);  // already CRLF
    auto text = box->read(snap->messages[1]);
    CPPUNIT_ASSERT(text.ok() && *text == "Subject: two\r\n\r\nbody two\r\n");
  }

  void stable_uids() {
    testing::TempDir t;
    std::string md = t.file("Maildir");
    for (int i = 0; i < 5; ++i) CPPUNIT_ASSERT(deliver(md, "Subject: " + std::to_string(i) + "\n\nx\n").ok());
    auto box = Maildir::open(md);
    auto a = box->scan();
    CPPUNIT_ASSERT(a.ok());
    // Another handle (another session) sees the same numbering.
    auto b = Maildir::open(md)->scan();
    CPPUNIT_ASSERT(b.ok());
    CPPUNIT_ASSERT_EQUAL(a->uid_validity, b->uid_validity);
    for (size_t i = 0; i < 5; ++i) {
      CPPUNIT_ASSERT_EQUAL(a->messages[i].key, b->messages[i].key);
      CPPUNIT_ASSERT_EQUAL(a->messages[i].uid, b->messages[i].uid);
    }
    // Remove uid 2 and deliver more: the gone UID is never reused.
    CPPUNIT_ASSERT(box->remove(a->messages[1]).ok());
    CPPUNIT_ASSERT(deliver(md, "Subject: late\n\nx\n").ok());
    auto c = box->scan();
    CPPUNIT_ASSERT(c.ok());
    std::vector<uint32_t> uids;
    for (auto& m : c->messages) uids.push_back(m.uid);
    CPPUNIT_ASSERT((uids == std::vector<uint32_t>{1, 3, 4, 5, 6}));
    CPPUNIT_ASSERT_EQUAL(a->uid_validity, c->uid_validity);
  }

  void moved_and_removed() {
    testing::TempDir t;
    std::string md = t.file("Maildir");
    auto d = deliver(md, "Subject: x\n\nhello\n");
    CPPUNIT_ASSERT(d.ok());
    auto box = Maildir::open(md);
    auto s = box->scan();
    CPPUNIT_ASSERT(s.ok() && s->messages.size() == 1 && s->messages[0].is_new());
    Message m = s->messages[0];
    // An IMAP client marks it seen: the file moves to cur/ with flags; UID unchanged.
    CPPUNIT_ASSERT(::rename((md + "/new/" + d->key).c_str(), (md + "/cur/" + d->key + ":2,S").c_str()) == 0);
    auto text = box->read(m);  // found again by its key
    CPPUNIT_ASSERT(text.ok() && *text == "Subject: x\n\nhello\n");
    auto s2 = box->scan();
    CPPUNIT_ASSERT(s2.ok() && s2->messages.size() == 1);
    CPPUNIT_ASSERT_EQUAL(m.uid, s2->messages[0].uid);
    CPPUNIT_ASSERT_EQUAL(std::string("S"), s2->messages[0].flags);
    CPPUNIT_ASSERT(!s2->messages[0].is_new());
    CPPUNIT_ASSERT(box->remove(m).ok());  // old name: found by key and removed
    CPPUNIT_ASSERT(box->remove(m).ok());  // gone already: not an error
    CPPUNIT_ASSERT(box->sync().ok());
    CPPUNIT_ASSERT_EQUAL(ENOENT, box->read(m).error().code());
    CPPUNIT_ASSERT(box->scan()->messages.empty());
  }

  // Dot files, directories, symbolic links and names with control characters are not
  // messages.
  void hostile_names() {
    testing::TempDir t;
    std::string md = t.file("Maildir");
    CPPUNIT_ASSERT(deliver(md, "Subject: real\n\n").ok());
    CPPUNIT_ASSERT(file::write_file_atomic(md + "/new/.hidden", "x", 0600).ok());
    CPPUNIT_ASSERT(file::write_file_atomic(md + "/new/bad\x01name", "x", 0600).ok());
    CPPUNIT_ASSERT(::mkdir((md + "/cur/adir").c_str(), 0700) == 0);
    CPPUNIT_ASSERT(::symlink("/etc/passwd", (md + "/cur/link:2,").c_str()) == 0);
    auto s = Maildir::open(md)->scan();
    CPPUNIT_ASSERT(s.ok());
    CPPUNIT_ASSERT_EQUAL(size_t(1), s->messages.size());
    CPPUNIT_ASSERT(!valid_name(".x") && !valid_name("") && !valid_name("a\nb") && valid_name("1.2.h:2,S"));
    CPPUNIT_ASSERT_EQUAL(std::string("1.2.h"), key_of("1.2.h:2,S"));
  }

  // A damaged index is set aside and the mailbox renumbered (mailbox_test.cc has the
  // cases where the old UIDs are recovered).
  void damaged_index() {
    testing::TempDir t;
    std::string md = t.file("Maildir");
    for (int i = 0; i < 3; ++i) CPPUNIT_ASSERT(deliver(md, "Subject: x\n\n").ok());
    auto box = Maildir::open(md);
    auto a = box->scan();
    CPPUNIT_ASSERT(a.ok());
    auto good = file::read_file(md + "/" + kMailboxIndex);
    CPPUNIT_ASSERT(good.ok());
    for (size_t cut : {size_t(0), size_t(100), good->size() / 2, good->size() - 1}) {
      CPPUNIT_ASSERT(file::write_file_atomic(md + "/" + kMailboxIndex, good->substr(0, cut), 0600).ok());
      auto b = box->scan();
      CPPUNIT_ASSERT_MESSAGE(b.ok() ? "" : b.error().str(), b.ok());
      CPPUNIT_ASSERT_EQUAL(size_t(3), b->messages.size());
      CPPUNIT_ASSERT_EQUAL(uint32_t(1), b->messages[0].uid);
      CPPUNIT_ASSERT_EQUAL(uint32_t(4), b->next_uid);
      CPPUNIT_ASSERT(box->scan().ok());
      if (cut > 0) CPPUNIT_ASSERT(file::exists(md + "/" + kMailboxIndex + ".corrupt"));
    }
  }

  void session_lock() {
    testing::TempDir t;
    std::string md = t.file("Maildir");
    CPPUNIT_ASSERT(deliver(md, "x").ok());
    auto l1 = lock_session(md, "pop3");
    CPPUNIT_ASSERT(l1.ok());
    // flock locks belong to the open file: a second open, even in this process, is refused.
    auto l2 = lock_session(md, "pop3");
    CPPUNIT_ASSERT(!l2.ok());
    CPPUNIT_ASSERT_EQUAL(EWOULDBLOCK, l2.error().code());
    l1->reset();
    CPPUNIT_ASSERT(lock_session(md, "pop3").ok());
  }

  void refuses_symlinks() {
    testing::TempDir t;
    CPPUNIT_ASSERT(::mkdir(t.file("elsewhere").c_str(), 0700) == 0);
    CPPUNIT_ASSERT(::symlink(t.file("elsewhere").c_str(), t.file("Maildir").c_str()) == 0);
    CPPUNIT_ASSERT(!deliver(t.file("Maildir"), "x").ok());
    CPPUNIT_ASSERT(::mkdir(t.file("M2").c_str(), 0700) == 0);
    CPPUNIT_ASSERT(::symlink(t.file("elsewhere").c_str(), t.file("M2/new").c_str()) == 0);
    CPPUNIT_ASSERT(!deliver(t.file("M2"), "x").ok());
    CPPUNIT_ASSERT(!Maildir::open(t.file("M2")).ok());
  }

  // The process remembers a Maildir it has checked; one removed or emptied of its
  // folders since is noticed at the next delivery and made again.
  void arrival_order();

  void recreated_after_removal() {
    testing::TempDir t;
    std::string md = t.file("Maildir");
    struct Row {
      const char* remove;  // removed after the first delivery
    } rows[] = {{"/tmp"}, {"/new"}, {""}};
    for (const Row& row : rows) {
      CPPUNIT_ASSERT(deliver(md, "Subject: first\n\nx\n").ok());
      std::string victim = md + row.remove;
      CPPUNIT_ASSERT_EQUAL(0, std::system(("rm -rf '" + victim + "'").c_str()));
      auto d = deliver(md, "Subject: second\n\nx\n");
      CPPUNIT_ASSERT_MESSAGE(std::string("after removing ") + row.remove, d.ok());
      struct stat st;
      CPPUNIT_ASSERT(::stat(d->file.c_str(), &st) == 0 && S_ISREG(st.st_mode));
      for (const char* sub : {"/tmp", "/new", "/cur"})
        CPPUNIT_ASSERT(::stat((md + sub).c_str(), &st) == 0 && S_ISDIR(st.st_mode));
    }
    // A regular file where a folder was: an error, not a delivery elsewhere.
    CPPUNIT_ASSERT_EQUAL(0, std::system(("rm -rf '" + md + "/tmp' && touch '" + md + "/tmp'").c_str()));
    CPPUNIT_ASSERT(!deliver(md, "x").ok());
  }
};

// Names of one second compare by their microseconds as numbers; other shapes by text.
void MaildirTest::arrival_order() {
  struct Row {
    const char* a;
    const char* b;
    bool before;
  } rows[] = {
      {"1700000000.M98P1Q1.h", "1700000000.M123P1Q2.h", true},
      {"1700000000.M123P1Q2.h", "1700000000.M98P1Q1.h", false},
      {"1700000000.M999999P9.h", "1700000001.M0P1.h", true},
      {"999999999.M5P1.h", "1700000000.M1P1.h", true},  // fewer digits, earlier second
      {"1700000000.M5P1.a", "1700000000.M5P1.b", true},  // same time: by text
      {"1700000000.M5P1.b", "1700000000.M5P1.a", false},
      {"1700000000.M5P1.a", "1700000000.M5P1.a", false},
      {"b", "a", false},                                  // no time: by text
      {"1700000000.M5", "1700000000.x", true},
      {"1700000000.M", "1700000000.M0", true},            // no digits after M: by text
      {"99999999999999999999.M1", "1.M1", false},         // too long to be a time: by text
      {"", "1.M1", true},
  };
  for (const auto& r : rows)
    CPPUNIT_ASSERT_EQUAL_MESSAGE(std::string(r.a) + " < " + r.b, r.before, arrival_before(r.a, r.b));
}

CPPUNIT_TEST_SUITE_REGISTRATION(MaildirTest);
