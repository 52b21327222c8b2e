// lib/mail/mime_test.cc - the MIME part tree: offsets, parameters, broken and hostile
// structure.
#include "lib/mail/mime.h"

#include <cppunit/extensions/HelperMacros.h>

#include <functional>

using namespace postilion;

namespace {

// "type/subtype" of each part, depth first, children in brackets.
std::string shape(const mail::MimeTree& t, size_t i = 0) {
  const auto& p = t.parts[i];
  std::string s = p.type + "/" + p.subtype;
  if (!p.children.empty()) {
    s += "[";
    for (size_t k = 0; k < p.children.size(); ++k) s += (k ? "," : "") + shape(t, p.children[k]);
    s += "]";
  }
  return s;
}

std::string body(std::string_view m, const mail::MimePart& p) {
  return std::string(m.substr(p.body_start, p.end - p.body_start));
}
std::string header(std::string_view m, const mail::MimePart& p) {
  return std::string(m.substr(p.header_start, p.body_start - p.header_start));
}

const char kAlt[] =
    "From: a@example.org\r\n"
    "Content-Type: multipart/alternative; boundary=\"b1\"\r\n"
    "\r\n"
    "preamble\r\n"
    "--b1\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n"
    "plain body\r\n"
    "--b1\r\n"
    "Content-Type: text/html\r\n"
    "Content-Transfer-Encoding: Quoted-Printable\r\n"
    "\r\n"
    "<p>x</p>\r\n"
    "\r\n"
    "--b1--\r\n"
    "epilogue\r\n";

}  // namespace

class MimeTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(MimeTest);
  CPPUNIT_TEST(alternative_offsets);
  CPPUNIT_TEST(nested_and_rfc822);
  CPPUNIT_TEST(parameters);
  CPPUNIT_TEST(broken_structure);
  CPPUNIT_TEST(hostile_limits);
  CPPUNIT_TEST(truncated_prefixes);
  CPPUNIT_TEST_SUITE_END();

 public:
  void alternative_offsets() {
    std::string m = kAlt;
    auto t = mail::parse_mime(m);
    CPPUNIT_ASSERT_EQUAL(std::string("multipart/alternative[text/plain,text/html]"), shape(t));
    const auto& root = t.root();
    CPPUNIT_ASSERT(root.final_boundary_seen);
    CPPUNIT_ASSERT_EQUAL(std::string("b1"), root.boundary);
    CPPUNIT_ASSERT_EQUAL(size_t(0), root.header_start);
    CPPUNIT_ASSERT_EQUAL(m.size(), root.end);
    CPPUNIT_ASSERT(body(m, root).starts_with("preamble\r\n--b1"));
    const auto& a = t.parts[root.children[0]];
    const auto& b = t.parts[root.children[1]];
    CPPUNIT_ASSERT_EQUAL(std::string("Content-Type: text/plain; charset=utf-8\r\n\r\n"), header(m, a));
    CPPUNIT_ASSERT_EQUAL(std::string("plain body"), body(m, a));
    CPPUNIT_ASSERT_EQUAL(size_t(0), a.body_lines);
    CPPUNIT_ASSERT_EQUAL(std::string("utf-8"), a.param("charset")->value);
    CPPUNIT_ASSERT_EQUAL(std::string("<p>x</p>\r\n"), body(m, b));
    CPPUNIT_ASSERT_EQUAL(size_t(1), b.body_lines);
    CPPUNIT_ASSERT_EQUAL(std::string("quoted-printable"), b.encoding);
    CPPUNIT_ASSERT_EQUAL(size_t(0), b.parent);
    CPPUNIT_ASSERT_EQUAL(size_t(1), b.depth);
    // LF-only messages work the same way.
    std::string lf;
    for (char c : m)
      if (c != '\r') lf += c;
    auto tl = mail::parse_mime(lf);
    CPPUNIT_ASSERT_EQUAL(shape(t), shape(tl));
    CPPUNIT_ASSERT_EQUAL(std::string("<p>x</p>\n"), body(lf, tl.parts[tl.root().children[1]]));
  }

  void nested_and_rfc822() {
    std::string m =
        "Content-Type: multipart/mixed; boundary=outer\n\n"
        "--outer\n"
        "Content-Type: multipart/related; boundary=\"inner\"\n\n"
        "--inner\n\nfirst\n--inner\nContent-Type: image/png\nContent-Transfer-Encoding: base64\n"
        "Content-ID: <img1@x>\nContent-Disposition: inline; filename=a.png\n\niVBORw==\n"
        "--inner--\n"
        "--outer\n"
        "Content-Type: message/rfc822\n"
        "Content-Description: forwarded\n\n"
        "Subject: inner\nContent-Type: multipart/mixed; boundary=z\n\n--z\n\nzz\n--z--\n"
        "--outer\n"
        "Content-Type: multipart/digest; boundary=d\n\n"
        "--d\n\nSubject: d1\n\nd1 body\n--d--\n"
        "--outer--\n";
    auto t = mail::parse_mime(m);
    CPPUNIT_ASSERT_EQUAL(
        std::string("multipart/mixed[multipart/related[text/plain,image/png],"
                    "message/rfc822[multipart/mixed[text/plain]],"
                    "multipart/digest[message/rfc822[text/plain]]]"),
        shape(t));
    const auto& related = t.parts[t.root().children[0]];
    const auto& png = t.parts[related.children[1]];
    CPPUNIT_ASSERT_EQUAL(std::string("iVBORw=="), body(m, png));
    CPPUNIT_ASSERT_EQUAL(std::string("<img1@x>"), *png.id);
    CPPUNIT_ASSERT_EQUAL(std::string("inline"), *png.disposition);
    CPPUNIT_ASSERT_EQUAL(std::string("a.png"), png.disposition_params.at(0).value);
    const auto& fwd = t.parts[t.root().children[1]];
    CPPUNIT_ASSERT(fwd.is_message());
    CPPUNIT_ASSERT_EQUAL(std::string("forwarded"), *fwd.description);
    const auto& inner = t.parts[fwd.children[0]];
    CPPUNIT_ASSERT_EQUAL(fwd.body_start, inner.header_start);
    CPPUNIT_ASSERT_EQUAL(fwd.end, inner.end);
    CPPUNIT_ASSERT(header(m, inner).starts_with("Subject: inner\n"));
    CPPUNIT_ASSERT_EQUAL(std::string("zz"), body(m, t.parts[inner.children[0]]));
    const auto& digest = t.parts[t.root().children[2]];
    const auto& d1 = t.parts[digest.children[0]];
    CPPUNIT_ASSERT(d1.is_message());
    CPPUNIT_ASSERT_EQUAL(std::string("d1 body"), body(m, t.parts[d1.children[0]]));
    CPPUNIT_ASSERT(!t.truncated);
  }

  void parameters() {
    struct Row { const char* ct; const char* type; const char* name; const char* value; bool ext; const char* utf8; } rows[] = {
        {"text/plain; charset=\"us-ascii\"", "text/plain", "charset", "us-ascii", false, "us-ascii"},
        {"TEXT/HTML ; CHARSET = UTF-8 (comment)", "text/html", "charset", "UTF-8", false, "UTF-8"},
        {"text/plain (c) ; (c) name=\"a \\\"q\\\" b\"", "text/plain", "name", "a \"q\" b", false, "a \"q\" b"},
        {"application/x; name*=utf-8''%E2%82%AC.txt", "application/x", "name", "\xE2\x82\xAC.txt", true, "\xE2\x82\xAC.txt"},
        {"application/x; name*=iso-8859-1'en'caf%E9", "application/x", "name", "caf\xE9", true, "caf\xC3\xA9"},
        {"application/x; name*0=\"long \"; name*1=\"name\"", "application/x", "name", "long name", false, "long name"},
        {"application/x; name*1=\"b\"; name*0=\"a\"", "application/x", "name", "ab", false, "ab"},
        {"application/x; name*0*=utf-8''%E2%82; name*1*=%AC; name*2=\".x\"", "application/x", "name", "\xE2\x82\xAC.x", true, "\xE2\x82\xAC.x"},
        {"application/x; name*0=a; name*2=c", "application/x", "name", "a", false, "a"},  // gap
        {"application/x; name=\"=?utf-8?q?caf=C3=A9?=\"", "application/x", "name", "=?utf-8?q?caf=C3=A9?=", false, "caf\xC3\xA9"},
        {"application/x; name=a/b?c", "application/x", "name", "a/b?c", false, "a/b?c"},
        {"application/x; junk; name=v", "application/x", "name", "v", false, "v"},
        {"application/x; name=first; name=second", "application/x", "name", "first", false, "first"},
        {"application/x; name=\"unterminated", "application/x", "name", "unterminated", false, "unterminated"},
    };
    for (auto& r : rows) {
      mail::MimePart p;
      mail::parse_content_type(r.ct, p);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.ct, std::string(r.type), p.type + "/" + p.subtype);
      const mail::MimeParam* v = p.param(r.name);
      CPPUNIT_ASSERT_MESSAGE(r.ct, v);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.ct, std::string(r.value), v->value);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.ct, r.ext, v->extended);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.ct, std::string(r.utf8), v->utf8());
    }
    const char* invalid[] = {"", "text", "text/", "/plain", "(unclosed", "text /", "\x80/\x81"};
    for (const char* ct : invalid) {
      mail::MimePart p;
      mail::parse_content_type(ct, p);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(ct, std::string("text/plain"), p.type + "/" + p.subtype);
      CPPUNIT_ASSERT_MESSAGE(ct, !p.content_type_given);
    }
    std::vector<mail::MimeParam> dp;
    CPPUNIT_ASSERT_EQUAL(std::string("attachment"),
                         mail::parse_params("Attachment; filename=\"x.pdf\"; size=10", dp));
    CPPUNIT_ASSERT_EQUAL(size_t(2), dp.size());
    // Hostile: many parameters and sections stay bounded.
    std::string many = "text/plain";
    for (int i = 0; i < 5000; ++i) many += "; p" + std::to_string(i) + "*" + std::to_string(i) + "=v";
    mail::MimePart p;
    mail::parse_content_type(many, p);
    CPPUNIT_ASSERT(p.params.size() <= 64);
    std::string deep_comment = "text/plain" + std::string(100000, '(') + "; a=b";
    mail::parse_content_type(deep_comment, p);
    CPPUNIT_ASSERT_EQUAL(std::string("text"), p.type);
  }

  void broken_structure() {
    struct Row { std::string m; std::string shape; std::function<void(const std::string&, const mail::MimeTree&)> check; } rows[] = {
        // No boundary parameter: a leaf.
        {"Content-Type: multipart/mixed\n\n--x\n\nbody\n", "multipart/mixed", nullptr},
        // Boundary never found: no children, the body is all preamble.
        {"Content-Type: multipart/mixed; boundary=q\n\nnothing here\n", "multipart/mixed", nullptr},
        // Missing final boundary: the last part runs to the end.
        {"Content-Type: multipart/mixed; boundary=q\n\n--q\n\none\n--q\n\ntwo\n", "multipart/mixed[text/plain,text/plain]",
         [](const std::string& m, const mail::MimeTree& t) {
           CPPUNIT_ASSERT(!t.root().final_boundary_seen);
           CPPUNIT_ASSERT_EQUAL(std::string("two\n"), body(m, t.parts[t.root().children[1]]));
         }},
        // A boundary that only starts a longer word is not a delimiter.
        {"Content-Type: multipart/mixed; boundary=q\n\n--q\n\n--qq\n--q \n\nb\n--q--\n", "multipart/mixed[text/plain,text/plain]",
         [](const std::string& m, const mail::MimeTree& t) {
           CPPUNIT_ASSERT_EQUAL(std::string("--qq"), body(m, t.parts[t.root().children[0]]));
         }},
        // Inner multipart whose final boundary is lost ends with its parent part.
        {"Content-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: multipart/mixed; boundary=i\n\n--i\n\nx\n--o\n\ny\n--o--\n",
         "multipart/mixed[multipart/mixed[text/plain],text/plain]",
         [](const std::string& m, const mail::MimeTree& t) {
           const auto& inner = t.parts[t.root().children[0]];
           CPPUNIT_ASSERT_EQUAL(std::string("x"), body(m, t.parts[inner.children[0]]));
         }},
        // Empty parts and a part without a header blank line.
        {"Content-Type: multipart/mixed; boundary=q\n\n--q\n--q\nContent-Type: text/html\n--q--\n",
         "multipart/mixed[text/plain,text/html]",
         [](const std::string& m, const mail::MimeTree& t) {
           const auto& b = t.parts[t.root().children[1]];
           CPPUNIT_ASSERT_EQUAL(std::string(""), body(m, b));
           CPPUNIT_ASSERT(!b.header_complete);
         }},
        // message/rfc822 in base64 is not parsed inside.
        {"Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\nU3ViamVjdDogeAoKeQo=\n", "message/rfc822", nullptr},
        // No header at all.
        {"just a body line\n", "text/plain",
         [](const std::string& m, const mail::MimeTree& t) { CPPUNIT_ASSERT_EQUAL(m, body(m, t.root())); }},
        {"", "text/plain", nullptr},
        {"\n", "text/plain", nullptr},
        {"Content-Type: message/rfc822\n\n", "message/rfc822[text/plain]", nullptr},
        {"Content-Type: multipart/mixed; boundary=\"\"\n\n--\n\nx\n", "multipart/mixed", nullptr},
        {"Content-Type: multipart/mixed; boundary=q\n\n--q--\n--q\n\nafter\n", "multipart/mixed", nullptr},
    };
    for (auto& r : rows) {
      auto t = mail::parse_mime(r.m);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.m, r.shape, shape(t));
      for (const auto& p : t.parts) {
        CPPUNIT_ASSERT(p.header_start <= p.body_start && p.body_start <= p.end && p.end <= r.m.size());
      }
      if (r.check) r.check(r.m, t);
    }
  }

  void hostile_limits() {
    // Endless nesting of multiparts: cut at the depth limit.
    std::string m;
    for (int i = 0; i < 1000; ++i) m += "Content-Type: multipart/mixed; boundary=b" + std::to_string(i) + "\n\n--b" + std::to_string(i) + "\n";
    auto t = mail::parse_mime(m);
    CPPUNIT_ASSERT(t.truncated);
    size_t max_depth = 0;
    for (const auto& p : t.parts) max_depth = std::max(max_depth, p.depth);
    CPPUNIT_ASSERT(max_depth <= mail::MimeLimits{}.max_depth);
    // message/rfc822 nested without end.
    std::string r;
    for (int i = 0; i < 5000; ++i) r += "Content-Type: message/rfc822\n\n";
    t = mail::parse_mime(r);
    CPPUNIT_ASSERT(t.truncated);
    CPPUNIT_ASSERT(t.parts.size() <= mail::MimeLimits{}.max_depth + 1);
    // Too many parts.
    std::string many = "Content-Type: multipart/mixed; boundary=q\n\n";
    for (int i = 0; i < 20000; ++i) many += "--q\n\nx\n";
    mail::MimeLimits small{.max_depth = 10, .max_parts = 100};
    t = mail::parse_mime(many, small);
    CPPUNIT_ASSERT(t.truncated);
    CPPUNIT_ASSERT_EQUAL(size_t(100), t.parts.size());
    // A 10 MB header line and a 10 MB body without a boundary.
    std::string huge = "Subject: " + std::string(10 << 20, 'x') + "\nContent-Type: multipart/mixed; boundary=q\n\n" +
                       std::string(10 << 20, '-');
    t = mail::parse_mime(huge);
    CPPUNIT_ASSERT_EQUAL(std::string("multipart/mixed"), shape(t));
    CPPUNIT_ASSERT_EQUAL(huge.size(), t.root().end);
    // A header of 10 MB of continuation lines.
    std::string folded = "Subject: a\n" + std::string(1 << 20, ' ') + "\n\nbody";
    t = mail::parse_mime(folded);
    CPPUNIT_ASSERT_EQUAL(std::string("body"), body(folded, t.root()));
  }

  void truncated_prefixes() {
    std::string m = kAlt;
    for (size_t n = 0; n <= m.size(); ++n) {
      std::string cut = m.substr(0, n);
      auto t = mail::parse_mime(cut);
      CPPUNIT_ASSERT(!t.parts.empty());
      for (const auto& p : t.parts) CPPUNIT_ASSERT(p.end <= n && p.header_start <= p.body_start && p.body_start <= p.end);
    }
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(MimeTest);
