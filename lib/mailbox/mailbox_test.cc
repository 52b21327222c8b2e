// lib/mailbox/mailbox_test.cc - the mailbox index: UIDs for life, sync with changes
// made behind its back, flag changes, expunge, append, copy, move, the cache, updates
// in place, and crashes and damage (truncated, garbage, dirty, foreign, killed).
#include "lib/mailbox/mailbox.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cppunit/extensions/HelperMacros.h>
#include <db_cxx.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "lib/base/file.h"
#include "lib/mailbox/index_db.h"
#include "lib/mailbox/maildir.h"
#include "lib/mailbox/uid_index.h"
#include "lib/mailbox/uidlist.h"
#include "lib/testing/temp_dir.h"

using namespace postilion;
using namespace postilion::mailbox;

namespace {

// Bytes this process has written with write(2) and friends so far.
uint64_t written_bytes() {
  std::ifstream in("/proc/self/io");
  std::string k;
  uint64_t v = 0;
  while (in >> k >> v)
    if (k == "wchar:") return v;
  return 0;
}

ino_t inode_of(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 ? st.st_ino : 0;
}

// A message file placed by hand (as another Maildir tool would), with a given mtime.
void put_file(const std::string& md, const std::string& rel, const std::string& text, time_t mtime) {
  CPPUNIT_ASSERT(file::write_file_atomic(md + "/" + rel, text, 0600).ok());
  struct timespec ts[2] = {{mtime, 0}, {mtime, 0}};
  CPPUNIT_ASSERT(::utimensat(AT_FDCWD, (md + "/" + rel).c_str(), ts, 0) == 0);
}

std::string make_maildir(const testing::TempDir& t, const std::string& name = "Maildir") {
  std::string md = t.file(name);
  for (const char* sub : {"", "/new", "/cur", "/tmp"}) ::mkdir((md + sub).c_str(), 0700);
  return md;
}

// Key -> UID of a view.
std::map<std::string, uint32_t> uids_of(const Snapshot& s) {
  std::map<std::string, uint32_t> m;
  for (const auto& msg : s.messages) m[msg.key] = msg.uid;
  return m;
}

// Moves a directory's mtime into the past, as if its last change were long ago, so a
// refresh trusts it (changes within the same second are rescanned on purpose).
void age_dirs(const std::string& md) {
  for (const char* sub : {"/new", "/cur"}) {
    struct timespec ts[2] = {{1000000000, 0}, {1000000000, 0}};
    ::utimensat(AT_FDCWD, (md + sub).c_str(), ts, 0);
  }
}

}  // namespace

class MailboxTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(MailboxTest);
  CPPUNIT_TEST(flags_codec);
  CPPUNIT_TEST(uids_in_delivery_order);
  CPPUNIT_TEST(uids_in_arrival_order_within_a_second);
  CPPUNIT_TEST(changes_behind_its_back);
  CPPUNIT_TEST(two_sessions_see_each_other);
  CPPUNIT_TEST(store_and_keywords);
  CPPUNIT_TEST(expunge_append_copy_move);
  CPPUNIT_TEST(cache_and_expunge_history);
  CPPUNIT_TEST(updates_in_place);
  CPPUNIT_TEST(truncated_and_garbage);
  CPPUNIT_TEST(dirty_index_keeps_uids);
  CPPUNIT_TEST(foreign_index);
  CPPUNIT_TEST(killed_writers);
  CPPUNIT_TEST(migrates_dovecot_and_old_index);
  CPPUNIT_TEST(record_codec_hostile);
  CPPUNIT_TEST(index_without_checksums_is_damaged);
  CPPUNIT_TEST_SUITE_END();

 public:
  void flags_codec() {
    Flags f = parse_info(":2,FRSab");
    CPPUNIT_ASSERT_EQUAL(uint8_t(kFlagged | kAnswered | kSeen), f.system);
    CPPUNIT_ASSERT_EQUAL(uint32_t(3), f.keywords);
    CPPUNIT_ASSERT_EQUAL(std::string("2,FRSab"), to_info(f));
    CPPUNIT_ASSERT_EQUAL(std::string("2,DFPRST"), to_info(parse_info("2,TSRPFD")));
    CPPUNIT_ASSERT(parse_info("1,S") == Flags{});  // experimental info: no flags
    CPPUNIT_ASSERT(parse_info("") == Flags{});
    CPPUNIT_ASSERT_EQUAL(std::string("2,z"), to_info(parse_info("2,z?!Z")));
  }

  void uids_in_delivery_order() {
    testing::TempDir t;
    std::string md = make_maildir(t);
    put_file(md, "new/b", "Subject: b\n\n", 2000);
    put_file(md, "new/a", "Subject: a\n\n", 3000);
    put_file(md, "cur/c:2,S", "Subject: c\n\n", 1000);
    auto box = Mailbox::open(md);
    CPPUNIT_ASSERT(box.ok());
    auto ch = box->refresh();
    CPPUNIT_ASSERT_MESSAGE(ch.ok() ? "" : ch.error().str(), ch.ok());
    CPPUNIT_ASSERT_EQUAL(size_t(3), ch->added.size());
    const auto& v = box->view();
    CPPUNIT_ASSERT_EQUAL(size_t(3), v.messages.size());
    CPPUNIT_ASSERT_EQUAL(std::string("c"), v.messages[0].key);  // oldest first
    CPPUNIT_ASSERT_EQUAL(std::string("b"), v.messages[1].key);
    CPPUNIT_ASSERT_EQUAL(std::string("a"), v.messages[2].key);
    CPPUNIT_ASSERT_EQUAL(uint32_t(4), v.next_uid);
    CPPUNIT_ASSERT_EQUAL(int64_t(1000), v.messages[0].internal_date);
    CPPUNIT_ASSERT_EQUAL(std::string("S"), v.messages[0].flags);
    CPPUNIT_ASSERT_EQUAL(uint64_t(14), v.messages[0].vsize);
    CPPUNIT_ASSERT(v.highest_modseq >= 3);
    // Nothing changed: nothing reported, same numbering from a fresh session.
    auto again = box->refresh();
    CPPUNIT_ASSERT(again.ok() && again->empty());
    auto other = Mailbox::open(md);
    CPPUNIT_ASSERT(other->refresh().ok());
    CPPUNIT_ASSERT(uids_of(other->view()) == uids_of(box->view()));
    CPPUNIT_ASSERT_EQUAL(v.uid_validity, other->view().uid_validity);
  }

  // Deliveries within one second get UIDs in the order they came: the microseconds in
  // the names are not zero-padded, so their text order is not their time order.
  void uids_in_arrival_order_within_a_second() {
    testing::TempDir t;
    std::string md = make_maildir(t);
    const char* keys[] = {"1700000000.M7P1Q1.h", "1700000000.M64P1Q2.h", "1700000000.M512P1Q3.h",
                          "1700000000.M4096P1Q4.h", "1700000000.M32768P1Q5.h", "1700000000.M262144P1Q6.h"};
    for (const char* k : keys) put_file(md, std::string("new/") + k, "Subject: x\n\n", 1700000000);
    auto box = Mailbox::open(md);
    CPPUNIT_ASSERT(box->refresh().ok());
    auto uids = uids_of(box->view());
    for (uint32_t i = 0; i < std::size(keys); ++i) CPPUNIT_ASSERT_EQUAL_MESSAGE(keys[i], i + 1, uids[keys[i]]);
    // The same for a refresh that finds them after the first scan.
    age_dirs(md);
    const char* later[] = {"1700000001.M900P1Q7.h", "1700000001.M1000P1Q8.h"};
    for (const char* k : later) put_file(md, std::string("new/") + k, "Subject: y\n\n", 1700000001);
    CPPUNIT_ASSERT(box->refresh().ok());
    uids = uids_of(box->view());
    CPPUNIT_ASSERT_EQUAL(uint32_t(7), uids[later[0]]);
    CPPUNIT_ASSERT_EQUAL(uint32_t(8), uids[later[1]]);
  }

  // Deliveries, renames and removals by other programs are found and reported; a
  // message keeps its UID through every move.
  void changes_behind_its_back() {
    testing::TempDir t;
    std::string md = make_maildir(t);
    for (int i = 0; i < 4; ++i) put_file(md, "new/m" + std::to_string(i), "Subject: x\n\n", 1000 + i);
    auto box = Mailbox::open(md);
    CPPUNIT_ASSERT(box->refresh().ok());
    auto before = uids_of(box->view());
    CPPUNIT_ASSERT(deliver(md, "Subject: new\n\n").ok());
    CPPUNIT_ASSERT(::rename((md + "/new/m0").c_str(), (md + "/cur/m0:2,S").c_str()) == 0);
    CPPUNIT_ASSERT(::rename((md + "/new/m1").c_str(), (md + "/cur/m1:2,").c_str()) == 0);
    CPPUNIT_ASSERT(::unlink((md + "/new/m2").c_str()) == 0);
    auto ch = box->refresh();
    CPPUNIT_ASSERT_MESSAGE(ch.ok() ? "" : ch.error().str(), ch.ok());
    CPPUNIT_ASSERT(ch->added == std::vector<uint32_t>{5});
    CPPUNIT_ASSERT(ch->expunged == std::vector<uint32_t>{before["m2"]});
    CPPUNIT_ASSERT(ch->flags == std::vector<uint32_t>{before["m0"]});  // m1: moved, no flags
    auto after = uids_of(box->view());
    CPPUNIT_ASSERT_EQUAL(before["m0"], after["m0"]);
    CPPUNIT_ASSERT_EQUAL(before["m1"], after["m1"]);
    CPPUNIT_ASSERT_EQUAL(size_t(0), after.count("m2"));
    CPPUNIT_ASSERT_EQUAL(std::string("cur/m0:2,S"), box->find(before["m0"])->file);
    // A flag change by hand in cur/, once the directory's time is old enough to trust.
    age_dirs(md);
    CPPUNIT_ASSERT(box->refresh().ok());
    CPPUNIT_ASSERT(::rename((md + "/cur/m0:2,S").c_str(), (md + "/cur/m0:2,RS").c_str()) == 0);
    ch = box->refresh();
    CPPUNIT_ASSERT(ch.ok() && ch->flags == std::vector<uint32_t>{before["m0"]});
    CPPUNIT_ASSERT_EQUAL(std::string("RS"), box->find(before["m0"])->flags);
    // Reading a message whose file moved since the view was taken finds it again.
    Message stale = *box->find(before["m3"]);
    CPPUNIT_ASSERT(::rename((md + "/new/m3").c_str(), (md + "/cur/m3:2,F").c_str()) == 0);
    auto text = box->read(stale);
    CPPUNIT_ASSERT(text.ok() && *text == "Subject: x\n\n");
    CPPUNIT_ASSERT(::unlink((md + "/cur/m3:2,F").c_str()) == 0);
    CPPUNIT_ASSERT_EQUAL(ENOENT, box->read(stale).error().code());
  }

  // One session's changes reach the other through the index (MODSEQ), without a
  // directory scan: the other's directory times stay trusted.
  void two_sessions_see_each_other() {
    testing::TempDir t;
    std::string md = make_maildir(t);
    for (int i = 0; i < 5; ++i) put_file(md, "cur/k" + std::to_string(i) + ":2,", "x\n", 1000 + i);
    age_dirs(md);
    auto a = Mailbox::open(md), b = Mailbox::open(md);
    CPPUNIT_ASSERT(a->refresh().ok() && b->refresh().ok());
    CPPUNIT_ASSERT(a->refresh().ok() && b->refresh().ok());  // directory times now trusted
    uint32_t u = a->view().messages[2].uid;
    auto changed = a->store({u}, StoreMode::Add, Flags{kSeen, 0});
    CPPUNIT_ASSERT(changed.ok() && *changed == std::vector<uint32_t>{u});
    auto ex = a->expunge({a->view().messages[4].uid});
    CPPUNIT_ASSERT(ex.ok() && ex->size() == 1);
    auto ch = b->refresh();
    CPPUNIT_ASSERT(ch.ok());
    CPPUNIT_ASSERT(ch->flags == std::vector<uint32_t>{u});
    CPPUNIT_ASSERT(ch->expunged == *ex);
    CPPUNIT_ASSERT(ch->added.empty());
    CPPUNIT_ASSERT_EQUAL(std::string("S"), b->find(u)->flags);
    CPPUNIT_ASSERT(b->find(u)->modseq > b->view().messages[0].modseq);
    // a's own change is not reported back to a.
    auto own = a->refresh();
    CPPUNIT_ASSERT(own.ok() && own->empty());
  }

  void store_and_keywords() {
    testing::TempDir t;
    std::string md = make_maildir(t);
    put_file(md, "new/n1", "x\n", 1000);
    put_file(md, "cur/c1:2,S", "x\n", 1001);
    auto box = Mailbox::open(md);
    CPPUNIT_ASSERT(box->refresh().ok());
    uint32_t n1 = box->view().messages[0].uid, c1 = box->view().messages[1].uid;
    auto kw = box->keyword_index("$Forwarded", true);
    CPPUNIT_ASSERT(kw.ok() && *kw && **kw == 0);
    auto kw2 = box->keyword_index("Work", true);
    CPPUNIT_ASSERT(kw2.ok() && *kw2 && **kw2 == 1);
    CPPUNIT_ASSERT_EQUAL(0, **box->keyword_index("$forwarded", false));  // case-insensitive
    CPPUNIT_ASSERT(!*box->keyword_index("Unknown", false));
    CPPUNIT_ASSERT(!*box->keyword_index("bad name", true));  // not an atom
    auto ch = box->store({n1, c1, 999}, StoreMode::Add, Flags{kFlagged, 2});
    CPPUNIT_ASSERT(ch.ok() && ch->size() == 2);
    CPPUNIT_ASSERT(file::exists(md + "/cur/n1:2,Fb"));  // new/ -> cur/
    CPPUNIT_ASSERT(file::exists(md + "/cur/c1:2,FSb"));
    ch = box->store({c1}, StoreMode::Remove, Flags{kSeen, 0});
    CPPUNIT_ASSERT(ch.ok() && *ch == std::vector<uint32_t>{c1});
    CPPUNIT_ASSERT(file::exists(md + "/cur/c1:2,Fb"));
    ch = box->store({c1}, StoreMode::Remove, Flags{kSeen, 0});  // no change: not reported
    CPPUNIT_ASSERT(ch.ok() && ch->empty());
    ch = box->store({c1}, StoreMode::Replace, Flags{kDeleted, 0});
    CPPUNIT_ASSERT(ch.ok() && file::exists(md + "/cur/c1:2,T"));
    // CONDSTORE: a message changed after the given MODSEQ is left alone.
    uint64_t old = box->find(n1)->modseq;
    CPPUNIT_ASSERT(box->store({n1}, StoreMode::Add, Flags{kSeen, 0}).ok());
    std::vector<uint32_t> modified;
    ch = box->store({n1}, StoreMode::Add, Flags{kDraft, 0}, old, &modified);
    CPPUNIT_ASSERT(ch.ok() && ch->empty() && modified == std::vector<uint32_t>{n1});
    // The keyword list survives in its file, in Dovecot's format.
    auto text = file::read_file(md + "/" + kKeywordsFile);
    CPPUNIT_ASSERT(text.ok() && *text == "0 $Forwarded\n1 Work\n");
    auto other = Mailbox::open(md);
    CPPUNIT_ASSERT(other->refresh().ok());
    CPPUNIT_ASSERT_EQUAL(std::string("Work"), other->keywords()[1]);
    // move_to_cur keeps flags.
    put_file(md, "new/n2", "x\n", 1002);
    CPPUNIT_ASSERT(box->refresh().ok());
    uint32_t n2 = box->view().messages.back().uid;
    CPPUNIT_ASSERT(box->move_to_cur({n2}).ok());
    CPPUNIT_ASSERT(file::exists(md + "/cur/n2:2,"));
    CPPUNIT_ASSERT_EQUAL(std::string("cur/n2:2,"), box->find(n2)->file);
  }

  void expunge_append_copy_move() {
    testing::TempDir t;
    std::string md = make_maildir(t), other = make_maildir(t, "Other");
    auto box = Mailbox::open(md), dst = Mailbox::open(other);
    CPPUNIT_ASSERT(box->refresh().ok() && dst->refresh().ok());
    auto u1 = box->append("Subject: one\n\nbody\n", AppendOptions{Flags{kSeen, 0}, 1234567890});
    auto u2 = box->append("Subject: two\n\n");
    CPPUNIT_ASSERT(u1.ok() && u2.ok() && *u2 == *u1 + 1);
    auto ch = box->refresh();
    CPPUNIT_ASSERT(ch.ok() && ch->added == (std::vector<uint32_t>{*u1, *u2}));
    const Message* m1 = box->find(*u1);
    CPPUNIT_ASSERT_EQUAL(int64_t(1234567890), m1->internal_date);
    CPPUNIT_ASSERT_EQUAL(std::string("S"), m1->flags);
    CPPUNIT_ASSERT(box->find(*u2)->is_new());
    CPPUNIT_ASSERT_EQUAL(uint64_t(22), m1->vsize);
    auto copied = box->copy({*u1, *u2, 77}, *dst);
    CPPUNIT_ASSERT(copied.ok() && copied->size() == 2);
    CPPUNIT_ASSERT_EQUAL(*u1, (*copied)[0].first);
    auto dch = dst->refresh();
    CPPUNIT_ASSERT(dch.ok() && dch->added.size() == 2);
    const Message* c1 = dst->find((*copied)[0].second);
    CPPUNIT_ASSERT(c1 && c1->flags == "S" && c1->internal_date == 1234567890);
    CPPUNIT_ASSERT(dst->read(*c1).ok() && *dst->read(*c1) == "Subject: one\n\nbody\n");
    // Copy into the same folder: new UIDs there.
    auto self = box->copy({*u1}, *box);
    CPPUNIT_ASSERT(self.ok() && self->size() == 1 && (*self)[0].second > *u2);
    // Move: gone here, new UID there.
    auto moved = box->move({*u2}, *dst);
    CPPUNIT_ASSERT(moved.ok() && moved->size() == 1);
    CPPUNIT_ASSERT(!box->find(*u2));
    ch = box->refresh();
    CPPUNIT_ASSERT(ch.ok() && ch->expunged.empty() && ch->added.size() == 1);  // the self-copy
    dch = dst->refresh();
    CPPUNIT_ASSERT(dch.ok() && dch->added == std::vector<uint32_t>{(*moved)[0].second});
    // Expunge, twice: the second time nothing is left to remove.
    auto ex = box->expunge({*u1});
    CPPUNIT_ASSERT(ex.ok() && *ex == std::vector<uint32_t>{*u1});
    ex = box->expunge({*u1});
    CPPUNIT_ASSERT(ex.ok() && ex->empty());
    // A message another program removed is expunged without error.
    uint32_t s = (*self)[0].second;
    CPPUNIT_ASSERT(::unlink((md + "/" + box->find(s)->file).c_str()) == 0);
    ex = box->expunge({s});
    CPPUNIT_ASSERT(ex.ok() && *ex == std::vector<uint32_t>{s});
    CPPUNIT_ASSERT(box->view().messages.empty());
    auto fin = box->refresh();
    CPPUNIT_ASSERT(fin.ok() && fin->empty());
  }

  void cache_and_expunge_history() {
    testing::TempDir t;
    std::string md = make_maildir(t);
    auto box = Mailbox::open(md);
    CPPUNIT_ASSERT(box->refresh().ok());
    auto a = box->append("Subject: a\n\n"), b = box->append("Subject: b\n\n");
    CPPUNIT_ASSERT(box->refresh().ok());
    CPPUNIT_ASSERT(box->cache_put({{*a, "(env a)"}, {*b, std::string(100000, 'b')}, {999, "x"}},
                                  CacheField::Envelope).ok());
    CPPUNIT_ASSERT(box->cache_put({{*a, "(bs a)"}}, CacheField::BodyStructure).ok());
    auto got = box->cache_get({*a, *b, 999}, CacheField::Envelope);
    CPPUNIT_ASSERT(got.ok() && got->size() == 3);
    CPPUNIT_ASSERT((*got)[0] == std::optional<std::string>("(env a)"));
    CPPUNIT_ASSERT_EQUAL(size_t(100000), (*got)[1]->size());
    CPPUNIT_ASSERT(!(*got)[2]);
    // Several fields in one update; a UID not in the folder gets nothing.
    CPPUNIT_ASSERT(box->cache_put(std::vector<CacheValue>{{*b, CacheField::Headers, "Subject: b\r\n\r\n"},
                                                           {*b, CacheField::Body, "(body b)"},
                                                           {999, CacheField::Headers, "x"}}).ok());
    got = box->cache_get({*b, 999}, CacheField::Headers);
    CPPUNIT_ASSERT(got.ok() && (*got)[0] == std::optional<std::string>("Subject: b\r\n\r\n") && !(*got)[1]);
    got = box->cache_get({*b}, CacheField::Body);
    CPPUNIT_ASSERT(got.ok() && (*got)[0] == std::optional<std::string>("(body b)"));
    uint64_t before = box->view().highest_modseq;
    CPPUNIT_ASSERT(box->expunge({*a}).ok());
    got = box->cache_get({*a}, CacheField::BodyStructure);
    CPPUNIT_ASSERT(got.ok() && !(*got)[0]);
    auto gone = box->expunged_since(before);
    CPPUNIT_ASSERT(gone.ok() && gone->size() == 1 && (*gone)[0].first == *a && (*gone)[0].second > before);
    CPPUNIT_ASSERT(box->expunged_since((*gone)[0].second)->empty());
  }

  // A flag change and a new message in a large mailbox change a few pages of the
  // index in place: same file, a small fraction of it written.
  void updates_in_place() {
    testing::TempDir t;
    std::string md = make_maildir(t);
    const int kCount = 20000;
    for (int i = 0; i < kCount; ++i) {
      std::string name = "cur/" + std::to_string(1600000000 + i) + ".M1P1.host,S=2,W=3:2,";
      std::ofstream(md + "/" + name) << "x\n";
    }
    auto box = Mailbox::open(md);
    auto ch = box->refresh();
    CPPUNIT_ASSERT(ch.ok() && ch->added.size() == size_t(kCount));
    std::string idx = md + "/" + kMailboxIndex;
    ino_t ino = inode_of(idx);
    struct stat st;
    CPPUNIT_ASSERT(::stat(idx.c_str(), &st) == 0);
    uint64_t size = static_cast<uint64_t>(st.st_size);
    CPPUNIT_ASSERT(size > 1000000);  // the whole index is large ...
    uint64_t w0 = written_bytes();
    auto st1 = box->store({box->view().messages[kCount / 2].uid}, StoreMode::Add, Flags{kSeen, 0});
    CPPUNIT_ASSERT(st1.ok() && st1->size() == 1);
    uint64_t w1 = written_bytes();
    CPPUNIT_ASSERT(box->append("Subject: one more\n\n").ok());
    uint64_t w2 = written_bytes();
    CPPUNIT_ASSERT_EQUAL(ino, inode_of(idx));  // ... not replaced ...
    // ... and a change writes a few pages (header, leaf, change log; 4 KiB each).
    CPPUNIT_ASSERT_MESSAGE(std::to_string(w1 - w0), w1 - w0 < 64 * 1024);
    CPPUNIT_ASSERT_MESSAGE(std::to_string(w2 - w1), w2 - w1 < 64 * 1024);
    ch = box->refresh();
    CPPUNIT_ASSERT(ch.ok() && ch->added.size() == 1);
    CPPUNIT_ASSERT_EQUAL(ino, inode_of(idx));
  }

  void truncated_and_garbage() {
    testing::TempDir t;
    std::string md = make_maildir(t);
    for (int i = 0; i < 300; ++i) put_file(md, "cur/m" + std::to_string(i) + ":2,S", "x\n", 1000 + i);
    auto box = Mailbox::open(md);
    CPPUNIT_ASSERT(box->refresh().ok());
    auto want = uids_of(box->view());
    uint32_t validity = box->view().uid_validity;
    std::string idx = md + "/" + kMailboxIndex;
    auto good = file::read_file(idx);
    CPPUNIT_ASSERT(good.ok() && good->size() >= 8192);
    std::vector<std::string> damaged;
    for (size_t cut : {size_t(0), size_t(1), size_t(100), size_t(4096), good->size() / 2, good->size() - 4096,
                       good->size() - 1})
      damaged.push_back(good->substr(0, cut));
    damaged.push_back(std::string(good->size(), 'x'));
    std::string flipped = *good;
    for (size_t i = 4096 + 100; i < flipped.size(); i += 4096) flipped[i] ^= 0x55;  // every page but the meta
    damaged.push_back(flipped);
    for (const auto& bad : damaged) {
      CPPUNIT_ASSERT(file::write_file_atomic(idx, bad, 0600).ok());
      auto fresh = Mailbox::open(md);
      auto ch = fresh->refresh();
      CPPUNIT_ASSERT_MESSAGE(ch.ok() ? "" : ch.error().str(), ch.ok());
      const auto& v = fresh->view();
      CPPUNIT_ASSERT_EQUAL(size_t(300), v.messages.size());
      std::set<uint32_t> seen;
      for (const auto& m : v.messages) CPPUNIT_ASSERT(seen.insert(m.uid).second && m.uid < v.next_uid);
      // Same UIDVALIDITY means every UID it kept is the one the message had.
      if (v.uid_validity == validity) {
        for (const auto& m : v.messages)
          CPPUNIT_ASSERT(m.uid == want[m.key] || m.uid > want.rbegin()->second);
      }
      // Whatever the damage, the session that knew the old index keeps working.
      auto old = box->refresh();
      CPPUNIT_ASSERT(old.ok());
      CPPUNIT_ASSERT(old->uid_validity_changed == (v.uid_validity != validity));
      CPPUNIT_ASSERT(file::write_file_atomic(idx, *good, 0600).ok());
      CPPUNIT_ASSERT(box->refresh().ok());
    }
  }

  // An update that did not finish (dirty header) is repaired with the UIDs and the
  // UIDVALIDITY kept and without handing out a reserved UID again.
  // A Berkeley DB file without page checksums is not an index of ours: Berkeley DB
  // would trust its pages (an item length past a page's end reads beyond its buffer),
  // so it is damaged, set aside and rebuilt, and the messages keep being served.
  void index_without_checksums_is_damaged() {
    testing::TempDir t;
    std::string md = make_maildir(t);
    put_file(md, "cur/m1:2,S", "x\n", 1000);
    std::string path = md + "/" + kMailboxIndex;
    {
      Db db(nullptr, DB_CXX_NO_EXCEPTIONS);
      CPPUNIT_ASSERT_EQUAL(0, db.open(nullptr, path.c_str(), nullptr, DB_BTREE, DB_CREATE, 0600));
      Dbt k(const_cast<char*>("h"), 1), v(const_cast<char*>("x"), 1);
      CPPUNIT_ASSERT_EQUAL(0, db.put(nullptr, &k, &v, 0));
      CPPUNIT_ASSERT_EQUAL(0, db.close(0));
    }
    auto bad = index::File::open(path, true, false);
    CPPUNIT_ASSERT(!bad.ok());
    CPPUNIT_ASSERT_EQUAL(EBADMSG, bad.error().code());
    CPPUNIT_ASSERT(bad.error().str().find("no page checksums") != std::string::npos);
    auto box = Mailbox::open(md);
    CPPUNIT_ASSERT(box->refresh().ok());
    CPPUNIT_ASSERT_EQUAL(size_t(1), box->view().messages.size());
    // The rebuilt index has checksums, and opens.
    CPPUNIT_ASSERT(index::File::open(path, true, false).ok());
  }

  void dirty_index_keeps_uids() {
    testing::TempDir t;
    std::string md = make_maildir(t);
    for (int i = 0; i < 10; ++i) put_file(md, "cur/m" + std::to_string(i) + ":2,", "x\n", 1000 + i);
    auto box = Mailbox::open(md);
    CPPUNIT_ASSERT(box->refresh().ok());
    auto want = uids_of(box->view());
    Snapshot before = box->view();
    {
      auto db = index::File::open(md + "/" + kMailboxIndex, true, false);
      CPPUNIT_ASSERT(db.ok());
      auto hv = db->get(index::kHeaderKey);
      auto h = index::decode_header(**hv);
      h->dirty = true;
      h->next_uid += 5;  // reserved by the update that died
      CPPUNIT_ASSERT(db->put(index::kHeaderKey, index::encode(*h)).ok());
      CPPUNIT_ASSERT(db->flush(true).ok());
    }
    put_file(md, "cur/late:2,", "x\n", 5000);
    auto fresh = Mailbox::open(md);
    auto ch = fresh->refresh();
    CPPUNIT_ASSERT(ch.ok());
    CPPUNIT_ASSERT_EQUAL(before.uid_validity, fresh->view().uid_validity);
    auto got = uids_of(fresh->view());
    for (const auto& [k, u] : want) CPPUNIT_ASSERT_EQUAL(u, got[k]);
    CPPUNIT_ASSERT_EQUAL(before.next_uid + 5, got["late"]);
    CPPUNIT_ASSERT(fresh->view().highest_modseq > before.highest_modseq);
    CPPUNIT_ASSERT(file::exists(md + "/" + kMailboxIndex + ".corrupt"));
    auto old = box->refresh();
    CPPUNIT_ASSERT(old.ok() && !old->uid_validity_changed && old->added == std::vector<uint32_t>{got["late"]});
  }

  // The index of another folder copied over this one's: renumbered, new UIDVALIDITY.
  void foreign_index() {
    testing::TempDir t;
    std::string a = make_maildir(t, "A"), b = make_maildir(t, "B");
    for (int i = 0; i < 3; ++i) put_file(a, "cur/a" + std::to_string(i) + ":2,", "x\n", 1000 + i);
    for (int i = 0; i < 4; ++i) put_file(b, "cur/b" + std::to_string(i) + ":2,", "x\n", 1000 + i);
    auto ba = Mailbox::open(a), bb = Mailbox::open(b);
    CPPUNIT_ASSERT(ba->refresh().ok() && bb->refresh().ok());
    auto text = file::read_file(a + "/" + kMailboxIndex);
    CPPUNIT_ASSERT(file::write_file_atomic(b + "/" + kMailboxIndex, *text, 0600).ok());
    auto fresh = Mailbox::open(b);
    auto ch = fresh->refresh();
    CPPUNIT_ASSERT_MESSAGE(ch.ok() ? "" : ch.error().str(), ch.ok());
    CPPUNIT_ASSERT_EQUAL(size_t(4), fresh->view().messages.size());
    CPPUNIT_ASSERT(fresh->view().uid_validity != 0);
    CPPUNIT_ASSERT_EQUAL(std::string("b0"), fresh->view().messages[0].key);
    auto old = bb->refresh();
    CPPUNIT_ASSERT(old.ok() && old->uid_validity_changed);
  }

  // Writers killed at random moments: afterwards every message has one UID, UIDs of
  // messages known before are unchanged, and no UID is given twice.
  void killed_writers() {
    testing::TempDir t;
    std::string md = make_maildir(t);
    for (int i = 0; i < 200; ++i) put_file(md, "cur/m" + std::to_string(i) + ":2,", "x\n", 1000 + i);
    auto box = Mailbox::open(md);
    CPPUNIT_ASSERT(box->refresh().ok());
    auto want = uids_of(box->view());
    uint32_t validity = box->view().uid_validity;
    std::set<uint32_t> ever;
    for (const auto& [k, u] : want) ever.insert(u);
    for (int round = 0; round < 12; ++round) {
      int pfd[2];
      CPPUNIT_ASSERT(::pipe(pfd) == 0);
      pid_t pid = ::fork();
      CPPUNIT_ASSERT(pid >= 0);
      if (pid == 0) {
        ::close(pfd[0]);
        auto mb = Mailbox::open(md);
        if (!mb || !mb->refresh()) _exit(1);
        for (int i = 0; i < 1000; ++i) {
          const auto& v = mb->view();
          if (v.messages.empty()) break;
          uint32_t u = v.messages[static_cast<size_t>(i * 7) % v.messages.size()].uid;
          (void)mb->store({u}, i % 2 ? StoreMode::Add : StoreMode::Remove, Flags{kSeen, 0});
          if (i % 5 == 0) (void)mb->append("Subject: more\n\n");
          if (i % 11 == 0) (void)mb->cache_put({{u, "cached"}}, CacheField::Envelope);
          (void)mb->refresh();
          if (::write(pfd[1], "x", 1) != 1) _exit(1);
        }
        _exit(0);
      }
      ::close(pfd[1]);
      // Kill it after a varying number of operations, in the middle of the next one
      // (or wherever it is by then).
      char buf[64];
      for (int seen = 0; seen < 1 + round * 3;) {
        ssize_t n = ::read(pfd[0], buf, std::min<size_t>(sizeof buf, static_cast<size_t>(1 + round * 3 - seen)));
        if (n <= 0) break;
        seen += static_cast<int>(n);
      }
      ::kill(pid, SIGKILL);
      ::close(pfd[0]);
      int wst = 0;
      ::waitpid(pid, &wst, 0);
      auto fresh = Mailbox::open(md);
      auto ch = fresh->refresh();
      CPPUNIT_ASSERT_MESSAGE(ch.ok() ? "" : ch.error().str(), ch.ok());
      CPPUNIT_ASSERT_EQUAL(validity, fresh->view().uid_validity);
      auto got = uids_of(fresh->view());
      for (const auto& [k, u] : want) CPPUNIT_ASSERT_EQUAL(u, got[k]);
      // Every message on disk is in the view once.
      size_t on_disk = 0;
      for (const char* sub : {"/new", "/cur"})
        for (const auto& e : std::filesystem::directory_iterator(md + sub)) on_disk += e.is_regular_file();
      CPPUNIT_ASSERT_EQUAL(on_disk, fresh->view().messages.size());
      // UIDs of messages added meanwhile are new; known ones were found again.
      for (const auto& [k, u] : got) {
        if (want.count(k)) continue;
        want[k] = u;
        CPPUNIT_ASSERT(ever.insert(u).second);
      }
    }
  }

  void migrates_dovecot_and_old_index() {
    testing::TempDir t;
    // Dovecot: UIDVALIDITY, UIDs with a gap, keywords.
    std::string md = make_maildir(t, "Dove");
    put_file(md, "cur/1.M1.h,S=2,W=3:2,S", "x\n", 1000);
    put_file(md, "cur/2.M2.h,S=2,W=3:2,Ra", "x\n", 1001);
    put_file(md, "new/3.M3.h,S=2,W=3", "x\n", 1002);
    CPPUNIT_ASSERT(file::write_file_atomic(md + "/dovecot-uidlist",
                                           "3 V1700000123 N9 Gabcdef\n"
                                           "1 :1.M1.h,S=2,W=3:2,S\n"
                                           "4 W3 :2.M2.h,S=2,W=3:2,R\n"
                                           "7 :3.M3.h,S=2,W=3\n",
                                           0600).ok());
    CPPUNIT_ASSERT(file::write_file_atomic(md + "/dovecot-keywords", "0 $Label1\n", 0600).ok());
    auto box = Mailbox::open(md);
    CPPUNIT_ASSERT(box->refresh().ok());
    const auto& v = box->view();
    CPPUNIT_ASSERT_EQUAL(uint32_t(1700000123), v.uid_validity);
    CPPUNIT_ASSERT_EQUAL(uint32_t(9), v.next_uid);
    auto got = uids_of(v);
    CPPUNIT_ASSERT_EQUAL(uint32_t(1), got["1.M1.h,S=2,W=3"]);
    CPPUNIT_ASSERT_EQUAL(uint32_t(4), got["2.M2.h,S=2,W=3"]);
    CPPUNIT_ASSERT_EQUAL(uint32_t(7), got["3.M3.h,S=2,W=3"]);
    CPPUNIT_ASSERT_EQUAL(std::string("$Label1"), box->keywords()[0]);
    put_file(md, "new/4.M4.h", "x\n", 1003);
    CPPUNIT_ASSERT(box->refresh().ok());
    CPPUNIT_ASSERT_EQUAL(uint32_t(9), uids_of(box->view())["4.M4.h"]);

    // The UID file of earlier Postilion versions: pop3d's UIDLs stay the same.
    std::string old = make_maildir(t, "Old");
    put_file(old, "new/a", "x\n", 1000);
    put_file(old, "new/b", "x\n", 1001);
    UidIndex ui;
    ui.uid_validity = 42;
    ui.next_uid = 20;
    ui.entries["a"] = IndexEntry{17, 3};
    ui.entries["b"] = IndexEntry{5, 3};
    CPPUNIT_ASSERT(save_index(old + "/" + kIndexFile, ui).ok());
    auto ob = Mailbox::open(old);
    CPPUNIT_ASSERT(ob->refresh().ok());
    CPPUNIT_ASSERT_EQUAL(uint32_t(42), ob->view().uid_validity);
    CPPUNIT_ASSERT_EQUAL(uint32_t(17), uids_of(ob->view())["a"]);
    CPPUNIT_ASSERT_EQUAL(uint32_t(5), uids_of(ob->view())["b"]);
    CPPUNIT_ASSERT_EQUAL(uint32_t(20), ob->view().next_uid);
  }

  void record_codec_hostile() {
    index::Record r;
    r.uid = 7;
    r.key = "1.M2.host,S=10";
    r.in_cur = true;
    r.info = ":2,FS";
    r.internal_date = 1700000000;
    r.size = 10;
    r.vsize = 12;
    r.modseq = 99;
    std::string enc = index::encode(r);
    auto back = index::decode_record(7, enc);
    CPPUNIT_ASSERT(back && *back == r);
    for (size_t n = 0; n < enc.size(); ++n) {
      auto cut = index::decode_record(7, enc.substr(0, n));
      CPPUNIT_ASSERT(!cut || n >= enc.size() - r.info.size());  // only the info part may be shorter
    }
    CPPUNIT_ASSERT(!index::decode_record(0, enc));
    std::string bad = enc;
    bad[0] = 2;  // unknown format
    CPPUNIT_ASSERT(!index::decode_record(7, bad));
    index::Record evil = r;
    evil.key = "../../etc/passwd";
    CPPUNIT_ASSERT(!index::decode_record(7, index::encode(evil)));
    evil.key = "k";
    evil.info = "/x";
    CPPUNIT_ASSERT(!index::decode_record(7, index::encode(evil)));
    evil.info = "2,S";  // info starts with ':'
    CPPUNIT_ASSERT(!index::decode_record(7, index::encode(evil)));
    index::Header h;
    h.uid_validity = 5;
    h.next_uid = 9;
    h.dirty = true;
    h.cur_trusted = true;
    h.highest_modseq = 1ull << 40;
    auto hb = index::decode_header(index::encode(h));
    CPPUNIT_ASSERT(hb && *hb == h);
    std::string he = index::encode(h);
    for (size_t n = 0; n < he.size(); ++n) CPPUNIT_ASSERT(!index::decode_header(he.substr(0, n)));
    CPPUNIT_ASSERT(!index::decode_header(he + "x"));
    h.uid_validity = 0;
    CPPUNIT_ASSERT(!index::decode_header(index::encode(h)));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(MailboxTest);
