// pop3d/transaction_test.cc - TRANSACTION and UPDATE over a real Maildir: every
// command's reply, deletion only at QUIT, RSET, and what another session removed.
#include "pop3d/transaction.h"

#include <unistd.h>

#include <cppunit/extensions/HelperMacros.h>

#include "lib/mailbox/maildir.h"
#include "lib/pop3/reply.h"
#include "lib/testing/temp_dir.h"

using namespace postilion;
using namespace postilion::pop3d;

class TransactionTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(TransactionTest);
  CPPUNIT_TEST(commands);
  CPPUNIT_TEST(delete_only_at_quit);
  CPPUNIT_TEST(expunged_elsewhere);
  CPPUNIT_TEST_SUITE_END();

  std::string md_;

  Transaction open(uint64_t limit = 1 << 20) {
    auto box = mailbox::Mailbox::open(md_);
    CPPUNIT_ASSERT(box.ok());
    CPPUNIT_ASSERT(box->refresh().ok());
    return Transaction(std::move(*box), limit);
  }

  std::string run(Transaction& t, const std::string& line, bool* quit = nullptr) {
    auto c = pop3::parse_command(line);
    CPPUNIT_ASSERT_MESSAGE(line, c.ok());
    bool q = false;
    std::string out = t.handle(*c, &q);
    if (quit) *quit = q;
    return out;
  }

 public:
  void commands() {
    testing::TempDir tmp;
    md_ = tmp.file("Maildir");
    CPPUNIT_ASSERT(mailbox::deliver(md_, "Subject: a\n\nline1\n.dot\nline3\n").ok());
    CPPUNIT_ASSERT(mailbox::deliver(md_, "Subject: b\r\n\r\nx\r\n").ok());
    Transaction t = open();
    CPPUNIT_ASSERT_EQUAL(size_t(2), t.count());
    std::string u1 = t.uidl(0), u2 = t.uidl(1);
    CPPUNIT_ASSERT(pop3::valid_uidl(u1) && u1 != u2 && u1.size() == 16);
    struct Row { std::string in; std::string want; } rows[] = {
        {"STAT", "+OK 2 51\r\n"},
        {"LIST", "+OK 2 messages (51 octets)\r\n1 34\r\n2 17\r\n.\r\n"},
        {"LIST 2", "+OK 2 17\r\n"},
        {"LIST 3", "-ERR no such message\r\n"},
        {"UIDL", "+OK unique-id listing follows\r\n1 " + u1 + "\r\n2 " + u2 + "\r\n.\r\n"},
        {"UIDL 1", "+OK 1 " + u1 + "\r\n"},
        {"RETR 1", "+OK 34 octets\r\nSubject: a\r\n\r\nline1\r\n..dot\r\nline3\r\n.\r\n"},
        {"TOP 1 1", "+OK top of message follows\r\nSubject: a\r\n\r\nline1\r\n.\r\n"},
        {"TOP 1 0", "+OK top of message follows\r\nSubject: a\r\n\r\n.\r\n"},
        {"RETR 9", "-ERR no such message\r\n"},
        {"NOOP", "+OK\r\n"},
        {"DELE 1", "+OK message 1 deleted\r\n"},
        {"DELE 1", "-ERR message 1 already deleted\r\n"},
        {"RETR 1", "-ERR message 1 already deleted\r\n"},
        {"LIST 1", "-ERR message 1 already deleted\r\n"},
        {"STAT", "+OK 1 17\r\n"},
        {"LIST", "+OK 1 messages (17 octets)\r\n2 17\r\n.\r\n"},
        {"RSET", "+OK maildrop has 2 messages (51 octets)\r\n"},
        {"STAT", "+OK 2 51\r\n"},
        {"USER x", "-ERR command not valid after login\r\n"},
        {"STLS", "-ERR command not valid after login\r\n"},
    };
    for (auto& r : rows) CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.want, run(t, r.in));
    // The message size LIST reports is what RETR sends before dot-stuffing.
    CPPUNIT_ASSERT(run(t, "CAPA").find("\r\nUIDL\r\n") != std::string::npos);
    // A message bigger than the read limit is refused, not read.
    Transaction small = open(10);
    CPPUNIT_ASSERT_EQUAL(std::string("-ERR message too big to read\r\n"), run(small, "RETR 1"));
  }

  void delete_only_at_quit() {
    testing::TempDir tmp;
    md_ = tmp.file("Maildir");
    for (int i = 0; i < 3; ++i) CPPUNIT_ASSERT(mailbox::deliver(md_, "Subject: " + std::to_string(i) + "\n\n").ok());
    std::string kept_uidl;
    {
      // A session that marks and then just ends (dropped connection) deletes nothing.
      Transaction t = open();
      run(t, "DELE 1");
      run(t, "DELE 2");
    }
    {
      Transaction t = open();
      CPPUNIT_ASSERT_EQUAL(size_t(3), t.count());
      kept_uidl = t.uidl(2);
      run(t, "DELE 1");
      run(t, "DELE 2");
      bool quit = false;
      CPPUNIT_ASSERT_EQUAL(std::string("+OK bye (2 messages deleted)\r\n"), run(t, "QUIT", &quit));
      CPPUNIT_ASSERT(quit);
      CPPUNIT_ASSERT_EQUAL(uint64_t(2), t.stats().deleted);
    }
    Transaction t = open();
    CPPUNIT_ASSERT_EQUAL(size_t(1), t.count());
    CPPUNIT_ASSERT_EQUAL(kept_uidl, t.uidl(0));  // stable across sessions
  }

  void expunged_elsewhere() {
    testing::TempDir tmp;
    md_ = tmp.file("Maildir");
    auto d = mailbox::deliver(md_, "Subject: gone\n\n");
    CPPUNIT_ASSERT(d.ok());
    Transaction t = open();
    CPPUNIT_ASSERT(::unlink(d->file.c_str()) == 0);
    CPPUNIT_ASSERT_EQUAL(std::string("-ERR message was removed by another session\r\n"), run(t, "RETR 1"));
    run(t, "DELE 1");
    bool quit = false;
    CPPUNIT_ASSERT_EQUAL(std::string("+OK bye (1 messages deleted)\r\n"), run(t, "QUIT", &quit));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(TransactionTest);
