// lib/imap/command_test.cc - the incremental command reader: table rows fed whole and
// one byte at a time, literals, limits, pipelining and recovery after errors.
#include "lib/imap/command.h"

#include <cppunit/extensions/HelperMacros.h>

using namespace postilion;
using imap::CommandReader;

namespace {

std::string render(const std::vector<imap::Arg>& args);
std::string render(const imap::Arg& a) {
  switch (a.kind) {
    case imap::Arg::Kind::Atom: return a.text;
    case imap::Arg::Kind::Quoted: return "\"" + a.text + "\"";
    case imap::Arg::Kind::Literal: return (a.binary ? "~{" : "{") + a.text + "}";
    case imap::Arg::Kind::List: return "(" + render(a.list) + ")";
  }
  return "?";
}
std::string render(const std::vector<imap::Arg>& args) {
  std::string s;
  for (size_t i = 0; i < args.size(); ++i) s += (i ? " " : "") + render(args[i]);
  return s;
}

// Feeds input in chunks of `step` bytes (0: all at once) and returns every event as a
// line: "CMD tag NAME args", "CONT", "ERR reply", "LINE text"; "MORE" if input ended
// in the middle of a command.
std::string run(const std::string& input, size_t step, imap::ReaderLimits limits = {}) {
  CommandReader r(limits);
  std::string out;
  std::string pending;
  size_t pos = 0;
  bool more = false;
  while (pos < input.size() || !pending.empty()) {
    if (pending.empty() || more) {
      if (pos >= input.size()) break;
      size_t n = step == 0 ? input.size() - pos : std::min(step, input.size() - pos);
      pending += input.substr(pos, n);
      pos += n;
    }
    size_t used = 0;
    auto st = r.feed(pending, &used);
    CPPUNIT_ASSERT(used <= pending.size());
    pending.erase(0, used);
    more = st == CommandReader::Status::NeedMore;
    switch (st) {
      case CommandReader::Status::NeedMore: break;
      case CommandReader::Status::Continue: out += "CONT\n"; break;
      case CommandReader::Status::Command: {
        const auto& c = r.command();
        out += "CMD " + c.tag + " " + (c.uid ? "UID " : "") + c.name;
        if (!c.args.empty()) out += " " + render(c.args);
        out += "\n";
        break;
      }
      case CommandReader::Status::Line: out += "LINE " + r.line() + "\n"; break;
      case CommandReader::Status::Error:
        out += "ERR " + r.error().reply.substr(0, r.error().reply.size() - 2) + (r.error().fatal ? " (fatal)" : "") + "\n";
        if (r.error().fatal) return out;
        break;
    }
    if (more && pos >= input.size()) break;
  }
  if (!r.idle()) out += "MORE\n";
  return out;
}

}  // namespace

class CommandTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(CommandTest);
  CPPUNIT_TEST(table);
  CPPUNIT_TEST(literals);
  CPPUNIT_TEST(limits);
  CPPUNIT_TEST(raw_lines);
  CPPUNIT_TEST_SUITE_END();

 public:
  void table() {
    struct Row { std::string in, out; } rows[] = {
        {"a1 NOOP\r\n", "CMD a1 NOOP\n"},
        {"a1 noop\n", "CMD a1 NOOP\n"},
        {"a2 LOGIN user \"pa ss\\\"w\"\r\n", "CMD a2 LOGIN user \"pa ss\"w\"\n"},
        {"a3 UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From To)]<0.100>)\r\n",
         "CMD a3 UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From To)]<0.100>)\n"},
        {"a4 FETCH 1 BODY[HEADER.FIELDS (\"X )\")]\r\n", "CMD a4 FETCH 1 BODY[HEADER.FIELDS (\"X )\")]\n"},
        {"a5 SEARCH OR (FROM a) (NOT TO \"b\") UNSEEN\r\n", "CMD a5 SEARCH OR (FROM a) (NOT TO \"b\") UNSEEN\n"},
        {"a6 STORE 1 +FLAGS (\\Seen \\Deleted)\r\n", "CMD a6 STORE 1 +FLAGS (\\Seen \\Deleted)\n"},
        {"a7 LIST \"\" *\r\n", "CMD a7 LIST \"\" *\n"},
        {"a8 SELECT INBOX (CONDSTORE)\r\n", "CMD a8 SELECT INBOX (CONDSTORE)\n"},
        {"a9 X ()\r\n", "CMD a9 X ()\n"},
        {"\r\n\r\na1 NOOP\r\n", "CMD a1 NOOP\n"},  // blank lines ignored
        {"a1 NOOP\r\na2 NOOP\r\na3 LOGOUT\r\n", "CMD a1 NOOP\nCMD a2 NOOP\nCMD a3 LOGOUT\n"},
        // Malformed lines: a tagged BAD, then the next command is read.
        {"a1 SELECT (INBOX\r\na2 NOOP\r\n", "ERR a1 BAD Missing ')'\nCMD a2 NOOP\n"},
        {"a1 SELECT INBOX)\r\na2 NOOP\r\n", "ERR a1 BAD Unexpected ')'\nCMD a2 NOOP\n"},
        {"a1 SELECT caf\xC3\xA9\r\na2 NOOP\r\n", "ERR a1 BAD 8-bit characters in an atom\nCMD a2 NOOP\n"},
        {"a1 LOGIN \"unterminated\r\na2 NOOP\r\n", "ERR a1 BAD Unterminated quoted string\nCMD a2 NOOP\n"},
        {"a1 LOGIN \"bad\\escape\"\r\n", "ERR a1 BAD Invalid escape in a quoted string\n"},
        {"a1\r\n", "ERR a1 BAD Missing command\n"},
        {" NOOP\r\n", "ERR * BAD Missing tag\n"},
        {"a+1 NOOP\r\n", "ERR * BAD Invalid tag\n"},
        {"a\x01 NOOP\r\n", "ERR * BAD Invalid tag\n"},
        {"a1 NO\"OP\r\n", "ERR a1 BAD Invalid command name\n"},
        {"a1 UID\r\n", "ERR a1 BAD Missing command after UID\n"},
        {"a1 FETCH 1 BODY[HEADER\r\na2 NOOP\r\n", "ERR a1 BAD Missing ']'\nCMD a2 NOOP\n"},
        {"a1 X a\rb\r\n", "ERR a1 BAD Bare CR in a command\n"},
        {"a1 X a\r\r\n", "ERR a1 BAD Bare CR in a command\n"},
        {"a1 X {abc}\r\n", "ERR a1 BAD Invalid literal size\n"},
        {"a1 X {}\r\n", "ERR a1 BAD Invalid literal size\n"},
        {"a1 X {99999999999}\r\n", "ERR a1 BAD Invalid literal size\n"},
        {"a1 X {5}x\r\n", "ERR a1 BAD Missing line end after a literal size\n"},
        {std::string("a1 X \"a\0b\"\r\n", 12), "ERR a1 BAD Unterminated quoted string\n"},
        {"a1 NOOP", "MORE\n"},
    };
    for (auto& r : rows) {
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.out, run(r.in, 0));
      CPPUNIT_ASSERT_EQUAL_MESSAGE("bytewise: " + r.in, r.out, run(r.in, 1));
      CPPUNIT_ASSERT_EQUAL_MESSAGE("3 bytes: " + r.in, r.out, run(r.in, 3));
    }
  }

  void literals() {
    struct Row { std::string in, out; } rows[] = {
        {"a1 LOGIN {4}\r\nuser {4}\r\npass\r\n", "CONT\nCONT\nCMD a1 LOGIN {user} {pass}\n"},
        {"a1 LOGIN {4+}\r\nuser {4+}\r\npass\r\n", "CMD a1 LOGIN {user} {pass}\n"},
        {"a1 X {0}\r\n\r\n", "CONT\nCMD a1 X {}\n"},
        {"a1 X ({2}\r\n()) y\r\n", "CONT\nCMD a1 X ({()}) y\n"},
        {std::string("a1 APPEND box ~{3}\r\na\0b\r\n", 25), std::string("CONT\nCMD a1 APPEND box ~{a\0b}\n", 30)},
        {"a1 X {3}\r\n\r\n\r\r\n", "CONT\nCMD a1 X {\r\n\r}\n"},
        // Pipelined after a literal.
        {"a1 X {1+}\r\nz\r\na2 NOOP\r\n", "CMD a1 X {z}\nCMD a2 NOOP\n"},
        // A literal never sent: the reader waits, holding nothing but what it read.
        {"a1 LOGIN {100}\r\nabc", "CONT\nMORE\n"},
    };
    for (auto& r : rows) {
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.out, run(r.in, 0));
      CPPUNIT_ASSERT_EQUAL_MESSAGE("bytewise: " + r.in, r.out, run(r.in, 1));
    }
    imap::ReaderLimits l;
    l.max_literal = 10;
    l.max_append_literal = 20;
    // Too large and synchronizing: refused, no "+", the session goes on.
    CPPUNIT_ASSERT_EQUAL(std::string("ERR a1 BAD Literal too large\nCMD a2 NOOP\n"),
                         run("a1 LOGIN {11}\r\na2 NOOP\r\n", 1, l));
    CPPUNIT_ASSERT_EQUAL(std::string("ERR a1 BAD [TOOBIG] Literal too large\nCMD a2 NOOP\n"),
                         run("a1 APPEND x {21}\r\na2 NOOP\r\n", 1, l));
    CPPUNIT_ASSERT_EQUAL(std::string("CONT\nCMD a1 APPEND x {12345678901234567890}\n"),
                         run("a1 APPEND x {20}\r\n12345678901234567890\r\n", 1, l));
    // Too large and non-synchronizing: fatal, the data cannot be framed.
    CPPUNIT_ASSERT_EQUAL(std::string("ERR a1 BAD Literal too large (fatal)\n"),
                         run("a1 LOGIN {11+}\r\n01234567890 x\r\n", 0, l));
    // LITERAL-: at most 4096 non-synchronizing.
    imap::ReaderLimits minus;
    minus.max_nonsync_literal = 4096;
    minus.max_literal = 1 << 20;
    CPPUNIT_ASSERT_EQUAL(std::string("ERR a1 BAD Literal too large (fatal)\n"),
                         run("a1 X {4097+}\r\n", 0, minus));
    std::string ok = "a1 X {4096+}\r\n" + std::string(4096, 'x') + "\r\n";
    CPPUNIT_ASSERT_EQUAL(std::string("CMD a1 X {" + std::string(4096, 'x') + "}\n"), run(ok, 0, minus));
    // Data of a non-synchronizing literal on a refused line is skipped, not run.
    CPPUNIT_ASSERT_EQUAL(std::string("ERR a1 BAD Unexpected ')'\nCMD a2 NOOP\n"),
                         run("a1 X ) {11+}\r\nb1 LOGOUT\r\n\r\na2 NOOP\r\n", 1));
  }

  void limits() {
    imap::ReaderLimits l;
    l.max_line = 100;
    l.max_depth = 3;
    l.max_args = 10;
    CPPUNIT_ASSERT_EQUAL(std::string("ERR a1 BAD Line too long\nCMD a2 NOOP\n"),
                         run("a1 X " + std::string(200, 'x') + "\r\na2 NOOP\r\n", 7, l));
    CPPUNIT_ASSERT_EQUAL(std::string("ERR a1 BAD Too deep nesting\nCMD a2 NOOP\n"),
                         run("a1 X ((((a))))\r\na2 NOOP\r\n", 1, l));
    CPPUNIT_ASSERT_EQUAL(std::string("CMD a1 X (((a)))\n"), run("a1 X (((a)))\r\n", 1, l));
    CPPUNIT_ASSERT_EQUAL(std::string("ERR a1 BAD Too many arguments\nCMD a2 NOOP\n"),
                         run("a1 X 1 2 3 4 5 6 7 8 9 10 11\r\na2 NOOP\r\n", 1, l));
    // Hostile: a megabyte of '(' and no line end stays bounded and reports once.
    std::string deep = "a1 X " + std::string(1 << 20, '(');
    // The rest of the line is being skipped when the input ends.
    CPPUNIT_ASSERT_EQUAL(std::string("ERR a1 BAD Too deep nesting\nMORE\n"), run(deep, 4096));
    std::string longline = "a1 X " + std::string(1 << 20, 'a');
    CPPUNIT_ASSERT_EQUAL(std::string("ERR a1 BAD Line too long\nMORE\n"), run(longline, 4096));
    // Many pipelined commands in one packet.
    std::string many, want;
    for (int i = 0; i < 2000; ++i) {
      many += "t" + std::to_string(i) + " NOOP\r\n";
      want += "CMD t" + std::to_string(i) + " NOOP\n";
    }
    CPPUNIT_ASSERT_EQUAL(want, run(many, 0));
    CPPUNIT_ASSERT_EQUAL(want, run(many, 1000));
  }

  void raw_lines() {
    CommandReader r;
    size_t used = 0;
    std::string in = "a1 AUTHENTICATE PLAIN\r\ndXNlcg==\r\na2 IDLE\r\nDONE\r\n";
    CPPUNIT_ASSERT(r.feed(in, &used) == CommandReader::Status::Command);
    CPPUNIT_ASSERT_EQUAL(std::string("AUTHENTICATE"), r.command().name);
    in.erase(0, used);
    r.expect_line();
    // The line comes in two pieces.
    CPPUNIT_ASSERT(r.feed(in.substr(0, 4), &used) == CommandReader::Status::NeedMore);
    CPPUNIT_ASSERT_EQUAL(size_t(4), used);
    in.erase(0, used);
    CPPUNIT_ASSERT(r.feed(in, &used) == CommandReader::Status::Line);
    CPPUNIT_ASSERT_EQUAL(std::string("dXNlcg=="), r.line());
    in.erase(0, used);
    CPPUNIT_ASSERT(r.feed(in, &used) == CommandReader::Status::Command);
    CPPUNIT_ASSERT_EQUAL(std::string("IDLE"), r.command().name);
    in.erase(0, used);
    r.expect_line();
    CPPUNIT_ASSERT(r.feed(in, &used) == CommandReader::Status::Line);
    CPPUNIT_ASSERT_EQUAL(std::string("DONE"), r.line());
    // An over-long raw line is an error and the rest of it is skipped.
    imap::ReaderLimits l;
    l.max_line = 10;
    CommandReader s(l);
    s.expect_line();
    std::string big = std::string(50, 'x') + "\r\na1 NOOP\r\n";
    CPPUNIT_ASSERT(s.feed(big, &used) == CommandReader::Status::Error);
    big.erase(0, used);
    CPPUNIT_ASSERT(s.feed(big, &used) == CommandReader::Status::Command);
    CPPUNIT_ASSERT_EQUAL(std::string("a1"), s.command().tag);
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(CommandTest);
