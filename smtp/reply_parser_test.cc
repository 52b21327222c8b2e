// smtp/reply_parser_test.cc - client-side reply parsing (good, malformed, hostile,
// byte at a time, every truncation), EHLO capabilities, next-hop parsing, TLS levels,
// DATA transparency and the 8BITMIME downgrade.
#include "smtp/reply_parser.h"

#include <cppunit/extensions/HelperMacros.h>

#include "smtp/capabilities.h"
#include "smtp/destination.h"
#include "smtp/session.h"
#include "smtp/tls_policy.h"

using namespace postilion;
using namespace postilion::smtp_client;

namespace {

// The reply a complete text parses to; the test fails when it is refused.
smtp::Reply reply_of(std::string_view text) {
  auto r = parse_reply(text);
  CPPUNIT_ASSERT_MESSAGE(r ? "" : r.error(), r.ok());
  return *r;
}

}  // namespace

class ReplyParserTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(ReplyParserTest);
  CPPUNIT_TEST(replies_table);
  CPPUNIT_TEST(byte_at_a_time);
  CPPUNIT_TEST(truncations_need_more);
  CPPUNIT_TEST(hostile);
  CPPUNIT_TEST(ehlo);
  CPPUNIT_TEST(destinations);
  CPPUNIT_TEST(tls_levels);
  CPPUNIT_TEST(data_transparency);
  CPPUNIT_TEST(eightbit_downgrade);
  CPPUNIT_TEST_SUITE_END();

 public:
  void replies_table() {
    struct Row {
      const char* in;
      bool ok;
      int code;
      const char* status;
      size_t lines;
      const char* first;
    } rows[] = {
        {"250 2.0.0 Ok: queued as ABC\r\n", true, 250, "2.0.0", 1, "Ok: queued as ABC"},
        {"220 mx.b.tst ESMTP\r\n", true, 220, "", 1, "mx.b.tst ESMTP"},
        {"250-mx.b.tst\r\n250-PIPELINING\r\n250 SIZE 1000\r\n", true, 250, "", 3, "mx.b.tst"},
        {"550-5.1.1 no\r\n550 5.1.1 such user\r\n", true, 550, "5.1.1", 2, "no"},
        {"250\r\n", true, 250, "", 1, ""},
        {"451 4.3.0\r\n", true, 451, "4.3.0", 1, ""},
        {"250 ok\n", true, 250, "", 1, "ok"},                 // bare LF tolerated
        {"550 2.0.0 wrong class\r\n", true, 550, "", 1, "2.0.0 wrong class"},  // not an enhanced code of this class
        {"250 2.0 short\r\n", true, 250, "", 1, "2.0 short"},
        {"25 short\r\n", false, 0, "", 0, ""},
        {"abc text\r\n", false, 0, "", 0, ""},
        {"650 bad class\r\n", false, 0, "", 0, ""},
        {"160 bad class\r\n", false, 0, "", 0, ""},
        {"260 bad second digit\r\n", false, 0, "", 0, ""},
        {"250xok\r\n", false, 0, "", 0, ""},
        {"250-a\r\n251 b\r\n", false, 0, "", 0, ""},           // code changes mid-reply
        {"250-a\r\n", false, 0, "", 0, ""},                    // incomplete
        {"250 a\r\n250 b\r\n", false, 0, "", 0, ""},           // two replies
        {"", false, 0, "", 0, ""},
    };
    for (const auto& r : rows) {
      auto got = parse_reply(r.in);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.ok, got.ok());
      if (!got) {
        CPPUNIT_ASSERT(!got.error().empty());
        continue;
      }
      const smtp::Reply& out = *got;
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.code, out.code);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, std::string(r.status), out.status);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.lines, out.lines.size());
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, std::string(r.first), out.lines[0]);
    }
    smtp::Reply out = reply_of("550-5.1.1 no\r\n550 5.1.1 such user\r\n");
    CPPUNIT_ASSERT_EQUAL(std::string("such user"), out.lines[1]);
  }

  void byte_at_a_time() {
    std::string wire = "220 hi\r\n250-mx\r\n250-8BITMIME\r\n250 PIPELINING\r\n354 go\r\n";
    ReplyParser p;
    std::vector<int> codes;
    for (char c : wire) {
      p.feed(std::string_view(&c, 1));
      smtp::Reply r;
      std::string why;
      ReplyParser::Status st;
      while ((st = p.next(&r, &why)) == ReplyParser::Status::Ready) codes.push_back(r.code);
      CPPUNIT_ASSERT(st == ReplyParser::Status::NeedMore);
    }
    CPPUNIT_ASSERT((codes == std::vector<int>{220, 250, 354}));
    CPPUNIT_ASSERT(!p.has_pending());
  }

  void truncations_need_more() {
    std::string good = "250-mx.b.tst\r\n250-PIPELINING\r\n250 8BITMIME\r\n";
    for (size_t n = 0; n < good.size(); ++n) {
      ReplyParser p;
      p.feed(good.substr(0, n));
      smtp::Reply r;
      std::string why;
      CPPUNIT_ASSERT(p.next(&r, &why) == ReplyParser::Status::NeedMore);
    }
  }

  void hostile() {
    ReplyParser p;
    p.feed(std::string(kMaxReplyLine + 10, '2'));
    smtp::Reply r;
    std::string why;
    CPPUNIT_ASSERT(p.next(&r, &why) == ReplyParser::Status::Error);
    // Stays failed.
    p.feed("250 ok\r\n");
    CPPUNIT_ASSERT(p.next(&r, &why) == ReplyParser::Status::Error);
    ReplyParser q;
    std::string many;
    for (size_t i = 0; i < kMaxReplyLines + 5; ++i) many += "250-x\r\n";
    q.feed(many);
    CPPUNIT_ASSERT(q.next(&r, &why) == ReplyParser::Status::Error);
    // Control characters inside text are kept as data (printable() is applied when logged).
    r = reply_of(std::string("250 a\0b\x1b[31m\r\n", 14));
    CPPUNIT_ASSERT_EQUAL(250, r.code);
  }

  void ehlo() {
    smtp::Reply r;
    r = reply_of("250-mx.b.tst hello\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n"
                               "250-SMTPUTF8\r\n250-STARTTLS\r\n250-AUTH PLAIN login\r\n250-AUTH=CRAM-MD5\r\n"
                               "250-DSN\r\n250 CHUNKING\r\n");
    auto c = parse_ehlo(r);
    CPPUNIT_ASSERT(c.pipelining && c.size && c.eightbitmime && c.smtputf8 && c.starttls && c.dsn && c.chunking);
    CPPUNIT_ASSERT_EQUAL(uint64_t(10240000), c.size_limit);
    CPPUNIT_ASSERT(c.has_auth("PLAIN") && c.has_auth("LOGIN") && c.has_auth("CRAM-MD5"));
    r = reply_of("250-x\r\n250-SIZE nonsense\r\n250 UNKNOWN-THING a b\r\n");
    c = parse_ehlo(r);
    CPPUNIT_ASSERT(c.size && c.size_limit == 0 && !c.pipelining && !c.starttls && c.auth.empty());
    r = reply_of("250 only greeting\r\n");
    c = parse_ehlo(r);
    CPPUNIT_ASSERT(c.esmtp && !c.pipelining);
  }

  void destinations() {
    struct Row {
      const char* in;
      bool ok;
      const char* host;
      int port;
      bool mx;
      bool literal;
      const char* label;
    } rows[] = {
        {"exampleb.tst", true, "exampleb.tst", 0, true, false, "exampleb.tst"},
        {"ExampleB.TST.", true, "exampleb.tst", 0, true, false, "exampleb.tst"},
        {"exampleb.tst:2525", true, "exampleb.tst", 2525, true, false, "exampleb.tst:2525"},
        {"[mx.ispa.tst]", true, "mx.ispa.tst", 0, false, false, "[mx.ispa.tst]"},
        {"[mx.ispa.tst]:587", true, "mx.ispa.tst", 587, false, false, "[mx.ispa.tst]:587"},
        {"[127.0.2.1]:2525", true, "127.0.2.1", 2525, false, true, "[127.0.2.1]:2525"},
        {"[::1]:25", true, "::1", 25, false, true, "[ipv6:::1]:25"},
        {"[ipv6:::1]", true, "::1", 0, false, true, "[ipv6:::1]"},
        {"smtp:[mx.ispa.tst]:2525", true, "mx.ispa.tst", 2525, false, false, "[mx.ispa.tst]:2525"},
        {"relay:exampleb.tst", true, "exampleb.tst", 0, true, false, "exampleb.tst"},
        {"[mx.ispa.tst]:smtp", true, "mx.ispa.tst", 25, false, false, "[mx.ispa.tst]:25"},
        {"", false, "", 0, false, false, ""},
        {"[]", false, "", 0, false, false, ""},
        {"[mx.ispa.tst", false, "", 0, false, false, ""},
        {"[mx.ispa.tst]x", false, "", 0, false, false, ""},
        {"[mx.ispa.tst]:", false, "", 0, false, false, ""},
        {"[mx.ispa.tst]:0", false, "", 0, false, false, ""},
        {"[mx.ispa.tst]:70000", false, "", 0, false, false, ""},
        {"[mx.ispa.tst]:25x", false, "", 0, false, false, ""},
        {"exa mple.tst", false, "", 0, false, false, ""},
        {"a..b", false, "", 0, false, false, ""},
        {"127.0.0.1", false, "", 0, false, false, ""},  // unbracketed literal
        {"[a;rm -rf]", false, "", 0, false, false, ""},
    };
    for (const auto& r : rows) {
      auto d = parse_destination(r.in);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.ok, d.has_value());
      if (!r.ok) continue;
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, std::string(r.host), d->host);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.port, int(d->port));
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.mx, d->mx);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.literal, d->literal);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, std::string(r.label), d->label());
    }
  }

  void tls_levels() {
    CPPUNIT_ASSERT(*parse_tls_level("DANE") == TlsLevel::Dane);
    CPPUNIT_ASSERT(*parse_policy_value("verify match=hostname") == TlsLevel::Verify);
    CPPUNIT_ASSERT(*parse_policy_value("  encrypt ") == TlsLevel::Encrypt);
    CPPUNIT_ASSERT(!parse_policy_value(""));
    CPPUNIT_ASSERT(!parse_policy_value("sometimes"));
    CPPUNIT_ASSERT(!parse_policy_value("verify garbage"));
    CPPUNIT_ASSERT(tls_required(TlsLevel::Encrypt) && tls_required(TlsLevel::Secure));
    CPPUNIT_ASSERT(!tls_required(TlsLevel::May) && !tls_required(TlsLevel::Dane));
  }

  void data_transparency() {
    struct Row {
      const char* in;
      const char* out;
    } rows[] = {
        {"Subject: x\n\nbody\n", "Subject: x\r\n\r\nbody\r\n.\r\n"},
        {"a\r\n.b\r\n.\r\n", "a\r\n..b\r\n..\r\n.\r\n"},
        {".start", "..start\r\n.\r\n"},
        {"no newline", "no newline\r\n.\r\n"},
        {"bare\rcr\n", "bare\r\ncr\r\n.\r\n"},
        {"", ".\r\n"},
    };
    for (const auto& r : rows) CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, std::string(r.out), data_payload(r.in));
  }

  void eightbit_downgrade() {
    std::string m = "Subject: t\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
                    "gr\xc3\xbc\xc3\x9f =\r\n";
    auto d = downgrade_8bit(m);
    CPPUNIT_ASSERT(d);
    CPPUNIT_ASSERT(!has_8bit(*d));
    CPPUNIT_ASSERT(d->find("Content-Transfer-Encoding: quoted-printable") != std::string::npos);
    CPPUNIT_ASSERT(d->find("8bit") == std::string::npos);
    CPPUNIT_ASSERT(d->find("gr=C3=BC=C3=9F =3D") != std::string::npos);
    CPPUNIT_ASSERT(!downgrade_8bit("Content-Type: multipart/mixed; boundary=x\r\n\r\n\xff\r\n"));
    CPPUNIT_ASSERT(!downgrade_8bit("Subject: gr\xc3\xbc\r\n\r\nx\r\n"));  // 8-bit header
    std::string longline = "Subject: l\r\n\r\n" + std::string(200, '\xe9') + "\r\n";
    d = downgrade_8bit(longline);
    CPPUNIT_ASSERT(d);
    size_t start = d->find("\r\n\r\n") + 4;
    for (size_t p = start; p < d->size();) {
      size_t nl = d->find("\r\n", p);
      if (nl == std::string::npos) break;
      CPPUNIT_ASSERT(nl - p <= 76);
      p = nl + 2;
    }
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ReplyParserTest);
