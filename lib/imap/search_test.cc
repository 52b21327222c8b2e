// lib/imap/search_test.cc - SEARCH key parsing (every RFC 3501 key, nesting, charsets,
// malformed and hostile rows) and matching against messages.
#include "lib/imap/search.h"

#include <cppunit/extensions/HelperMacros.h>

#include <set>

using namespace postilion;
using imap::Arg;

namespace {

std::vector<Arg> args_of(const std::string& line) {
  imap::CommandReader r;
  std::string in = "t SEARCH " + line + "\r\n";
  size_t used = 0;
  auto st = r.feed(in, &used);
  while (st == imap::CommandReader::Status::Continue) {
    in.erase(0, used);
    st = r.feed(in, &used);
  }
  CPPUNIT_ASSERT_MESSAGE(line, st == imap::CommandReader::Status::Command);
  return r.command().args;
}

struct FakeMessage : imap::MessageView {
  uint32_t seq_ = 1, uid_ = 10;
  std::set<std::string> flags;
  bool recent_ = false;
  int64_t date = 0;
  std::string text;
  int loads = 0;

  uint32_t seq() const override { return seq_; }
  uint32_t uid() const override { return uid_; }
  bool has_flag(std::string_view f) const override {
    for (const auto& x : flags)
      if (x.size() == f.size() && std::equal(x.begin(), x.end(), f.begin(), [](char a, char b) {
            return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
          }))
        return true;
    return false;
  }
  bool recent() const override { return recent_; }
  uint64_t size() const override { return text.size(); }
  int64_t internal_date() const override { return date; }
  uint64_t modseq() const override { return 5; }
  std::string_view message() override {
    ++loads;
    return text;
  }
};

const char kMessage[] =
    "Date: Tue, 1 Jul 2003 23:30:00 -0700\r\n"
    "From: =?ISO-8859-1?Q?Andr=E9?= Pirard <pirard@example.org>\r\n"
    "To: Team <team@example.com>\r\n"
    "Subject: =?UTF-8?B?UmU6IHLDqXN1bcOp?=\r\n"
    "X-Tag: Alpha\r\n"
    " Beta\r\n"
    "Content-Type: multipart/alternative; boundary=b\r\n"
    "\r\n"
    "--b\r\n"
    "Content-Type: text/plain; charset=iso-8859-1\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "Le caf=E9 est pr=EAt. soft=\r\n"
    "break\r\n"
    "--b\r\n"
    "Content-Type: text/html; charset=utf-8\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "PHA+w4lUw4k8L3A+\r\n"
    "--b\r\n"
    "Content-Type: application/octet-stream\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "c2VjcmV0\r\n"
    "--b--\r\n";

}  // namespace

class SearchTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(SearchTest);
  CPPUNIT_TEST(parses_keys);
  CPPUNIT_TEST(refuses_bad_keys);
  CPPUNIT_TEST(matches);
  CPPUNIT_TEST(folding);
  CPPUNIT_TEST_SUITE_END();

 public:
  void parses_keys() {
    const char* good[] = {
        "ALL", "ANSWERED DELETED DRAFT FLAGGED NEW OLD RECENT SEEN",
        "UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNSEEN", "KEYWORD $Junk UNKEYWORD foo",
        "BCC a BODY b CC c FROM d SUBJECT e TEXT f TO g", "HEADER X-Y \"\"",
        "BEFORE 1-Feb-1994 ON \"01-Feb-1994\" SINCE 1-Feb-1994",
        "SENTBEFORE 1-Feb-1994 SENTON 1-Feb-1994 SENTSINCE 1-Feb-1994", "LARGER 10 SMALLER 20",
        "UID 1:*,5", "1:3,7", "NOT SEEN", "OR SEEN (FLAGGED DELETED)", "(OR 1 2)",
        "CHARSET UTF-8 SUBJECT {6}\r\ncaf\xC3\xA9", "charset us-ascii ALL", "OR OR 1 2 3",
        "MODSEQ 5", "MODSEQ \"/flags/\\\\draft\" all 5", "OLDER 10 YOUNGER 5", "$", "UID $",
        "RETURN (MIN MAX) ALL", "RETURN () ALL",
    };
    for (const char* g : good) {
      auto r = imap::parse_search(args_of(g), 0);
      CPPUNIT_ASSERT_MESSAGE(g, std::holds_alternative<imap::SearchProgram>(r));
    }
    auto p = std::get<imap::SearchProgram>(imap::parse_search(args_of("OR SEEN (FLAGGED 1:2) NOT UID 5"), 0));
    CPPUNIT_ASSERT_EQUAL(size_t(2), p.key.children.size());
    CPPUNIT_ASSERT(p.key.children[0].op == imap::SearchKey::Op::Or);
    CPPUNIT_ASSERT(p.key.children[0].children[1].op == imap::SearchKey::Op::And);
    CPPUNIT_ASSERT(p.key.children[1].op == imap::SearchKey::Op::Not);
  }

  void refuses_bad_keys() {
    const char* bad[] = {
        "", "FOO", "FROM", "HEADER X", "BEFORE", "BEFORE 1-Foo-1994", "BEFORE 32-Jan-1994",
        "LARGER x", "LARGER -1", "SMALLER +5", "UID", "UID 0", "UID x", "NOT", "OR SEEN",
        "()", "KEYWORD \\Seen", "KEYWORD", "1:0", "CHARSET", "RETURN ALL", "OLDER 0",
        "MODSEQ x", "MODSEQ \"/flags/x\" foo 5", "LARGER 99999999999999999999999",
    };
    for (const char* b : bad) {
      auto r = imap::parse_search(args_of(b), 0);
      CPPUNIT_ASSERT_MESSAGE(b, std::holds_alternative<imap::SearchError>(r));
      CPPUNIT_ASSERT_MESSAGE(b, !std::get<imap::SearchError>(r).bad_charset);
    }
    auto cs = imap::parse_search(args_of("CHARSET KOI8-R ALL"), 0);
    CPPUNIT_ASSERT(std::get<imap::SearchError>(cs).bad_charset);
    // Hostile: endless NOT chains and too many keys are refused, not recursed into.
    std::string nots;
    for (int i = 0; i < 5000; ++i) nots += "NOT ";
    CPPUNIT_ASSERT(std::holds_alternative<imap::SearchError>(imap::parse_search(args_of(nots + "ALL"), 0)));
    std::string ors;
    for (int i = 0; i < 5000; ++i) ors += "OR ";
    CPPUNIT_ASSERT(std::holds_alternative<imap::SearchError>(imap::parse_search(args_of(ors + "A B"), 0)));
    std::string wide;
    for (int i = 0; i < 5000; ++i) wide += "SEEN ";
    CPPUNIT_ASSERT(std::holds_alternative<imap::SearchError>(imap::parse_search(args_of(wide), 0)));
  }

  void matches() {
    FakeMessage m;
    m.text = kMessage;
    m.flags = {"\\Seen", "$Junk"};
    m.date = 1057100000;  // 2003-07-01 22:53:20 UTC
    m.seq_ = 3;
    m.uid_ = 30;
    imap::SearchContext ctx;
    ctx.max_seq = 5;
    ctx.max_uid = 50;
    ctx.now = 1057100000 + 100;
    std::vector<uint32_t> saved = {10, 30};
    ctx.saved_uids = &saved;
    struct Row { const char* key; bool match; bool loads; } rows[] = {
        {"ALL", true, false},
        {"SEEN", true, false},
        {"UNSEEN", false, false},
        {"KEYWORD $junk", true, false},
        {"UNKEYWORD $Junk", false, false},
        {"NEW", false, false},
        {"OLD", true, false},
        {"3", true, false},
        {"4:*", false, false},
        {"UID 30", true, false},
        {"UID 31:*", false, false},
        {"UID *", false, false},
        {"$", true, false},
        {"LARGER 10", true, false},
        {"SMALLER 10", false, false},
        {"OR DELETED UID 30", true, false},
        {"NOT (SEEN UID 30)", false, false},
        {"ON 1-Jul-2003", true, false},
        {"SINCE 2-Jul-2003", false, false},
        {"BEFORE 2-Jul-2003", true, false},
        {"MODSEQ 5", true, false},
        {"MODSEQ 6", false, false},
        {"YOUNGER 200", true, false},
        {"OLDER 200", false, false},
        // Header keys: RFC 2047 decoded, case-insensitive.
        {"FROM \"andr\xC3\xA9\"", true, true},
        {"FROM PIRARD@EXAMPLE", true, true},
        {"SUBJECT \"R\xC3\x89SUM\xC3\x89\"", true, true},
        {"SUBJECT resume", false, true},
        {"TO team", true, true},
        {"CC team", false, true},
        {"HEADER X-Tag \"alpha beta\"", true, true},
        {"HEADER X-Tag \"\"", true, true},
        {"HEADER X-Missing \"\"", false, true},
        // Body keys: QP and base64 decoded, charset converted; attachments not searched.
        {"BODY \"caf\xC3\xA9\"", true, true},
        {"BODY softbreak", true, true},
        {"BODY \"\xC3\xA9t\xC3\xA9\"", true, true},
        {"BODY secret", false, true},
        {"BODY andr", false, true},
        {"TEXT \"andr\xC3\xA9\"", true, true},
        {"TEXT \"PR\xC3\x8At\"", true, true},
        // Sent dates: the Date: header's own day (1 Jul in -0700, 2 Jul in UTC).
        {"SENTON 1-Jul-2003", true, true},
        {"SENTBEFORE 1-Jul-2003", false, true},
        {"SENTSINCE 2-Jul-2003", false, true},
    };
    for (auto& r : rows) {
      auto p = imap::parse_search(args_of(r.key), 0);
      CPPUNIT_ASSERT_MESSAGE(r.key, std::holds_alternative<imap::SearchProgram>(p));
      m.loads = 0;
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.key, r.match, imap::match(std::get<imap::SearchProgram>(p).key, m, ctx));
      CPPUNIT_ASSERT_EQUAL_MESSAGE(std::string("loads: ") + r.key, r.loads ? 1 : 0, m.loads);
    }
    // No Date: header: the internal date stands in.
    FakeMessage bare;
    bare.text = "Subject: x\r\n\r\nbody\r\n";
    bare.date = 86400 * 10;
    auto p = imap::parse_search(args_of("SENTON 11-Jan-1970"), 0);
    CPPUNIT_ASSERT(imap::match(std::get<imap::SearchProgram>(p).key, bare, ctx));
    // A broken message matches what it can without crashing.
    FakeMessage broken;
    broken.text = "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!!\r\n";
    p = imap::parse_search(args_of("TEXT zzz"), 0);
    CPPUNIT_ASSERT(!imap::match(std::get<imap::SearchProgram>(p).key, broken, ctx));
  }

  void folding() {
    CPPUNIT_ASSERT(imap::contains_folded("Le CAF\xC3\x89 noir", "caf\xC3\xA9"));
    CPPUNIT_ASSERT(imap::contains_folded("\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82", "\xD0\xBF\xD1\x80\xD0\xB8"));  // Привет / при
    CPPUNIT_ASSERT(imap::contains_folded("\xCE\xA3\xCE\x9F\xCE\xA6\xCE\x99\xCE\x91", "\xCF\x83\xCE\xBF\xCF\x86"));  // ΣΟΦΙΑ / σοφ
    CPPUNIT_ASSERT(imap::contains_folded("\xC5\x81\xC3\xB3" "d\xC5\xBA", "\xC5\x82\xC3\xB3"));  // Łódź / łó
    CPPUNIT_ASSERT(!imap::contains_folded("abc", "abd"));
    CPPUNIT_ASSERT(imap::contains_folded("abc", ""));
    CPPUNIT_ASSERT_EQUAL(std::string("\xFF" "a"), imap::fold_case("\xFF" "A"));  // invalid bytes kept
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(SearchTest);
