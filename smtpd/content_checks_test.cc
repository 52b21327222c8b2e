// smtpd/content_checks_test.cc - header/body checks: the action words, each action's
// effect on the content written, which table sees which header (primary, MIME part,
// attached message), body_checks_size_limit, and content fed in every split.
#include "smtpd/content_checks.h"

#include <cppunit/extensions/HelperMacros.h>

#include <string>
#include <vector>

#include "lib/base/file.h"
#include "lib/testing/temp_dir.h"

namespace postilion::smtpd {
namespace {

maps::MapList table(postilion::testing::TempDir& tmp, const std::string& name, const std::string& text) {
  std::string path = tmp.file(name);
  CPPUNIT_ASSERT(file::write_file_atomic(path, text, 0644).ok());
  auto m = maps::MapList::open("pcre:" + path);
  CPPUNIT_ASSERT_MESSAGE(m.ok() ? "" : m.error().str(), m.ok());
  return std::move(m.value());
}

std::string run(ContentInspector& in, std::string_view message, size_t piece = 0) {
  std::string out;
  if (piece == 0) {
    in.feed(message, &out);
  } else {
    for (size_t i = 0; i < message.size(); i += piece) in.feed(message.substr(i, piece), &out);
  }
  in.finish(&out);
  return out;
}

std::string events(ContentInspector& in) {
  std::string out;
  for (const auto& e : in.take_events()) out += e.action + ": " + e.where + " " + e.line + ": " + e.text + ";";
  return out;
}

}  // namespace

class ContentChecksTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(ContentChecksTest);
  CPPUNIT_TEST(action_words);
  CPPUNIT_TEST(header_actions);
  CPPUNIT_TEST(reject_and_discard_stop);
  CPPUNIT_TEST(mime_parts_and_nested_messages);
  CPPUNIT_TEST(body_size_limit);
  CPPUNIT_TEST(any_split_same_result);
  CPPUNIT_TEST(added_headers_pass_unchecked);
  CPPUNIT_TEST(hostile_content);
  CPPUNIT_TEST_SUITE_END();

 public:
  void action_words() {
    struct Row {
      std::string in;
      std::string want;  // action number and text, or the error
    } rows[] = {
        {"REJECT", "2:"},
        {"reject   go away  ", "2:go away"},
        {"DISCARD spam", "3:spam"},
        {"HOLD", "4:"},
        {"WARN look", "5:look"},
        {"IGNORE", "6:"},
        {"REPLACE X-New: 1", "7:X-New: 1"},
        {"PREPEND X-Tag: yes", "8:X-Tag: yes"},
        {"REDIRECT a@example.org", "9:a@example.org"},
        {"DUNNO", "0:"},
        {"OK", "1:"},
        {"REPLACE", "E:REPLACE needs its text"},
        {"PREPEND  ", "E:PREPEND needs its text"},
        {"REDIRECT", "E:REDIRECT needs its text"},
        {"FILTER smtp:[127.0.0.1]:10025", "E:FILTER is not supported by smtpd"},
        {"BOUNCE", "E:unknown action \"BOUNCE\""},
        {"", "E:unknown action \"\""},
    };
    for (const Row& r : rows) {
      auto p = parse_content_action(r.in);
      std::string got = p ? std::to_string(static_cast<int>(p->action)) + ":" + p->text : "E:" + p.error();
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.want, got);
    }
  }

  void header_actions() {
    postilion::testing::TempDir tmp;
    auto h = table(tmp, "h",
                   "/^Subject: warn me/ WARN watch it\n"
                   "/^Subject: hold me/ HOLD held for review\n"
                   "/^X-Drop:/ IGNORE\n"
                   "/^X-Old: (.*)/ REPLACE X-New: $1\n"
                   "/^Subject: tag me/ PREPEND X-Tagged: yes\n"
                   "/^To: .*list/ REDIRECT moderator@example.org\n"
                   "/^X-Bad:/ FILTER smtp:x\n");
    auto b = table(tmp, "b", "/^secret (.*)$/ REPLACE [removed $1]\n/^drop this$/ IGNORE\n/^mark$/ PREPEND marked:\n");
    ContentInspector in({&h, nullptr, nullptr, &b, 51200});
    std::string out = run(in,
                          "Subject: warn me\r\n"
                          "X-Drop: a\r\n\tfolded\r\n"
                          "X-Old: one\r\n two\r\n"
                          "To: the list\r\n"
                          "X-Bad: 1\r\n"
                          "\r\n"
                          "hello\r\nsecret plan\r\ndrop this\r\nmark\r\n");
    CPPUNIT_ASSERT_EQUAL(std::string("Subject: warn me\r\n"
                                     "X-New: one two\r\n"
                                     "To: the list\r\n"
                                     "X-Bad: 1\r\n"
                                     "\r\n"
                                     "hello\r\n[removed plan]\r\nmarked:\r\nmark\r\n"),
                         out);
    CPPUNIT_ASSERT_EQUAL(std::string("warning: header Subject: warn me: watch it;"
                                     "replace: header X-Old: one two: X-New: one two;"
                                     "redirect: header To: the list: moderator@example.org;"
                                     "replace: body secret plan: [removed plan];"
                                     "prepend: body mark: marked:;"),
                         events(in));
    CPPUNIT_ASSERT_EQUAL(std::string("moderator@example.org"), in.redirect());
    auto w = in.take_warnings();
    CPPUNIT_ASSERT_EQUAL(size_t(1), w.size());
    CPPUNIT_ASSERT(w[0].find("header_checks: FILTER is not supported") == 0);
    CPPUNIT_ASSERT(!in.rejected() && !in.discarded() && !in.held());

    ContentInspector hold({&h, nullptr, nullptr, nullptr, 0});
    CPPUNIT_ASSERT_EQUAL(std::string("X-Tagged: yes\r\nSubject: tag me\r\nSubject: hold me\r\n\r\nbody\r\n"),
                         run(hold, "Subject: tag me\r\nSubject: hold me\r\n\r\nbody\r\n"));
    CPPUNIT_ASSERT(hold.held());
    CPPUNIT_ASSERT_EQUAL(std::string("prepend: header Subject: tag me: X-Tagged: yes;"
                                     "hold: header Subject: hold me: held for review;"),
                         events(hold));
  }

  void reject_and_discard_stop() {
    postilion::testing::TempDir tmp;
    auto h = table(tmp, "h", "/^Subject: .*viagra/ REJECT no pills here\n/^Subject: junk/ DISCARD\n"
                             "/^Subject: soon/ REJECT 4.7.1 try later\n/^X-Any:/ WARN any\n");
    ContentInspector r({&h, nullptr, nullptr, nullptr, 0});
    run(r, "Subject: cheap Viagra\r\nX-Any: 1\r\n\r\nbody\r\n");
    CPPUNIT_ASSERT(r.rejected());
    CPPUNIT_ASSERT_EQUAL(550, r.reject_status());
    CPPUNIT_ASSERT_EQUAL(std::string("5.7.1 no pills here"), r.reject_text());
    // Nothing after a reject is inspected: no warning for X-Any.
    CPPUNIT_ASSERT_EQUAL(std::string("reject: header Subject: cheap Viagra: 5.7.1 no pills here;"), events(r));

    ContentInspector d({&h, nullptr, nullptr, nullptr, 0});
    run(d, "Subject: junk\r\nX-Any: 1\r\n\r\n");
    CPPUNIT_ASSERT(d.discarded() && !d.rejected());
    CPPUNIT_ASSERT_EQUAL(std::string("discard: header Subject: junk: ;"), events(d));

    ContentInspector t({&h, nullptr, nullptr, nullptr, 0});
    run(t, "Subject: soon\r\n\r\n");
    CPPUNIT_ASSERT_EQUAL(450, t.reject_status());
    CPPUNIT_ASSERT_EQUAL(std::string("4.7.1 try later"), t.reject_text());

    ContentInspector dflt({&h, nullptr, nullptr, nullptr, 0});
    auto plain = table(tmp, "p", "/^Subject: x$/ REJECT\n");
    ContentInspector p({&plain, nullptr, nullptr, nullptr, 0});
    run(p, "Subject: x\r\n\r\n");
    CPPUNIT_ASSERT_EQUAL(std::string("5.7.1 Message content rejected"), p.reject_text());
  }

  void mime_parts_and_nested_messages() {
    postilion::testing::TempDir tmp;
    auto h = table(tmp, "h", "/^Subject: (.*)/ WARN primary $1\n/^Content-Type: (.*)/ WARN header_checks ct\n");
    auto m = table(tmp, "m",
                   "/^Content-(Type|Disposition):.*name=\"?[^\"]*\\.(exe|scr)\"?/ REJECT .$2 attachments refused\n"
                             "/^Content-Type: (.*)/ WARN mime $1\n/^Subject: (.*)/ WARN mime subject $1\n");
    auto n = table(tmp, "n", "/^Subject: (.*)/ WARN nested $1\n");
    auto b = table(tmp, "b", "/^(inner|outer|tail|pre|epi)/ WARN body $1\n");
    std::string msg =
        "Subject: top\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed;\r\n boundary=\"outer\"\r\n"
        "\r\n"
        "pre\r\n"
        "--outer\r\n"
        "Content-Type: text/plain\r\n"
        "\r\n"
        "outer text\r\n"
        "--outer\r\n"
        "Content-Type: message/rfc822\r\n"
        "\r\n"
        "Subject: inside\r\n"
        "Content-Type: text/plain\r\n"
        "\r\n"
        "inner text\r\n"
        "--outer--\r\n"
        "epi\r\n";
    ContentInspector in({&h, &m, &n, &b, 51200});
    CPPUNIT_ASSERT_EQUAL(msg, run(in, msg));
    CPPUNIT_ASSERT_EQUAL(std::string("warning: header Subject: top: primary top;"
                                     "warning: header Content-Type: multipart/mixed; boundary=\"outer\": mime "
                                     "multipart/mixed; boundary=\"outer\";"
                                     "warning: body pre: body pre;"
                                     "warning: header Content-Type: text/plain: mime text/plain;"
                                     "warning: body outer text: body outer;"
                                     "warning: header Content-Type: message/rfc822: mime message/rfc822;"
                                     "warning: header Subject: inside: nested inside;"
                                     "warning: header Content-Type: text/plain: mime text/plain;"
                                     "warning: body inner text: body inner;"
                                     "warning: body epi: body epi;"),
                         events(in));
    // An attachment name in a part header, folded.
    std::string exe =
        "Subject: files\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\n"
        "Content-Type: application/octet-stream;\r\n\tname=\"invoice.exe\"\r\n\r\nTVqQAAMAAAAEAAAA\r\n--b1--\r\n";
    ContentInspector x({&h, &m, &n, &b, 51200});
    run(x, exe);
    CPPUNIT_ASSERT(x.rejected());
    CPPUNIT_ASSERT_EQUAL(std::string("5.7.1 .exe attachments refused"), x.reject_text());
  }

  void body_size_limit() {
    postilion::testing::TempDir tmp;
    auto b = table(tmp, "b", "/^bad/ WARN late\n");
    std::string filler;
    for (int i = 0; i < 20; ++i) filler += "0123456789012345678901234567890123456789\r\n";  // 840 octets
    std::string msg = "Subject: s\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\n\r\n" + filler +
                      "bad one\r\n--zz\r\n\r\nbad two\r\n--zz--\r\n";
    ContentInspector in({nullptr, nullptr, nullptr, &b, 500});
    CPPUNIT_ASSERT_EQUAL(msg, run(in, msg));
    // The first part's limit was reached before "bad one"; the second part starts afresh.
    CPPUNIT_ASSERT_EQUAL(std::string("warning: body bad two: late;"), events(in));
  }

  void any_split_same_result() {
    postilion::testing::TempDir tmp;
    auto h = table(tmp, "h", "/^X-Old: (.*)/ REPLACE X-New: $1\n/^X-Drop:/ IGNORE\n");
    auto b = table(tmp, "b", "/^secret/ REPLACE [removed]\n");
    std::string msg = "X-Old: a\r\n b\r\nX-Drop: 1\r\nSubject: s\r\n\r\nsecret\r\nline\r\nsecret";
    ContentInspector whole({&h, nullptr, nullptr, &b, 0});
    std::string want = run(whole, msg);
    CPPUNIT_ASSERT_EQUAL(std::string("X-New: a b\r\nSubject: s\r\n\r\n[removed]\r\nline\r\n[removed]\r\n"), want);
    for (size_t piece = 1; piece < 12; ++piece) {
      ContentInspector in({&h, nullptr, nullptr, &b, 0});
      CPPUNIT_ASSERT_EQUAL(want, run(in, msg, piece));
    }
  }

  // smtpd's Received: header is fed first and checked; the Message-ID:/Date: it adds
  // for submission go out after it, unchecked, before the client's headers.
  void added_headers_pass_unchecked() {
    postilion::testing::TempDir tmp;
    auto h = table(tmp, "h", "/^Received: from (\\S+)/ PREPEND X-Seen: $1\n/^Message-ID:/ REJECT\n");
    ContentInspector in({&h, nullptr, nullptr, nullptr, 0});
    std::string out;
    in.feed("Received: from helo.test (x [192.0.2.1])\r\n\tby mx; date\r\n", &out);
    CPPUNIT_ASSERT_EQUAL(std::string(), out);  // it might still continue
    in.pass("Message-ID: <1@mx>\r\n", &out);
    in.feed("Subject: s\r\n\r\nbody\r\n", &out);
    in.finish(&out);
    CPPUNIT_ASSERT_EQUAL(std::string("X-Seen: helo.test\r\nReceived: from helo.test (x [192.0.2.1])\r\n\tby mx; "
                                     "date\r\nMessage-ID: <1@mx>\r\nSubject: s\r\n\r\nbody\r\n"),
                         out);
    CPPUNIT_ASSERT(!in.rejected());
    CPPUNIT_ASSERT_EQUAL(std::string("prepend: header Received: from helo.test (x [192.0.2.1])\\011by mx; date: "
                                     "X-Seen: helo.test;"),
                         events(in));
  }

  void hostile_content() {
    postilion::testing::TempDir tmp;
    auto h = table(tmp, "h", "/^Subject:/ WARN s\n");
    auto b = table(tmp, "b", "/x/ WARN x\n");
    // A line longer than kMaxLine, no line end at all, a huge folded header, a deep MIME
    // nesting and a boundary never closed: all passed through unchanged.
    std::string huge(ContentInspector::kMaxLine * 2 + 7, 'x');
    std::string folded = "Subject: a";
    for (int i = 0; i < 20000; ++i) folded += "\r\n b";
    std::string deep;
    for (size_t i = 0; i < ContentInspector::kMaxDepth + 20; ++i)
      deep += "Content-Type: multipart/mixed; boundary=b" + std::to_string(i) + "\r\n\r\n--b" + std::to_string(i) +
              "\r\n";
    for (const std::string& msg : {huge, "Subject: x\r\n\r\n" + huge + "\r\n", folded + "\r\n\r\nx\r\n", deep,
                                   std::string("\r\n\r\n\r\n"), std::string("no header\r\nx\r\n"),
                                   std::string("Subject: \0\r\n\r\n\0x\r\n", 16)}) {
      ContentInspector in({&h, &h, &h, &b, 51200});
      CPPUNIT_ASSERT(run(in, msg) == msg);
      size_t n = in.take_events().size();
      // Past kMaxDepth the boundaries are body text ("mixed" matches /x/): 20 of them.
      CPPUNIT_ASSERT_MESSAGE(std::to_string(n) + " events for " + msg.substr(0, 40), n <= 20);
    }
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ContentChecksTest);

}  // namespace postilion::smtpd
