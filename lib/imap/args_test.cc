// lib/imap/args_test.cc - sequence sets, dates, FETCH attributes and the typed
// arguments of the other commands, with malformed and hostile rows.
#include "lib/imap/args.h"

#include <cppunit/extensions/HelperMacros.h>

#include "lib/imap/fetch.h"

using namespace postilion;
using imap::Arg;

namespace {

// Reads one command line with the command reader and returns its arguments.
std::vector<Arg> args_of(const std::string& line) {
  imap::CommandReader r;
  std::string in = "t " + line + "\r\n";
  size_t used = 0;
  auto st = r.feed(in, &used);
  while (st == imap::CommandReader::Status::Continue) {
    in.erase(0, used);
    st = r.feed(in, &used);
  }
  CPPUNIT_ASSERT_MESSAGE(line, st == imap::CommandReader::Status::Command);
  return r.command().args;
}

}  // namespace

class ArgsTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(ArgsTest);
  CPPUNIT_TEST(sequence_sets);
  CPPUNIT_TEST(dates);
  CPPUNIT_TEST(fetch_items);
  CPPUNIT_TEST(store);
  CPPUNIT_TEST(append);
  CPPUNIT_TEST(other_commands);
  CPPUNIT_TEST_SUITE_END();

 public:
  void sequence_sets() {
    struct Row { const char* in; const char* str; const char* resolved; } rows[] = {
        {"1", "1", "1"},
        {"1:*", "1:*", "1,2,3,4,5"},
        {"*:3", "*:3", "3,4,5"},
        {"5,1:2,7:9", "5,1:2,7:9", "1,2,5"},
        {"3:1", "3:1", "1,2,3"},
        {"*", "*", "5"},
        {"4294967295", "4294967295", ""},
        {"2,2,2:3", "2,2,2:3", "2,3"},
        {"$", "$", ""},
    };
    for (auto& r : rows) {
      auto s = imap::parse_sequence_set(r.in);
      CPPUNIT_ASSERT_MESSAGE(r.in, s);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, std::string(r.str), s->str());
      std::string got;
      for (uint32_t n : s->resolve(5)) got += (got.empty() ? "" : ",") + std::to_string(n);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, std::string(r.resolved), got);
    }
    const char* bad[] = {"", "0", "1:0", "01", "1,", ",1", "1::2", "a", "1:2:3", "-1", "4294967296",
                         "99999999999", "1 2", "*:", ":*", "1,,2", "$,1", "+1"};
    for (const char* b : bad) CPPUNIT_ASSERT_MESSAGE(b, !imap::parse_sequence_set(b));
    auto s = imap::parse_sequence_set("1:4294967295");
    CPPUNIT_ASSERT(s->contains(4000000000u, 10));
    CPPUNIT_ASSERT_EQUAL(size_t(10), s->resolve(10).size());
    CPPUNIT_ASSERT(imap::parse_sequence_set("*")->contains(7, 7));
    CPPUNIT_ASSERT(!imap::parse_sequence_set("*")->contains(6, 7));
    // Hostile: too many ranges.
    std::string many = "1";
    for (int i = 0; i < 100001; ++i) many += ",1";
    CPPUNIT_ASSERT(!imap::parse_sequence_set(many));
    CPPUNIT_ASSERT_EQUAL(std::string("1:3,7,9:10"), imap::compact_set({1, 2, 3, 7, 9, 10}));
    CPPUNIT_ASSERT_EQUAL(std::string(""), imap::compact_set({}));
  }

  void dates() {
    auto t = imap::parse_date_time("17-Jul-1996 02:44:25 -0700");
    CPPUNIT_ASSERT(t);
    CPPUNIT_ASSERT_EQUAL(int64_t(837596665), t->utc);
    CPPUNIT_ASSERT_EQUAL(-420, t->zone_minutes);
    CPPUNIT_ASSERT_EQUAL(std::string("17-Jul-1996 02:44:25 -0700"), imap::format_date_time(*t));
    CPPUNIT_ASSERT_EQUAL(std::string("01-Feb-2024 00:00:00 +0530"),
                         imap::format_date_time(*imap::parse_date_time(" 1-Feb-2024 00:00:00 +0530")));
    CPPUNIT_ASSERT(imap::parse_date_time("29-Feb-2024 23:59:59 +0000"));
    const char* bad[] = {"", "17-Jul-1996", "17-Jul-1996 02:44:25", "32-Jul-1996 02:44:25 -0700",
                         "29-Feb-2023 00:00:00 +0000", "17-Foo-1996 02:44:25 -0700",
                         "17-Jul-96 02:44:25 -0700", "17-Jul-1996 24:00:00 -0700",
                         "17-Jul-1996 02:44:25 0700", "17-Jul-1996 02:44:25 -07000",
                         "17-Jul-1996 2:4:25 -0700", "17-Jul-1996 02:44:25 -0760"};
    for (const char* b : bad) CPPUNIT_ASSERT_MESSAGE(b, !imap::parse_date_time(b));
    CPPUNIT_ASSERT_EQUAL(int64_t(0), *imap::parse_search_date("1-Jan-1970"));
    CPPUNIT_ASSERT_EQUAL(int64_t(8797), *imap::parse_search_date("01-Feb-1994"));
    CPPUNIT_ASSERT(!imap::parse_search_date("1-Feb-94"));
    struct Row { const char* in; int64_t utc; int zone; } rfc[] = {
        {"Tue, 1 Jul 2003 10:52:37 +0200", 1057049557, 120},
        {"1 Jul 2003 10:52:37 +0200 (CEST)", 1057049557, 120},
        {"Tue, 01 Jul 03 08:52 GMT", 1057049520, 0},
        {"Tue,  1 Jul 2003 04:52:37 EDT", 1057049557, -240},
        {"Tue, 1 jul 2003 08:52:37", 1057049557, 0},
    };
    for (auto& r : rfc) {
      auto d = imap::parse_rfc5322_date(r.in);
      CPPUNIT_ASSERT_MESSAGE(r.in, d);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.utc, d->utc);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.zone, d->zone_minutes);
    }
    for (const char* b : {"", "yesterday", "Tue, 31 Feb 2003 10:00:00 +0000", "1 Jul", "((("})
      CPPUNIT_ASSERT_MESSAGE(b, !imap::parse_rfc5322_date(b));
    CPPUNIT_ASSERT_EQUAL(int64_t(-1), imap::day_number(-1, 0));
    CPPUNIT_ASSERT_EQUAL(int64_t(1), imap::day_number(86400 - 3600, 60));
  }

  void fetch_items() {
    struct Row { const char* in; const char* names; } rows[] = {
        {"ALL", "FLAGS INTERNALDATE RFC822.SIZE ENVELOPE"},
        {"fast", "FLAGS INTERNALDATE RFC822.SIZE"},
        {"FULL", "FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY"},
        {"(UID RFC822.SIZE)", "UID RFC822.SIZE"},
        {"BODY[]", "BODY[]"},
        {"BODY.PEEK[]<0.10>", "BODY[]<0>"},
        {"(body[1.2.mime] BODY[1.2.TEXT] BODY[3.HEADER])", "BODY[1.2.MIME] BODY[1.2.TEXT] BODY[3.HEADER]"},
        {"BODY[HEADER.FIELDS (From to)]", "BODY[HEADER.FIELDS (FROM TO)]"},
        {"BODY.PEEK[1.HEADER.FIELDS.NOT (\"X-A\")]<5.7>", "BODY[1.HEADER.FIELDS.NOT (X-A)]<5>"},
        {"(RFC822 RFC822.HEADER RFC822.TEXT BODYSTRUCTURE INTERNALDATE)", "RFC822 RFC822.HEADER RFC822.TEXT BODYSTRUCTURE INTERNALDATE"},
        {"(BINARY[1] BINARY.PEEK[1.2]<0.5> BINARY.SIZE[2] MODSEQ)", "BINARY[1] BINARY[1.2]<0> BINARY.SIZE[2] MODSEQ"},
        {"BODY[1]", "BODY[1]"},
    };
    for (auto& r : rows) {
      auto a = args_of("FETCH 1 " + std::string(r.in));
      auto req = imap::parse_fetch(a, 1);
      CPPUNIT_ASSERT_MESSAGE(r.in, std::holds_alternative<imap::FetchRequest>(req));
      std::string names;
      for (const auto& it : std::get<imap::FetchRequest>(req).items)
        names += (names.empty() ? "" : " ") + it.response_name();
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, std::string(r.names), names);
    }
    auto peek = std::get<imap::FetchItem>(imap::parse_fetch_item("BODY.PEEK[TEXT]"));
    CPPUNIT_ASSERT(peek.peek && !peek.sets_seen());
    CPPUNIT_ASSERT(std::get<imap::FetchItem>(imap::parse_fetch_item("BODY[TEXT]")).sets_seen());
    CPPUNIT_ASSERT(std::get<imap::FetchItem>(imap::parse_fetch_item("RFC822")).sets_seen());
    CPPUNIT_ASSERT(!std::get<imap::FetchItem>(imap::parse_fetch_item("RFC822.HEADER")).sets_seen());
    auto part = std::get<imap::FetchItem>(imap::parse_fetch_item("BODY[1.2.3]<10.20>"));
    CPPUNIT_ASSERT_EQUAL(size_t(3), part.section.part.size());
    CPPUNIT_ASSERT_EQUAL(uint32_t(10), *part.partial_offset);
    CPPUNIT_ASSERT_EQUAL(uint32_t(20), part.partial_length);
    const char* bad[] = {"BODY[", "BODY[0]", "BODY[1.]", "BODY[.1]", "BODY[MIME]", "BODY[1.FOO]",
                         "BODY[HEADER.FIELDS]", "BODY[HEADER.FIELDS ()]", "BODY[HEADER.FIELDS (a:b)]",
                         "BODY[TEXT (x)]", "BODY[]<>", "BODY[]<1>", "BODY[]<1.0>", "BODY[]<a.b>",
                         "BODY[]x", "BODY.PEEK", "FOO", "BINARY[TEXT]", "BINARY.SIZE[1]<0.1>",
                         "BODY[01]", "BODY[4294967296]", "BODY[]<0.4294967296>", "BODYX[]"};
    for (const char* b : bad)
      CPPUNIT_ASSERT_MESSAGE(b, std::holds_alternative<std::string>(imap::parse_fetch_item(b)));
    // Hostile: very deep section numbers, many field names.
    std::string deep = "BODY[1";
    for (int i = 0; i < 100; ++i) deep += ".1";
    CPPUNIT_ASSERT(std::holds_alternative<std::string>(imap::parse_fetch_item(deep + "]")));
    std::string fields = "BODY[HEADER.FIELDS (";
    for (int i = 0; i < 300; ++i) fields += "X" + std::to_string(i) + " ";
    CPPUNIT_ASSERT(std::holds_alternative<std::string>(imap::parse_fetch_item(fields + ")]")));
    // Modifiers.
    auto a = args_of("FETCH 1:* (FLAGS) (CHANGEDSINCE 12345 VANISHED)");
    auto req = std::get<imap::FetchRequest>(imap::parse_fetch(a, 1));
    CPPUNIT_ASSERT_EQUAL(uint64_t(12345), *req.changedsince);
    CPPUNIT_ASSERT(req.vanished);
    for (const char* b : {"FETCH 1 (FLAGS) (CHANGEDSINCE)", "FETCH 1 (FLAGS) (CHANGEDSINCE x)",
                          "FETCH 1 (FLAGS) (FOO)", "FETCH 1 ()", "FETCH 1 \"FLAGS\"", "FETCH 1",
                          "FETCH 1 (FLAGS) (CHANGEDSINCE 0)", "FETCH 1 (FLAGS (X))", "FETCH 1 FLAGS x"}) {
      auto args = args_of(b);
      CPPUNIT_ASSERT_MESSAGE(b, std::holds_alternative<std::string>(imap::parse_fetch(args, 1)));
    }
  }

  void store() {
    auto s = std::get<imap::StoreRequest>(imap::parse_store(args_of("STORE 1 +FLAGS.SILENT (\\seen $Junk)"), 1));
    CPPUNIT_ASSERT(s.mode == imap::StoreRequest::Mode::Add);
    CPPUNIT_ASSERT(s.silent);
    CPPUNIT_ASSERT_EQUAL(size_t(2), s.flags.size());
    CPPUNIT_ASSERT_EQUAL(std::string("\\Seen"), s.flags[0]);
    s = std::get<imap::StoreRequest>(imap::parse_store(args_of("STORE 1 -FLAGS \\Deleted \\Draft"), 1));
    CPPUNIT_ASSERT(s.mode == imap::StoreRequest::Mode::Remove);
    CPPUNIT_ASSERT_EQUAL(size_t(2), s.flags.size());
    s = std::get<imap::StoreRequest>(imap::parse_store(args_of("STORE 1 (UNCHANGEDSINCE 7) FLAGS ()"), 1));
    CPPUNIT_ASSERT_EQUAL(uint64_t(7), *s.unchangedsince);
    CPPUNIT_ASSERT(s.flags.empty());
    for (const char* b : {"STORE 1 FLAGS", "STORE 1 +FLAG (\\Seen)", "STORE 1 FLAGS (\\Recent)",
                          "STORE 1 FLAGS (\\Foo)", "STORE 1 FLAGS (a]b)", "STORE 1 FLAGS (\"x\")",
                          "STORE 1 (UNCHANGEDSINCE) FLAGS ()", "STORE 1 (FOO 1) FLAGS ()",
                          "STORE 1 FLAGS (a) (b)", "STORE 1 FLAGS ((a))"}) {
      CPPUNIT_ASSERT_MESSAGE(b, std::holds_alternative<std::string>(imap::parse_store(args_of(b), 1)));
    }
    CPPUNIT_ASSERT_EQUAL(std::string("\\Recent"), *imap::parse_flag("\\RECENT", true));
    CPPUNIT_ASSERT(!imap::parse_flag(std::string(200, 'k')));
  }

  void append() {
    auto a = args_of("APPEND \"Sent\" (\\Seen) \" 7-Jul-1996 02:44:25 -0700\" {5}\r\nhello {3}\r\nabc");
    auto r = std::get<imap::AppendRequest>(imap::parse_append(a));
    CPPUNIT_ASSERT_EQUAL(std::string("Sent"), r.mailbox);
    CPPUNIT_ASSERT_EQUAL(size_t(2), r.messages.size());  // MULTIAPPEND
    CPPUNIT_ASSERT_EQUAL(std::string("hello"), r.messages[0].message);
    CPPUNIT_ASSERT(r.messages[0].date);
    CPPUNIT_ASSERT_EQUAL(std::string("abc"), r.messages[1].message);
    CPPUNIT_ASSERT(!r.messages[1].date && r.messages[1].flags.empty());
    for (const char* b : {"APPEND box", "APPEND box \"hello\"", "APPEND box (\\Seen)",
                          "APPEND box \"bad date\" {1}\r\nx", "APPEND (x) {1}\r\nx",
                          "APPEND box (\\Bogus) {1}\r\nx", "APPEND box {1}\r\nx extra"}) {
      auto args = args_of(b);
      CPPUNIT_ASSERT_MESSAGE(b, std::holds_alternative<std::string>(imap::parse_append(args)));
    }
  }

  void other_commands() {
    auto st = std::get<imap::StatusRequest>(imap::parse_status(args_of("STATUS INBOX (MESSAGES uidnext UNSEEN HIGHESTMODSEQ)")));
    CPPUNIT_ASSERT_EQUAL(size_t(4), st.items.size());
    CPPUNIT_ASSERT_EQUAL(std::string("UIDNEXT"), std::string(imap::status_item_name(st.items[1])));
    for (const char* b : {"STATUS INBOX ()", "STATUS INBOX (FOO)", "STATUS INBOX MESSAGES", "STATUS (MESSAGES)"})
      CPPUNIT_ASSERT_MESSAGE(b, std::holds_alternative<std::string>(imap::parse_status(args_of(b))));

    auto l = std::get<imap::ListRequest>(imap::parse_list(args_of("LIST \"\" %")));
    CPPUNIT_ASSERT_EQUAL(std::string("%"), l.patterns.at(0));
    l = std::get<imap::ListRequest>(imap::parse_list(args_of("LIST (SUBSCRIBED) \"Lists/\" (\"a*\" b%) RETURN (CHILDREN STATUS (MESSAGES))")));
    CPPUNIT_ASSERT_EQUAL(size_t(2), l.patterns.size());
    CPPUNIT_ASSERT_EQUAL(std::string("SUBSCRIBED"), l.select_options.at(0));
    CPPUNIT_ASSERT_EQUAL(size_t(1), l.return_status.size());
    for (const char* b : {"LIST \"\"", "LIST \"\" ()", "LIST \"\" * FOO", "LIST \"\" * RETURN (STATUS)", "LIST a\\b *"})
      CPPUNIT_ASSERT_MESSAGE(b, std::holds_alternative<std::string>(imap::parse_list(args_of(b))));

    auto sel = std::get<imap::SelectRequest>(imap::parse_select(args_of("SELECT INBOX (CONDSTORE)")));
    CPPUNIT_ASSERT(sel.condstore);
    sel = std::get<imap::SelectRequest>(imap::parse_select(args_of("EXAMINE \"a b\" (QRESYNC (1 2))")));
    CPPUNIT_ASSERT_EQUAL(std::string("a b"), sel.mailbox);
    CPPUNIT_ASSERT_EQUAL(size_t(2), sel.qresync.size());
    for (const char* b : {"SELECT", "SELECT a b", "SELECT a (FOO)", "SELECT (a)"})
      CPPUNIT_ASSERT_MESSAGE(b, std::holds_alternative<std::string>(imap::parse_select(args_of(b))));

    auto au = std::get<imap::AuthenticateRequest>(imap::parse_authenticate(args_of("AUTHENTICATE plain AHVzZXIAcGFzcw==")));
    CPPUNIT_ASSERT_EQUAL(std::string("PLAIN"), au.mechanism);
    CPPUNIT_ASSERT_EQUAL(std::string("AHVzZXIAcGFzcw=="), *au.initial);
    au = std::get<imap::AuthenticateRequest>(imap::parse_authenticate(args_of("AUTHENTICATE PLAIN =")));
    CPPUNIT_ASSERT_EQUAL(std::string("="), *au.initial);
    CPPUNIT_ASSERT(!std::get<imap::AuthenticateRequest>(imap::parse_authenticate(args_of("AUTHENTICATE LOGIN"))).initial);
    for (const char* b : {"AUTHENTICATE", "AUTHENTICATE \"PLAIN\"", "AUTHENTICATE PLAIN a*b", "AUTHENTICATE PL.AIN"})
      CPPUNIT_ASSERT_MESSAGE(b, std::holds_alternative<std::string>(imap::parse_authenticate(args_of(b))));

    auto lo = std::get<imap::LoginRequest>(imap::parse_login(args_of("LOGIN {4}\r\nuser \"p w\"")));
    CPPUNIT_ASSERT_EQUAL(std::string("user"), lo.user);
    CPPUNIT_ASSERT_EQUAL(std::string("p w"), lo.password);
    CPPUNIT_ASSERT(std::holds_alternative<std::string>(imap::parse_login(args_of("LOGIN a"))));
    CPPUNIT_ASSERT(std::holds_alternative<std::string>(imap::parse_login(args_of("LOGIN (a) b"))));

    auto en = std::get<std::vector<std::string>>(imap::parse_enable(args_of("ENABLE condstore UTF8=ACCEPT")));
    CPPUNIT_ASSERT_EQUAL(std::string("CONDSTORE"), en.at(0));
    CPPUNIT_ASSERT(std::holds_alternative<std::string>(imap::parse_enable(args_of("ENABLE"))));

    auto id = imap::parse_id(args_of("ID (\"name\" \"mutt\" \"os\" NIL)"));
    auto& pairs = std::get<0>(id);
    CPPUNIT_ASSERT_EQUAL(size_t(2), pairs.size());
    CPPUNIT_ASSERT(!pairs[1].second);
    CPPUNIT_ASSERT(std::get<0>(imap::parse_id(args_of("ID NIL"))).empty());
    for (const char* b : {"ID", "ID (\"a\")", "ID (a b)", "ID (\"a\" (b))"})
      CPPUNIT_ASSERT_MESSAGE(b, std::holds_alternative<std::string>(imap::parse_id(args_of(b))));

    auto cp = std::get<imap::CopyRequest>(imap::parse_copy(args_of("COPY 1:3 Trash")));
    CPPUNIT_ASSERT_EQUAL(std::string("Trash"), cp.mailbox);
    for (const char* b : {"COPY 0 Trash", "COPY 1", "COPY (1) Trash"})
      CPPUNIT_ASSERT_MESSAGE(b, std::holds_alternative<std::string>(imap::parse_copy(args_of(b))));
    CPPUNIT_ASSERT_EQUAL(size_t(2), std::get<0>(imap::parse_astrings(args_of("RENAME a \"b c\""), 2)).size());
    CPPUNIT_ASSERT(std::holds_alternative<std::string>(imap::parse_astrings(args_of("RENAME a"), 2)));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ArgsTest);
