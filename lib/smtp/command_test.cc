// lib/smtp/command_test.cc - table tests of command lines, paths, ESMTP parameters,
// BDAT and AUTH arguments, with malformed, oversized and hostile rows.
#include "lib/smtp/command.h"

#include <cppunit/extensions/HelperMacros.h>

#include "lib/mail/dsn.h"

using namespace postilion;
using namespace postilion::smtp;

class CommandTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(CommandTest);
  CPPUNIT_TEST(commands);
  CPPUNIT_TEST(paths);
  CPPUNIT_TEST(mail_params);
  CPPUNIT_TEST(rcpt_params);
  CPPUNIT_TEST(bdat_and_auth);
  CPPUNIT_TEST(replies);
  CPPUNIT_TEST_SUITE_END();

 public:
  void commands() {
    // The line reader is tested in lib/mail; here, its default is the SMTP line limit.
    size_t used = 0;
    std::string_view l;
    CPPUNIT_ASSERT(LineReader().next(std::string(kMaxCommandLine, 'a') + "\n", &used, &l) == LineReader::Status::Line);
    CPPUNIT_ASSERT(LineReader().next(std::string(kMaxCommandLine + 1, 'a') + "\n", &used, &l) ==
                   LineReader::Status::TooLong);
    struct Row { std::string in; bool ok; Verb verb; const char* arg; int code; } rows[] = {
        {"EHLO client.example", true, Verb::Ehlo, "client.example", 0},
        {"ehlo   x  ", true, Verb::Ehlo, "x", 0},
        {"HELO", false, Verb::Helo, "", 501},
        {"MAIL FROM:<a@b.c> SIZE=10", true, Verb::Mail, "<a@b.c> SIZE=10", 0},
        {"mail from: <a@b.c>", true, Verb::Mail, "<a@b.c>", 0},
        {"MAIL TO:<a@b.c>", false, Verb::Mail, "", 501},
        {"MAIL FROM:", false, Verb::Mail, "", 501},
        {"MAIL", false, Verb::Mail, "", 501},
        {"RCPT TO:<x@y>", true, Verb::Rcpt, "<x@y>", 0},
        {"RCPT FROM:<x@y>", false, Verb::Rcpt, "", 501},
        {"DATA", true, Verb::Data, "", 0},
        {"DATA x", false, Verb::Data, "", 501},
        {"BDAT 10 LAST", true, Verb::Bdat, "10 LAST", 0},
        {"QUIT", true, Verb::Quit, "", 0},
        {"NOOP whatever", true, Verb::Noop, "whatever", 0},
        {"STARTTLS", true, Verb::Starttls, "", 0},
        {"STARTTLS now", false, Verb::Starttls, "", 501},
        {"VRFY root", true, Verb::Vrfy, "root", 0},
        {"AUTH PLAIN AGZvbwBiYXI=", true, Verb::Auth, "PLAIN AGZvbwBiYXI=", 0},
        {"", false, Verb::Noop, "", 500},
        {"   ", false, Verb::Noop, "", 500},
        {"XYZZY", false, Verb::Noop, "", 502},
        {"MAILFROM:<a@b>", false, Verb::Noop, "", 502},
        {std::string("NOOP \0x", 7), false, Verb::Noop, "", 500},
        {"NOOP \x1b[31m", false, Verb::Noop, "", 500},
        {"DATA:", false, Verb::Noop, "", 500},
        {std::string(3000, 'A'), false, Verb::Noop, "", 502},
    };
    for (auto& r : rows) {
      auto c = parse_command(r.in);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.ok, c.ok());
      if (r.ok) {
        CPPUNIT_ASSERT_MESSAGE(r.in, c->verb == r.verb);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, std::string(r.arg), std::string(c->arg));
      } else {
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.code, c.error().code);
        CPPUNIT_ASSERT_MESSAGE(r.in, !c.error().status.empty());
      }
    }
    CPPUNIT_ASSERT(is_http_line("GET / HTTP/1.1"));
    CPPUNIT_ASSERT(is_http_line("POST /x HTTP/1.0"));
    CPPUNIT_ASSERT(!is_http_line("EHLO get"));
  }

  void paths() {
    struct Row {
      std::string in; PathKind kind; bool utf8; bool ok; const char* addr; const char* domain;
      bool route; bool routing; int code;
    } rows[] = {
        {"<a@b.example>", PathKind::Recipient, false, true, "a@b.example", "b.example", false, false, 0},
        {"<>", PathKind::Sender, false, true, "", "", false, false, 0},
        {"<>", PathKind::Recipient, false, false, "", "", false, false, 501},
        {"a@b.example", PathKind::Recipient, false, true, "a@b.example", "b.example", false, false, 0},
        {"<postmaster>", PathKind::Recipient, false, true, "postmaster", "", false, false, 0},
        {"<@relay.example:u@other.example>", PathKind::Recipient, false, true, "u@other.example",
         "other.example", true, false, 0},
        {"<@a.example,@b.example:u@c.example>", PathKind::Recipient, false, true, "u@c.example",
         "c.example", true, false, 0},
        {"<@a.example:>", PathKind::Recipient, false, false, "", "", false, false, 501},
        {"<@:u@c.example>", PathKind::Recipient, false, false, "", "", false, false, 501},
        {"<u%other.example@ours.example>", PathKind::Recipient, false, true,
         "u%other.example@ours.example", "ours.example", false, true, 0},
        {"<other.example!u@ours.example>", PathKind::Recipient, false, true,
         "other.example!u@ours.example", "ours.example", false, true, 0},
        {"<\"u@other.example\"@ours.example>", PathKind::Recipient, false, true,
         "\"u@other.example\"@ours.example", "ours.example", false, true, 0},
        {"<\"john smith\"@x.example>", PathKind::Recipient, false, true,
         "\"john smith\"@x.example", "x.example", false, false, 0},
        {"<a@[127.0.0.1]>", PathKind::Recipient, false, true, "a@[127.0.0.1]", "[127.0.0.1]", false, false, 0},
        {"<a@[IPv6:::1]>", PathKind::Recipient, false, true, "a@[IPv6:::1]", "[IPv6:::1]", false, false, 0},
        {"<a@[999.0.0.1]>", PathKind::Recipient, false, false, "", "", false, false, 501},
        {"<a@b@c>", PathKind::Recipient, false, false, "", "", false, false, 501},
        {"<a@>", PathKind::Recipient, false, false, "", "", false, false, 501},
        {"<@b>", PathKind::Recipient, false, false, "", "", false, false, 501},
        {"<a..b@c>", PathKind::Recipient, false, false, "", "", false, false, 501},
        {"<.a@c>", PathKind::Recipient, false, false, "", "", false, false, 501},
        {"<a@-c.example>", PathKind::Recipient, false, false, "", "", false, false, 501},
        {"<a@c..example>", PathKind::Recipient, false, false, "", "", false, false, 501},
        {"<a b@c>", PathKind::Recipient, false, false, "", "", false, false, 501},
        {"<a@b", PathKind::Recipient, false, false, "", "", false, false, 501},
        {"<<a@b>>", PathKind::Recipient, false, false, "", "", false, false, 501},
        {"<\"unterminated@b>", PathKind::Recipient, false, false, "", "", false, false, 501},
        {std::string("<a\r\n@b>"), PathKind::Recipient, false, false, "", "", false, false, 501},
        {"<" + std::string(65, 'x') + "@b.example>", PathKind::Recipient, false, false, "", "", false, false, 501},
        {"<a@" + std::string(300, 'b') + ">", PathKind::Recipient, false, false, "", "", false, false, 501},
        {"<j\xc3\xb6rg@b\xc3\xbc.example>", PathKind::Recipient, false, false, "", "", false, false, 553},
        {"<j\xc3\xb6rg@b\xc3\xbc.example>", PathKind::Recipient, true, true,
         "j\xc3\xb6rg@b\xc3\xbc.example", "b\xc3\xbc.example", false, false, 0},
        {"<j\xc3rg@b.example>", PathKind::Recipient, true, false, "", "", false, false, 501},
        {"<\xed\xa0\x80@b.example>", PathKind::Recipient, true, false, "", "", false, false, 501},
    };
    for (auto& r : rows) {
      auto p = parse_path(r.in, r.kind, r.utf8);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.ok, p.ok());
      if (!r.ok) {
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.code, p.error().code);
        continue;
      }
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, std::string(r.addr), p->address);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, std::string(r.domain), p->domain);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.route, p->source_route);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.routing, p->routing());
    }
  }

  void mail_params() {
    auto m = parse_mail_from("<a@b.example> SIZE=1000 BODY=8BITMIME RET=HDRS ENVID=QQ+2B1 AUTH=<>");
    CPPUNIT_ASSERT(m.ok());
    CPPUNIT_ASSERT(m->size_given);
    CPPUNIT_ASSERT_EQUAL(uint64_t(1000), m->size);
    CPPUNIT_ASSERT(m->body == Body::EightBitMime);
    CPPUNIT_ASSERT(m->ret == Ret::Headers);
    CPPUNIT_ASSERT_EQUAL(std::string("QQ+1"), m->envid);
    CPPUNIT_ASSERT_EQUAL(std::string("<>"), m->auth);
    auto u = parse_mail_from("<j\xc3\xb6rg@b.example> SMTPUTF8");
    CPPUNIT_ASSERT(u.ok());
    CPPUNIT_ASSERT(u->smtputf8 && u->path.utf8);
    CPPUNIT_ASSERT(parse_mail_from("<>").ok());
    struct Row { std::string in; int code; } bad[] = {
        {"<a@b> SIZE=", 501}, {"<a@b> SIZE=abc", 501}, {"<a@b> SIZE=-1", 501},
        {"<a@b> SIZE=99999999999999999999999", 501}, {"<a@b> SIZE=1 SIZE=2", 501},
        {"<a@b> BODY=BINARYMIME", 555}, {"<a@b> BODY", 501}, {"<a@b> SMTPUTF8=yes", 501},
        {"<a@b> RET=ALL", 501}, {"<a@b> ENVID=bad+zz", 501},
        {"<a@b> ENVID=" + std::string(101, 'x'), 501}, {"<a@b> XFOO=1", 555},
        {"<a@b> =1", 501}, {"<a@b>junk", 501}, {"<j\xc3\xb6rg@b.example>", 553},
        {"<a@b> NOTIFY=NEVER", 555},
    };
    for (auto& r : bad) {
      auto p = parse_mail_from(r.in);
      CPPUNIT_ASSERT_MESSAGE(r.in, !p.ok());
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.code, p.error().code);
    }
  }

  void rcpt_params() {
    auto t = parse_rcpt_to("<a@b.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a+40b.example", false);
    CPPUNIT_ASSERT(t.ok());
    CPPUNIT_ASSERT_EQUAL(unsigned(mail::kNotifySuccess | mail::kNotifyFailure), t->notify);
    CPPUNIT_ASSERT_EQUAL(std::string("rfc822;a@b.example"), t->orcpt);
    struct Row { std::string in; int code; } bad[] = {
        {"<a@b> NOTIFY=NEVER,SUCCESS", 501}, {"<a@b> NOTIFY=SOMETIMES", 501},
        {"<a@b> NOTIFY=", 501}, {"<a@b> ORCPT=a@b", 501}, {"<a@b> ORCPT=rfc822;", 501},
        {"<a@b> ORCPT=rfc822;a+0Db", 501}, {"<a@b> SIZE=10", 555}, {"<>", 501},
        {"", 501},
    };
    for (auto& r : bad) {
      auto p = parse_rcpt_to(r.in, false);
      CPPUNIT_ASSERT_MESSAGE(r.in, !p.ok());
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.code, p.error().code);
    }
  }

  void bdat_and_auth() {
    auto b = parse_bdat("100 LAST");
    CPPUNIT_ASSERT(b.ok() && b->size == 100 && b->last);
    b = parse_bdat("0");
    CPPUNIT_ASSERT(b.ok() && b->size == 0 && !b->last);
    for (const char* bad : {"", "x", "-1", "10 FIRST", "10 LAST x", "99999999999999999999", "+5"})
      CPPUNIT_ASSERT_MESSAGE(bad, !parse_bdat(bad).ok());
    auto a = parse_auth("plain AGEAYg==");
    CPPUNIT_ASSERT(a.ok() && a->mechanism == "PLAIN" && a->initial && *a->initial == "AGEAYg==");
    CPPUNIT_ASSERT(!parse_auth("PLAIN a b").ok());
    auto c = parse_sasl_plain(std::string("\0user\0pw", 8));
    CPPUNIT_ASSERT(c && c->user == "user" && c->password == "pw" && c->authzid.empty());
    CPPUNIT_ASSERT(!parse_sasl_plain(std::string("user\0pw", 7)));
    CPPUNIT_ASSERT(!parse_sasl_plain(std::string("\0\0pw", 4)));
    CPPUNIT_ASSERT(!parse_sasl_plain(std::string("a\0b\0c\0d", 7)));
  }

  void replies() {
    CPPUNIT_ASSERT_EQUAL(std::string("250 2.0.0 Ok\r\n"), reply(250, "2.0.0", "Ok").wire());
    CPPUNIT_ASSERT_EQUAL(std::string("250-h\r\n250-PIPELINING\r\n250 SIZE 10\r\n"),
                         reply_lines(250, "", {"h", "PIPELINING", "SIZE 10"}).wire());
    // Peer text cannot add a line to a reply.
    CPPUNIT_ASSERT_EQUAL(std::string("550 5.1.1 <a?\?250 x>: no\r\n"),
                         reply(550, "5.1.1", "<a\r\n250 x>: no").wire());
    CPPUNIT_ASSERT(reply(250, "2.0.0", std::string(5000, 'x')).wire().size() < 512);
    CPPUNIT_ASSERT_EQUAL(std::string("554 5.7.1 x"), reply(554, "5.7.1", "x").summary());
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(CommandTest);
