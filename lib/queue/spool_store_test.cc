// lib/queue/spool_store_test.cc - the Store on a real spool in a temp dir: inject, load,
// status bytes, moves, retry times, deferral notes, and corrupt files.
#include "lib/queue/spool_store.h"

#include <unistd.h>

#include <cppunit/extensions/HelperMacros.h>

#include "lib/base/file.h"
#include "lib/queue/queue_writer.h"
#include "lib/testing/temp_dir.h"

using namespace postilion;
using namespace postilion::queue;

class SpoolStoreTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(SpoolStoreTest);
  CPPUNIT_TEST(round_trip);
  CPPUNIT_TEST(corrupt_and_hostile_names);
  CPPUNIT_TEST(retire_keeps_spare_files_up_to_the_limit);
  CPPUNIT_TEST(maildrop_uid);
  CPPUNIT_TEST_SUITE_END();

  static void make_spool(const queue::Spool& s) {
    CPPUNIT_ASSERT(s.create({getuid(), getgid(), getgid()}).ok());
  }

 public:
  // postdrop records the submitting uid; load() passes on a plain number and nothing else.
  void maildrop_uid() {
    testing::TempDir dir;
    SpoolStore st(dir.file("spool"));
    make_spool(st.spool());
    const std::pair<const char*, const char*> rows[] = {
        {"1000", "1000"},   {"0", "0"},        {"4294967295", "4294967295"}, {"12345678901", ""},
        {"", ""},           {"-1", ""},        {"12x", ""},                  {"1000 ", ""},
        {"0x10", ""},       {"1000>, x", ""}};
    for (const auto& [value, want] : rows) {
      auto w = QueueWriter::create(st.spool().dir(Folder::Maildrop));
      CPPUNIT_ASSERT(w.ok());
      CPPUNIT_ASSERT((*w)->sender("alice@example.org").ok());
      CPPUNIT_ASSERT((*w)->attribute("uid", value).ok());
      CPPUNIT_ASSERT((*w)->recipient("bob@example.org").ok());
      CPPUNIT_ASSERT((*w)->append_content("Subject: x\r\n\r\nbody\r\n").ok());
      auto id = (*w)->commit();
      CPPUNIT_ASSERT(id.ok());
      bool corrupt = true;
      auto got = st.load("maildrop", *id, &corrupt);
      CPPUNIT_ASSERT_MESSAGE(value, got.ok() && !corrupt);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(value, std::string(want), got->uid);
    }
    // Without the attribute (smtpd's files), and from inject(): no uid.
    NewMessage m;
    m.sender = "alice@example.org";
    m.recipients = {{"bob@example.org", "", 0, 0, false}};
    m.content = "x\r\n";
    auto id = st.inject(m);
    CPPUNIT_ASSERT(id.ok());
    bool corrupt = true;
    CPPUNIT_ASSERT_EQUAL(std::string(), st.load("incoming", *id, &corrupt)->uid);
  }

  void round_trip() {
    testing::TempDir dir;
    SpoolStore st(dir.file("spool"));
    make_spool(st.spool());
    NewMessage m;
    m.sender = "alice@example.org";
    m.envid = "ENV1";
    m.ret = mail::Ret::Headers;
    m.recipients = {{"bob@example.org", "Bob@example.org", mail::kNotifySuccess | mail::kNotifyDelay, 0, false},
                    {"carol@example.org", "", mail::kNotifyNever, 0, false}};
    m.content = "Subject: hi\r\n\r\nbody\r\n";
    m.content_filter = "scan:[127.0.0.1]:10025";
    m.milter_reject = "5.7.1 Command rejected";
    int64_t before_us = file::now_us();
    auto id = st.inject(m);
    CPPUNIT_ASSERT_MESSAGE(id.ok() ? "" : id.error().str(), id.ok());
    CPPUNIT_ASSERT(std::vector<std::string>{*id} == st.list("incoming"));
    bool corrupt = true;
    auto got = st.load("incoming", *id, &corrupt);
    CPPUNIT_ASSERT_MESSAGE(got.ok() ? "" : got.error().str(), got.ok() && !corrupt);
    CPPUNIT_ASSERT_EQUAL(std::string("alice@example.org"), got->sender);
    CPPUNIT_ASSERT_EQUAL(std::string("ENV1"), got->envid);
    CPPUNIT_ASSERT_EQUAL(std::string("scan:[127.0.0.1]:10025"), got->content_filter);
    CPPUNIT_ASSERT_EQUAL(std::string("5.7.1 Command rejected"), got->milter_reject);
    // Arrival to the microsecond (delays in log lines), and the same second as arrival.
    CPPUNIT_ASSERT(got->arrival_us >= before_us && got->arrival_us <= file::now_us());
    CPPUNIT_ASSERT_EQUAL(got->arrival_us / 1000000, got->arrival);
    CPPUNIT_ASSERT(got->ret == mail::Ret::Headers);
    CPPUNIT_ASSERT_EQUAL(size_t(2), got->recipients.size());
    CPPUNIT_ASSERT_EQUAL(std::string("Bob@example.org"), got->recipients[0].orcpt);
    CPPUNIT_ASSERT_EQUAL(unsigned(mail::kNotifySuccess | mail::kNotifyDelay), got->recipients[0].notify);
    CPPUNIT_ASSERT_EQUAL(unsigned(mail::kNotifyNever), got->recipients[1].notify);
    CPPUNIT_ASSERT_EQUAL(m.content, *st.content("incoming", *id));
    CPPUNIT_ASSERT(st.move(*id, "incoming", "active").ok());
    uint64_t off = got->recipients[1].offset;
    CPPUNIT_ASSERT(!*st.is_done("active", *id, off));
    CPPUNIT_ASSERT(st.mark_done("active", *id, off, true).ok());
    CPPUNIT_ASSERT(*st.is_done("active", *id, off));
    CPPUNIT_ASSERT(!st.mark_done("active", *id, off + 1, false).ok());  // not a record start
    auto again = st.load("active", *id, &corrupt);
    CPPUNIT_ASSERT(!again->recipients[0].done && again->recipients[1].done);
    CPPUNIT_ASSERT(st.move(*id, "active", "deferred").ok());
    CPPUNIT_ASSERT(st.set_next_try(*id, 2000000000).ok());
    CPPUNIT_ASSERT_EQUAL(int64_t(2000000000), *st.next_try(*id));
    DeferInfo info;
    info.warned = true;
    info.reasons["bob@example.org"] = "mailbox\tfull\nreally";
    CPPUNIT_ASSERT(st.set_defer_info(*id, info).ok());
    auto back = st.defer_info(*id);
    CPPUNIT_ASSERT(back.warned);
    CPPUNIT_ASSERT_EQUAL(std::string("mailbox full really"), back.reasons["bob@example.org"]);
    st.drop_defer_info(*id);
    CPPUNIT_ASSERT(!st.defer_info(*id).warned);
    CPPUNIT_ASSERT(st.remove("deferred", *id).ok());
    CPPUNIT_ASSERT(st.list("deferred").empty());
  }

  // Queues a one-line message straight into active/.
  static std::string active_message(SpoolStore& st) {
    NewMessage m;
    m.sender = "alice@example.org";
    m.recipients = {{"bob@example.org", "", mail::kNotifyDefault, 0, false}};
    m.content = "Subject: hi\r\n\r\nbody\r\n";
    auto id = st.inject(m);
    CPPUNIT_ASSERT(id.ok());
    CPPUNIT_ASSERT(st.move(*id, "incoming", "active").ok());
    return *id;
  }

  void retire_keeps_spare_files_up_to_the_limit() {
    testing::TempDir dir;
    SpoolStore st(dir.file("spool"), 2);
    SpoolStore writer(dir.file("spool"), 0);  // queues new files without taking spare ones
    make_spool(st.spool());
    std::vector<std::string> ids;
    for (int i = 0; i < 3; ++i) ids.push_back(active_message(writer));
    for (const auto& id : ids) CPPUNIT_ASSERT(st.retire(id).ok());
    CPPUNIT_ASSERT(st.list("active").empty());
    // Two kept, the third unlinked.
    std::vector<std::string> kept = st.list("spare");
    CPPUNIT_ASSERT_EQUAL(size_t{2}, kept.size());
    CPPUNIT_ASSERT(kept[0] == ids[0] && kept[1] == ids[1]);
    // smtpd takes one: after the recount (at most every 10 ms) there is room again.
    CPPUNIT_ASSERT_EQUAL(0, ::unlink(st.spool().path(queue::Folder::Spare, ids[0]).c_str()));
    for (int i = 0; i < 300 && st.list("spare").size() < 2; ++i) {
      CPPUNIT_ASSERT(st.retire(active_message(writer)).ok());
      ::usleep(10000);
    }
    CPPUNIT_ASSERT_EQUAL(size_t{2}, st.list("spare").size());
    // A store with a limit writes new mail over a spare file.
    std::string reused = active_message(st);
    CPPUNIT_ASSERT_EQUAL(size_t{1}, st.list("spare").size());
    CPPUNIT_ASSERT_EQUAL(std::string("Subject: hi\r\n\r\nbody\r\n"), *st.content("active", reused));
    // Without a limit, files are unlinked as before.
    std::string id = active_message(writer);
    CPPUNIT_ASSERT(writer.retire(id).ok());
    CPPUNIT_ASSERT_EQUAL(size_t{1}, writer.list("active").size());  // only `reused`
    CPPUNIT_ASSERT_EQUAL(size_t{1}, writer.list("spare").size());
    CPPUNIT_ASSERT(!writer.retire(id).ok());  // gone
  }

  void corrupt_and_hostile_names() {
    testing::TempDir dir;
    SpoolStore st(dir.file("spool"));
    make_spool(st.spool());
    NewMessage m;
    m.sender = "a@b";
    m.recipients = {{"c@d", "", 0, 0, false}};
    m.content = "x";
    auto id = st.inject(m);
    std::string path = st.spool().path(queue::Folder::Incoming, *id);
    auto text = *file::read_file(path);
    // Every truncation is refused as corrupt, never half-used.
    for (size_t n : {size_t(0), size_t(5), text.size() / 2, text.size() - 1}) {
      CPPUNIT_ASSERT(file::write_file_atomic(path, text.substr(0, n), 0600).ok());
      bool corrupt = false;
      CPPUNIT_ASSERT(!st.load("incoming", *id, &corrupt).ok());
      CPPUNIT_ASSERT(corrupt);
    }
    // Names that are not queue ids are neither listed nor opened.
    CPPUNIT_ASSERT(file::write_file_atomic(st.spool().dir(queue::Folder::Incoming) + "/not-an-id", "x", 0600).ok());
    auto ids = st.list("incoming");
    CPPUNIT_ASSERT_EQUAL(size_t(1), ids.size());
    bool corrupt = false;
    CPPUNIT_ASSERT(!st.load("incoming", "../../etc/passwd", &corrupt).ok());
    CPPUNIT_ASSERT(corrupt);
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(SpoolStoreTest);
