// lib/imap/bodystructure_test.cc - ENVELOPE, BODY and BODYSTRUCTURE of the corpus in
// testdata/ against the bytes in its .expected files (Dovecot's answers for the same
// messages, see testdata/dovecot-reference), address lists, and section extraction.
#include "lib/imap/bodystructure.h"

#include <cppunit/extensions/HelperMacros.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "lib/imap/envelope.h"
#include "lib/imap/fetch.h"
#include "lib/imap/response.h"
#include "lib/imap/section.h"
#include "lib/mail/header.h"

using namespace postilion;

#ifndef IMAP_TESTDATA
#error IMAP_TESTDATA must name the test data folder
#endif

namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string message(const std::string& name) {
  return mail::to_crlf(slurp(std::filesystem::path(IMAP_TESTDATA) / (name + ".eml")));
}

std::string section(const std::string& m, const std::string& spec) {
  auto item = imap::parse_fetch_item("BODY[" + spec + "]");
  CPPUNIT_ASSERT_MESSAGE(spec, std::holds_alternative<imap::FetchItem>(item));
  auto tree = mail::parse_mime(m);
  auto s = imap::extract_section(tree, m, std::get<imap::FetchItem>(item).section);
  return s ? *s : "<none>";
}

}  // namespace

class BodyStructureTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(BodyStructureTest);
  CPPUNIT_TEST(corpus);
  CPPUNIT_TEST(addresses);
  CPPUNIT_TEST(sections);
  CPPUNIT_TEST(corpus_sections);
  CPPUNIT_TEST(cached_header_fields);
  CPPUNIT_TEST(hostile);
  CPPUNIT_TEST_SUITE_END();

 public:
  void corpus() {
    size_t n = 0;
    std::vector<std::filesystem::path> files;
    for (const char* dir : {IMAP_TESTDATA, IMAP_TESTDATA "/edge"})
      for (const auto& e : std::filesystem::directory_iterator(dir))
        if (e.path().extension() == ".eml") files.push_back(e.path());
    for (const auto& path : files) {
      std::string name = path.stem();
      std::string m = mail::to_crlf(slurp(path));
      auto tree = mail::parse_mime(m);
      std::string got = "ENVELOPE " + imap::envelope(m) + " BODY " + imap::body_structure(tree, m, false) +
                        " BODYSTRUCTURE " + imap::body_structure(tree, m, true);
      std::string want = slurp(std::filesystem::path(path).replace_extension(".expected"));
      CPPUNIT_ASSERT_EQUAL_MESSAGE(name, want, got);
      ++n;
    }
    CPPUNIT_ASSERT(n >= 17);
  }

  // The FETCH response for these sections of every corpus message, in file name order,
  // as testdata/sections.expected holds it (Dovecot's answer to the same FETCH, with
  // BODY.PEEK; a section that names nothing is an empty string).
  void corpus_sections() {
    const char* items[] = {"BODY[]", "BODY[HEADER]", "BODY[TEXT]", "BODY[1]", "BODY[1.MIME]",
                           "BODY[2]", "BODY[2.MIME]", "BODY[2.HEADER]", "BODY[2.TEXT]", "BODY[2.1]",
                           "BODY[2.2.MIME]", "BODY[3]", "BODY[HEADER.FIELDS (From Subject X-None)]",
                           "BODY[HEADER.FIELDS.NOT (From To)]", "BODY[2.HEADER.FIELDS (To)]",
                           "BODY[1]<2.5>", "BODY[1.1]", "BODY[3.MIME]"};
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(IMAP_TESTDATA))
      if (e.path().extension() == ".eml") names.push_back(e.path().stem());
    std::sort(names.begin(), names.end());
    std::string got;
    uint32_t seq = 0;
    for (const auto& name : names) {
      std::string m = message(name);
      auto tree = mail::parse_mime(m);
      imap::FetchResponse r(++seq);
      for (const char* it : items) {
        auto item = std::get<imap::FetchItem>(imap::parse_fetch_item(it));
        auto s = imap::extract_section(tree, m, item.section);
        std::string_view v = s ? std::string_view(*s) : std::string_view();
        if (item.partial_offset) v = imap::partial(v, *item.partial_offset, item.partial_length);
        imap::append_literal(r.begin_item(item.response_name()), v);
      }
      got += r.finish();
    }
    std::string want = slurp(std::filesystem::path(IMAP_TESTDATA) / "sections.expected");
    CPPUNIT_ASSERT_EQUAL(want, got);
  }

  // HEADER.FIELDS answered from the index's cached header value is byte for byte what
  // the message gives, for every corpus message (folded, repeated, cut-off and odd-case
  // fields included); what the cache cannot answer is refused.
  void cached_header_fields() {
    const std::vector<std::vector<std::string>> requests = {
        {"From", "Subject"}, {"SUBJECT", "date", "Message-ID", "References", "In-Reply-To"},
        {"X-TUID"}, {"to", "cc", "bcc", "reply-to", "content-type", "list-id", "priority"}, {"x-priority"}};
    std::vector<std::string> hostile = {
        "From: a@b\r\nSubject: one\r\n two\r\nReceived: x\r\nsubject: again\r\n\r\nbody",
        "Subject: cut off", "no colon line\r\nFrom: a\r\n\tfolded\r\n\r\n", "\r\nFrom: in body\r\n",
        "From:a\nTo:b\n\nbare LF"};
    std::vector<std::string> messages = hostile;
    for (const auto& e : std::filesystem::directory_iterator(IMAP_TESTDATA))
      if (e.path().extension() == ".eml") messages.push_back(message(e.path().stem()));
    CPPUNIT_ASSERT(messages.size() > hostile.size());
    for (const auto& m : messages) {
      auto tree = mail::parse_mime(m);
      const auto& root = tree.root();
      std::string_view header = std::string_view(m).substr(root.header_start, root.body_start - root.header_start);
      std::string cached = imap::cached_header_value(header);
      CPPUNIT_ASSERT(cached.size() <= header.size() + 4);  // a cut-off last line gains its CRLF and the blank line
      for (const auto& names : requests) {
        imap::SectionSpec spec;
        spec.text = imap::SectionSpec::Text::HeaderFields;
        spec.fields = names;
        CPPUNIT_ASSERT(imap::answered_from_cached_headers(spec));
        CPPUNIT_ASSERT_EQUAL(*imap::extract_section(tree, m, spec), imap::header_fields(cached, names, false));
      }
    }
    imap::SectionSpec spec;
    spec.text = imap::SectionSpec::Text::HeaderFields;
    spec.fields = {"From", "Received"};
    CPPUNIT_ASSERT(!imap::answered_from_cached_headers(spec));
    spec.fields = {"From"};
    spec.part = {1};
    CPPUNIT_ASSERT(!imap::answered_from_cached_headers(spec));
    spec.part.clear();
    spec.text = imap::SectionSpec::Text::HeaderFieldsNot;
    CPPUNIT_ASSERT(!imap::answered_from_cached_headers(spec));
  }

  void addresses() {
    struct Row { const char* in; const char* out; } rows[] = {
        {"a@b", "((NIL NIL \"a\" \"b\"))"},
        {"John Q. Public <jqp@example.com>", "((\"John Q. Public\" NIL \"jqp\" \"example.com\"))"},
        {"\"Doe, J\" <j@x>, k@y", "((\"Doe, J\" NIL \"j\" \"x\")(NIL NIL \"k\" \"y\"))"},
        {"a@b (comment), (c) d@e", "((NIL NIL \"a\" \"b\")(NIL NIL \"d\" \"e\"))"},
        {"g: a@b, c@d;", "((NIL NIL \"g\" NIL)(NIL NIL \"a\" \"b\")(NIL NIL \"c\" \"d\")(NIL NIL NIL NIL))"},
        {"g:;", "((NIL NIL \"g\" NIL)(NIL NIL NIL NIL))"},
        {"g: a@b", "((NIL NIL \"g\" NIL)(NIL NIL \"a\" \"b\")(NIL NIL NIL NIL))"},  // unclosed group
        {"<@r1,@r2:x@y>", "((NIL \"@r1,@r2\" \"x\" \"y\"))"},
        {"<>", "((NIL NIL \"MISSING_MAILBOX\" \"MISSING_DOMAIN\"))"},
        {"nobody", "((NIL NIL \"nobody\" \"MISSING_DOMAIN\"))"},
        {"@b", "((NIL NIL \"MISSING_MAILBOX\" \"b\"))"},
        {"x@[192.0.2.1]", "((NIL NIL \"x\" \"[192.0.2.1]\"))"},
        {"\"q \\\" x\"@b", "((NIL NIL \"q \\\" x\" \"b\"))"},
        {"=?utf-8?q?J=C3=B6rg?= <j@x>", "((\"=?utf-8?q?J=C3=B6rg?=\" NIL \"j\" \"x\"))"},
        {"", "NIL"},
        {",,,", "NIL"},
        {"<a@b> junk, c@d", "((NIL NIL \"a\" \"b\")(NIL NIL \"c\" \"d\"))"},
        {"\"unterminated <a@b>", "((NIL NIL \"unterminated <a@b>\" \"MISSING_DOMAIN\"))"},
        {"(unterminated comment a@b", "NIL"},
        {"a@b;;;", "((NIL NIL \"a\" \"b\"))"},
        // A stray ')' or ']' (once an endless loop, found by fuzz_message).
        {"a@b.c)d", "((NIL NIL \"a\" \"b.c)d\"))"},
        {") a@b", "((NIL NIL \")a\" \"b\"))"},
        {"x]@y", "((NIL NIL \"x]\" \"y\"))"},
    };
    for (auto& r : rows)
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, std::string(r.out),
                                   imap::envelope_address_list(imap::parse_envelope_addresses(r.in)));
    // Sender and Reply-To default to From; empty fields are NIL.
    CPPUNIT_ASSERT_EQUAL(std::string("(NIL \"s\" ((NIL NIL \"a\" \"b\")) ((NIL NIL \"a\" \"b\")) ((NIL NIL \"a\" \"b\")) NIL NIL NIL NIL NIL)"),
                         imap::envelope("Subject: s\r\nFrom: a@b\r\nMessage-ID:\r\n\r\nbody"));
    CPPUNIT_ASSERT_EQUAL(std::string("(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"), imap::envelope(""));
  }

  void sections() {
    std::string m = message("forward");
    auto tree = mail::parse_mime(m);
    const auto& root = tree.root();
    const auto& fwd = tree.parts[root.children[1]];
    const auto& inner = tree.parts[fwd.children[0]];
    CPPUNIT_ASSERT_EQUAL(m, section(m, ""));
    CPPUNIT_ASSERT_EQUAL(m.substr(0, root.body_start), section(m, "HEADER"));
    CPPUNIT_ASSERT_EQUAL(m.substr(root.body_start), section(m, "TEXT"));
    CPPUNIT_ASSERT_EQUAL(std::string("See below.\r\n"), section(m, "1"));
    CPPUNIT_ASSERT_EQUAL(std::string("Content-Type: text/plain\r\n\r\n"), section(m, "1.MIME"));
    CPPUNIT_ASSERT_EQUAL(std::string("Content-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n"), section(m, "2.MIME"));
    CPPUNIT_ASSERT_EQUAL(m.substr(fwd.body_start, fwd.end - fwd.body_start), section(m, "2"));
    CPPUNIT_ASSERT_EQUAL(m.substr(inner.header_start, inner.body_start - inner.header_start), section(m, "2.HEADER"));
    CPPUNIT_ASSERT(section(m, "2.HEADER").starts_with("From: Eve <eve@example.org>\r\n"));
    CPPUNIT_ASSERT(section(m, "2.TEXT").starts_with("--inner\r\n"));
    CPPUNIT_ASSERT_EQUAL(std::string("plain plans"), section(m, "2.1"));
    CPPUNIT_ASSERT_EQUAL(std::string("<b>plans</b>"), section(m, "2.2"));
    CPPUNIT_ASSERT_EQUAL(std::string("Content-Type: text/html\r\n\r\n"), section(m, "2.2.MIME"));
    CPPUNIT_ASSERT_EQUAL(std::string("Subject: plans\r\nFrom: Eve <eve@example.org>\r\n\r\n").size(),
                         section(m, "2.HEADER.FIELDS (SUBJECT from)").size());
    CPPUNIT_ASSERT_EQUAL(std::string("From: Eve <eve@example.org>\r\nSubject: plans\r\n\r\n"),
                         section(m, "2.HEADER.FIELDS (SUBJECT from)"));
    CPPUNIT_ASSERT_EQUAL(std::string("\r\n"), section(m, "HEADER.FIELDS (X-Nothing)"));
    CPPUNIT_ASSERT(section(m, "HEADER.FIELDS.NOT (From To Subject Date)").starts_with("MIME-Version: 1.0\r\nContent-Type"));
    // Sections that name nothing.
    for (const char* none : {"3", "1.2", "1.HEADER", "2.3", "2.1.2", "1.TEXT", "0"}) {
      auto item = imap::parse_fetch_item(std::string("BODY[") + none + "]");
      if (std::holds_alternative<std::string>(item)) continue;  // "0" is refused by the parser
      CPPUNIT_ASSERT_MESSAGE(none, !imap::extract_section(tree, m, std::get<imap::FetchItem>(item).section));
    }
    // A single-part message: part 1 is its body, 1.MIME its header.
    std::string p = message("plain");
    auto pt = mail::parse_mime(p);
    CPPUNIT_ASSERT_EQUAL(p.substr(pt.root().body_start), section(p, "1"));
    CPPUNIT_ASSERT_EQUAL(p.substr(0, pt.root().body_start), section(p, "1.MIME"));
    CPPUNIT_ASSERT_EQUAL(std::string("<none>"), section(p, "2"));
    // Continuation lines are kept by HEADER.FIELDS.
    std::string a = message("alternative");
    CPPUNIT_ASSERT_EQUAL(std::string("Content-Type: multipart/alternative;\r\n\tboundary=\"----=_Part_1_2\"\r\n\r\n"),
                         section(a, "HEADER.FIELDS (content-type)"));
    // BINARY: decoded content; BINARY.SIZE; literal8 only with a NUL; unknown encodings.
    auto bin = [&](const std::string& msg, const char* it) {
      auto tr = mail::parse_mime(msg);
      auto v = imap::fetch_value(tr, msg, std::get<imap::FetchItem>(imap::parse_fetch_item(it)));
      return v ? *v : std::string("<unknown-cte>");
    };
    std::string alt = message("alternative");
    CPPUNIT_ASSERT_EQUAL(std::string("{31}\r\nThe r\xC3\xA9sum\xC3\xA9 is attached below."), bin(alt, "BINARY[1]"));
    CPPUNIT_ASSERT_EQUAL(std::string("31"), bin(alt, "BINARY.SIZE[1]"));
    CPPUNIT_ASSERT_EQUAL(std::string("{5}\r\n<html"), bin(alt, "BINARY.PEEK[2]<0.5>"));
    CPPUNIT_ASSERT_EQUAL(std::string("{6}\r\nr=C3=A"), bin(alt, "BODY[1]<4.6>"));
    std::string nul = "Content-Transfer-Encoding: base64\r\n\r\nYQBi\r\n";
    CPPUNIT_ASSERT_EQUAL(std::string("~{3}\r\na\0b", 9), bin(nul, "BINARY[1]"));
    std::string odd = "Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin\r\n";
    CPPUNIT_ASSERT_EQUAL(std::string("<unknown-cte>"), bin(odd, "BINARY[1]"));
    CPPUNIT_ASSERT_EQUAL(std::string("{0}\r\n"), bin(alt, "BINARY[9]"));
    // Partial.
    CPPUNIT_ASSERT_EQUAL(std::string("ee b"), std::string(imap::partial("See below.", 1, 4)));
    CPPUNIT_ASSERT_EQUAL(std::string(""), std::string(imap::partial("abc", 3, 4)));
    CPPUNIT_ASSERT_EQUAL(std::string("c"), std::string(imap::partial("abc", 2, 4000000000u)));
  }

  void hostile() {
    // Deep message/rfc822 nesting and a huge address list stay bounded.
    std::string m;
    for (int i = 0; i < 200; ++i) m += "Content-Type: message/rfc822\r\n\r\n";
    auto tree = mail::parse_mime(m);
    std::string bs = imap::body_structure(tree, m, true);
    CPPUNIT_ASSERT(!bs.empty() && bs.front() == '(' && bs.back() == ')');
    std::string to = "To: ";
    for (int i = 0; i < 5000; ++i) to += "a" + std::to_string(i) + "@b, ";
    std::string env = imap::envelope(to + "\r\n\r\n");
    size_t count = 0;
    for (size_t pos = 0; (pos = env.find("(NIL NIL \"a", pos)) != std::string::npos; ++pos) ++count;
    CPPUNIT_ASSERT_EQUAL(imap::kMaxEnvelopeAddresses, count);
    // Header values that need literals.
    std::string e = imap::envelope("Subject: a\r\n b\r\nDate: \xC3\xA4\r\n\r\n");
    CPPUNIT_ASSERT_EQUAL(std::string("({2}\r\n\xC3\xA4 \"a b\" NIL NIL NIL NIL NIL NIL NIL NIL)"), e);
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(BodyStructureTest);
