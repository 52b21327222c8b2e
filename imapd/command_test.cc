// imapd/command_test.cc - the command reader (whole commands, literals, continuations,
// limits; fed whole and one byte at a time) and the command parser (table-driven,
// with malformed and hostile rows), and response helpers.
#include "imapd/command.h"

#include <cppunit/extensions/HelperMacros.h>

#include "imapd/folders.h"
#include "imapd/response.h"

using namespace postilion;
using namespace postilion::imapd;
using RS = CommandReader::Status;

namespace {

// Feeds input (whole, or byte by byte) and returns what the reader said, one entry per
// event: "C:<command>", "+", "L:<tag>", "T:<tag>".
std::vector<std::string> events(const std::string& input, bool bytewise, size_t line = 100, size_t lit = 50) {
  CommandReader r(line, lit, 1000);
  std::vector<std::string> ev;
  std::string in;
  auto drain = [&] {
    for (;;) {
      std::string out;
      auto st = r.next(in, &out);
      if (st == RS::NeedMore) return;
      if (st == RS::Command) ev.push_back("C:" + out);
      else if (st == RS::Continuation) ev.push_back("+");
      else if (st == RS::LiteralTooBig) ev.push_back("L:" + out);
      else ev.push_back("T:" + out);
    }
  };
  if (bytewise) {
    for (char c : input) {
      in += c;
      drain();
    }
  } else {
    in = input;
    drain();
  }
  return ev;
}

}  // namespace

class CommandTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(CommandTest);
  CPPUNIT_TEST(reader);
  CPPUNIT_TEST(parser);
  CPPUNIT_TEST(names_and_patterns);
  CPPUNIT_TEST(dates);
  CPPUNIT_TEST_SUITE_END();

 public:
  void reader() {
    struct Row {
      std::string input;
      std::vector<std::string> want;
    };
    const std::string big(120, 'x');
    const Row rows[] = {
        {"a NOOP\r\n", {"C:a NOOP\r\n"}},
        {"a NOOP\r\nb NOOP\n", {"C:a NOOP\r\n", "C:b NOOP\n"}},
        {"a LOGIN {3}\r\nbob {2}\r\npw\r\n", {"+", "+", "C:a LOGIN {3}\r\nbob {2}\r\npw\r\n"}},
        {"a LOGIN {3+}\r\nbob pw\r\n", {"C:a LOGIN {3+}\r\nbob pw\r\n"}},
        {"a LOGIN {0}\r\n x\r\n", {"C:a LOGIN {0}\r\n x\r\n"}},
        // A literal over its limit: refused before it is sent (synchronizing) ...
        {"t1 LOGIN {99999999999}\r\nt2 NOOP\r\n", {"L:t1", "C:t2 NOOP\r\n"}},
        // ... or skipped (non-synchronizing), with the rest of its line.
        {"t1 X {60+}\r\n" + std::string(60, 'y') + " rest\r\nt2 NOOP\r\n", {"L:t1", "C:t2 NOOP\r\n"}},
        // APPEND literals have their own limit.
        {"t APPEND INBOX {60}\r\n" + std::string(60, 'm') + "\r\n",
         {"+", "C:t APPEND INBOX {60}\r\n" + std::string(60, 'm') + "\r\n"}},
        // Lines over the limit.
        {"t " + big + "\r\nu NOOP\r\n", {"T:t", "C:u NOOP\r\n"}},
        {"a {x}\r\n", {"C:a {x}\r\n"}},
    };
    for (const auto& row : rows) {
      CPPUNIT_ASSERT_MESSAGE(row.input, events(row.input, false) == row.want);
      CPPUNIT_ASSERT_MESSAGE(row.input, events(row.input, true) == row.want);
    }
    // An overlong line without its end yet is reported once, and its rest skipped.
    auto ev = events(big + big + "\r\nz NOOP\r\n", true);
    CPPUNIT_ASSERT_EQUAL(size_t(2), ev.size());
    CPPUNIT_ASSERT_EQUAL(std::string("C:z NOOP\r\n"), ev[1]);
  }

  void parser() {
    struct Row {
      std::string raw;
      bool ok;
      std::string tag, name;
      size_t args;
    };
    const Row rows[] = {
        {"a1 NOOP\r\n", true, "a1", "NOOP", 0},
        {"a1 login bob \"p w\"\r\n", true, "a1", "LOGIN", 2},
        {"a1 LOGIN {3}\r\nbob {2}\r\npw\r\n", true, "a1", "LOGIN", 2},
        {"a FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100>)\r\n", true, "a", "FETCH", 2},
        {"a SEARCH OR (SEEN FLAGGED) NOT DELETED\r\n", true, "a", "SEARCH", 4},
        {"a UID FETCH 1 (UID)\n", true, "a", "UID", 3},
        {"a FETCH 1 (FLAGS\r\n", false, "a", "", 0},
        {"a FETCH 1 FLAGS)\r\n", false, "a", "", 0},
        {"a FETCH 1 (FLAGS))\r\n", false, "a", "", 0},
        {"a LOGIN \"bob\r\n", false, "a", "", 0},
        {"a LOGIN {9}\r\nbob\r\n", false, "a", "", 0},
        {"a LOGIN b\xc3\xa9 x\r\n", false, "a", "", 0},
        {"a FETCH 1 BODY[HEADER\r\n", false, "a", "", 0},
        {"\r\n", false, "*", "", 0},
        {"a\r\n", false, "a", "", 0},
        {"* NOOP\r\n", false, "*", "", 0},
        {"a NOOP x\"y\"\r\n", false, "a", "", 0},
        {std::string("a X ") + std::string(40, '(') + std::string(40, ')') + "\r\n", false, "a", "", 0},
    };
    for (const auto& row : rows) {
      auto r = parse_command(row.raw);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(row.raw, row.ok, r.cmd.has_value());
      CPPUNIT_ASSERT_EQUAL_MESSAGE(row.raw, row.tag, r.tag);
      if (!row.ok) {
        CPPUNIT_ASSERT_MESSAGE(row.raw, !r.error.empty());
        continue;
      }
      CPPUNIT_ASSERT_EQUAL_MESSAGE(row.raw, row.name, r.cmd->name);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(row.raw, row.args, r.cmd->args.size());
    }
    auto r = parse_command("a LOGIN {3}\r\nb\"b \"p\\\"w\"\r\n");
    CPPUNIT_ASSERT(r.cmd);
    CPPUNIT_ASSERT_EQUAL(std::string("b\"b"), r.cmd->args[0].text);
    CPPUNIT_ASSERT(r.cmd->args[0].literal);
    CPPUNIT_ASSERT_EQUAL(std::string("p\"w"), r.cmd->args[1].text);
    r = parse_command("a FETCH 1 (FLAGS BODY[HEADER.FIELDS (FROM)]<0.5>)\r\n");
    CPPUNIT_ASSERT(r.cmd && r.cmd->args[1].is_list());
    CPPUNIT_ASSERT_EQUAL(std::string("BODY[HEADER.FIELDS (FROM)]<0.5>"), r.cmd->args[1].items[1].text);
  }

  void names_and_patterns() {
    CPPUNIT_ASSERT_EQUAL(std::string("/m"), *folder_path("/m", "inbox"));
    CPPUNIT_ASSERT_EQUAL(std::string("/m/.Lists.postfix"), *folder_path("/m", "Lists/postfix"));
    CPPUNIT_ASSERT_EQUAL(std::string("/m/.Sent"), *folder_path("/m", "Sent"));
    for (const char* bad : {"", "..", "../x", "a/../b", ".hidden", "a//b", "/a", "a/", "a*", "a%", "a.b", "a\tb"})
      CPPUNIT_ASSERT_MESSAGE(bad, !folder_path("/m", bad));
    CPPUNIT_ASSERT(pattern_match("*", "a/b"));
    CPPUNIT_ASSERT(pattern_match("%", "a"));
    CPPUNIT_ASSERT(!pattern_match("%", "a/b"));
    CPPUNIT_ASSERT(pattern_match("a/%", "a/b"));
    CPPUNIT_ASSERT(!pattern_match("a/%", "a/b/c"));
    CPPUNIT_ASSERT(pattern_match("S*t", "Sent"));
    CPPUNIT_ASSERT_EQUAL(std::string("(\\Answered \\Seen \\Recent)"), flags_to_imap("PRS", true));
    CPPUNIT_ASSERT_EQUAL(std::string("FRS"), normalize_letters("SRFS"));
  }

  void dates() {
    CPPUNIT_ASSERT_EQUAL(std::string("01-Jan-1970 00:00:00 +0000"), date_time(0));
    CPPUNIT_ASSERT_EQUAL(time_t(3600), parse_date_time("01-Jan-1970 02:00:00 +0100"));
    CPPUNIT_ASSERT_EQUAL(time_t(86400 + 60), parse_date_time(" 2-Jan-1970 00:01:00 +0000"));
    CPPUNIT_ASSERT_EQUAL(time_t(-1), parse_date_time("2-Jan-1970 00:01:00 +0000"));
    CPPUNIT_ASSERT_EQUAL(time_t(-1), parse_date_time("32-Jan-1970 00:01:00 +0000"));
    CPPUNIT_ASSERT_EQUAL(time_t(86400), parse_date("2-Jan-1970"));
    CPPUNIT_ASSERT_EQUAL(time_t(-1), parse_date("2-Foo-1970"));
    CPPUNIT_ASSERT_EQUAL(std::string("\"a\\\"b\""), astring("a\"b"));
    CPPUNIT_ASSERT_EQUAL(std::string("Lists/postfix"), astring("Lists/postfix"));
    CPPUNIT_ASSERT_EQUAL(std::string("\"a b\""), astring("a b"));
    CPPUNIT_ASSERT_EQUAL(std::string("\"NIL\""), astring("NIL"));
    CPPUNIT_ASSERT_EQUAL(std::string("{2}\r\na\n"), astring("a\n"));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(CommandTest);
