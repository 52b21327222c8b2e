// lib/pop3/command_test.cc - table tests of POP3 command lines (the line reader is
// lib/mail's), with malformed, oversized and hostile rows.
#include "lib/pop3/command.h"

#include <cppunit/extensions/HelperMacros.h>

using namespace postilion::pop3;

class Pop3CommandTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(Pop3CommandTest);
  CPPUNIT_TEST(commands);
  CPPUNIT_TEST(numbers);
  CPPUNIT_TEST(sasl_plain);
  CPPUNIT_TEST_SUITE_END();

 public:
  void commands() {
    // The line reader is tested in lib/mail; here, its default is the POP3 line limit.
    size_t used = 0;
    std::string_view l;
    CPPUNIT_ASSERT(LineReader().next(std::string(kMaxCommandLine, 'a') + "\n", &used, &l) == LineReader::Status::Line);
    CPPUNIT_ASSERT(LineReader().next(std::string(kMaxCommandLine + 1, 'a') + "\n", &used, &l) ==
                   LineReader::Status::TooLong);
    struct Row {
      std::string in;
      bool ok;
      Verb verb;
      const char* arg;
      uint64_t msg;  // 0 = none
      uint64_t lines;
      const char* err;  // prefix of the error text
    } rows[] = {
        {"USER alice", true, Verb::User, "alice", 0, 0, ""},
        {"user alice@example.org", true, Verb::User, "alice@example.org", 0, 0, ""},
        {"USER", false, Verb::User, "", 0, 0, "syntax error"},
        {"USER a b", false, Verb::User, "", 0, 0, "syntax error"},
        {"PASS secret", true, Verb::Pass, "secret", 0, 0, ""},
        {"PASS with  spaces ", true, Verb::Pass, "with  spaces ", 0, 0, ""},
        {"PASS", false, Verb::Pass, "", 0, 0, "syntax error"},
        {"PASS ", false, Verb::Pass, "", 0, 0, "syntax error"},
        {std::string("PASS a\0b", 8), false, Verb::Pass, "", 0, 0, "syntax error"},
        {"STAT", true, Verb::Stat, "", 0, 0, ""},
        {"stat", true, Verb::Stat, "", 0, 0, ""},
        {"StAt", true, Verb::Stat, "", 0, 0, ""},
        {"STAT 1", false, Verb::Stat, "", 0, 0, "syntax error"},
        {"LIST", true, Verb::List, "", 0, 0, ""},
        {"LIST 3", true, Verb::List, "", 3, 0, ""},
        {"LIST  3 ", true, Verb::List, "", 3, 0, ""},
        {"LIST 0", false, Verb::List, "", 0, 0, "invalid message number"},
        {"LIST -1", false, Verb::List, "", 0, 0, "invalid message number"},
        {"LIST +1", false, Verb::List, "", 0, 0, "invalid message number"},
        {"LIST 1x", false, Verb::List, "", 0, 0, "invalid message number"},
        {"LIST 99999999999999999999", false, Verb::List, "", 0, 0, "invalid message number"},
        {"LIST 1 2", false, Verb::List, "", 0, 0, "syntax error"},
        {"UIDL", true, Verb::Uidl, "", 0, 0, ""},
        {"UIDL 7", true, Verb::Uidl, "", 7, 0, ""},
        {"RETR 1", true, Verb::Retr, "", 1, 0, ""},
        {"RETR", false, Verb::Retr, "", 0, 0, "syntax error"},
        {"RETR a", false, Verb::Retr, "", 0, 0, "invalid message number"},
        {"DELE 12", true, Verb::Dele, "", 12, 0, ""},
        {"DELE 1 2", false, Verb::Dele, "", 0, 0, "syntax error"},
        {"TOP 1 0", true, Verb::Top, "", 1, 0, ""},
        {"TOP 2 15", true, Verb::Top, "", 2, 15, ""},
        {"TOP 2", false, Verb::Top, "", 0, 0, "syntax error"},
        {"TOP 2 -1", false, Verb::Top, "", 0, 0, "invalid line count"},
        {"TOP 0 1", false, Verb::Top, "", 0, 0, "invalid message number"},
        {"RSET", true, Verb::Rset, "", 0, 0, ""},
        {"NOOP", true, Verb::Noop, "", 0, 0, ""},
        {"QUIT", true, Verb::Quit, "", 0, 0, ""},
        {"QUIT now", false, Verb::Quit, "", 0, 0, "syntax error"},
        {"CAPA", true, Verb::Capa, "", 0, 0, ""},
        {"STLS", true, Verb::Stls, "", 0, 0, ""},
        {"AUTH", true, Verb::Auth, "", 0, 0, ""},
        {"AUTH plain", true, Verb::Auth, "PLAIN", 0, 0, ""},
        {"AUTH PLAIN AGFsaWNlAHNlY3JldA==", true, Verb::Auth, "PLAIN", 0, 0, ""},
        {"AUTH PLAIN a b", false, Verb::Auth, "", 0, 0, "syntax error"},
        {"AUTH " + std::string(41, 'M'), false, Verb::Auth, "", 0, 0, "syntax error"},
        {"", false, Verb::Noop, "", 0, 0, "empty command"},
        {"   ", false, Verb::Noop, "", 0, 0, "empty command"},
        {"XTND XMIT", false, Verb::Noop, "", 0, 0, "unknown command"},
        {"STATUS", false, Verb::Noop, "", 0, 0, "unknown command"},
        {"GET / HTTP/1.0", false, Verb::Noop, "", 0, 0, "unknown command"},
        {" STAT", false, Verb::Noop, "", 0, 0, "unknown command"},
        {"ST\x01T", false, Verb::Noop, "", 0, 0, "unknown command"},
        {"NOOP\t", false, Verb::Noop, "", 0, 0, "unknown command"},
        {"USER \x1b[31mx", false, Verb::User, "", 0, 0, "syntax error"},
        {std::string("USER a\0b", 8), false, Verb::User, "", 0, 0, "syntax error"},
        {"USER " + std::string(300, 'u'), false, Verb::User, "", 0, 0, "syntax error"},
        {std::string(3000, 'A'), false, Verb::Noop, "", 0, 0, "unknown command"},
        {"\xff\xfe", false, Verb::Noop, "", 0, 0, "unknown command"},
    };
    for (auto& r : rows) {
      auto c = parse_command(r.in);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.ok, c.ok());
      if (!r.ok) {
        CPPUNIT_ASSERT_MESSAGE(r.in + " -> " + c.error(), c.error().rfind(r.err, 0) == 0);
        continue;
      }
      CPPUNIT_ASSERT_MESSAGE(r.in, c->verb == r.verb);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, std::string(r.arg), c->arg);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.msg, c->msg.value_or(0));
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.lines, c->lines);
    }
    auto a = parse_command("AUTH PLAIN =");
    CPPUNIT_ASSERT(a && a->initial && *a->initial == "=");
    CPPUNIT_ASSERT(parse_command("AUTH PLAIN") && !parse_command("AUTH PLAIN")->initial);
  }

  void numbers() {
    struct Row { const char* in; uint64_t want; } rows[] = {
        {"1", 1}, {"10", 10}, {"0001", 1}, {"9999999999", 9999999999ULL}, {"0", 0},
        {"", 0}, {"10000000000", 0}, {"1.5", 0}, {"0x10", 0}, {" 1", 0}, {"1e3", 0},
    };
    for (auto& r : rows) CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.want, parse_number(r.in).value_or(0));
  }

  void sasl_plain() {  // decoding is tested in lib/mail; here, POP3's limits
    auto c = parse_sasl_plain(std::string("\0alice\0secret", 13));
    CPPUNIT_ASSERT(c && c->user == "alice" && c->password == "secret");
    auto user = [](size_t n) { return std::string("\0", 1) + std::string(n, 'u') + std::string("\0pw", 3); };
    CPPUNIT_ASSERT(parse_sasl_plain(user(kMaxUserName)));
    CPPUNIT_ASSERT(!parse_sasl_plain(user(kMaxUserName + 1)));
    CPPUNIT_ASSERT(!parse_sasl_plain(std::string("\0u\0", 3) + std::string(kMaxPassword + 1, 'p')));
  }

};

CPPUNIT_TEST_SUITE_REGISTRATION(Pop3CommandTest);
