// postscreen/postscreen_test.cc - postscreen(8)'s parsers and tables: the DNS list specs
// of postscreen_dnsbl_sites (good, malformed, oversized rows) and their scoring, the
// enforce action's SMTP engine (fed whole and byte by byte, overlong lines, error and
// command limits), the cache file and its entries, and the settings from main.conf.
#include <cppunit/extensions/HelperMacros.h>

#include <string>
#include <vector>

#include "lib/config/config.h"
#include "lib/testing/temp_dir.h"
#include "postscreen/cache.h"
#include "lib/dns/dns.h"
#include "postscreen/dnsbl_sites.h"
#include "postscreen/dummy_smtp.h"
#include "postscreen/server.h"

using namespace postilion;
using namespace postilion::postscreen;

namespace {

const char* const kReject = "550 5.7.1 Service unavailable; client [192.0.2.7] blocked using bl.example";

}  // namespace

class PostscreenTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(PostscreenTest);
  CPPUNIT_TEST(site_specs);
  CPPUNIT_TEST(bad_site_specs);
  CPPUNIT_TEST(site_lists_and_names);
  CPPUNIT_TEST(engine_conversation);
  CPPUNIT_TEST(engine_byte_by_byte);
  CPPUNIT_TEST(engine_limits);
  CPPUNIT_TEST(cache_entries);
  CPPUNIT_TEST(cache_file);
  CPPUNIT_TEST(settings);
  CPPUNIT_TEST_SUITE_END();

 public:
  void site_specs() {
    auto s = parse_dnsbl_sites("zen.example*3, bl.example=127.0.0.[2..11]*2  WL.Example.=127.0.[0..255].[1..3]*-2\n plain.example");
    CPPUNIT_ASSERT(s);
    CPPUNIT_ASSERT_EQUAL(size_t(4), s->size());
    CPPUNIT_ASSERT_EQUAL(std::string("zen.example"), (*s)[0].domain);
    CPPUNIT_ASSERT_EQUAL(3, (*s)[0].weight);
    CPPUNIT_ASSERT(!(*s)[0].filter);
    CPPUNIT_ASSERT_EQUAL(std::string("bl.example"), (*s)[1].domain);
    CPPUNIT_ASSERT_EQUAL(std::string("bl.example=127.0.0.[2..11]"), (*s)[1].text);
    CPPUNIT_ASSERT_EQUAL(2, (*s)[1].weight);
    CPPUNIT_ASSERT(s->at(1).filter);
    CPPUNIT_ASSERT_EQUAL(std::string("wl.example"), (*s)[2].domain);
    CPPUNIT_ASSERT_EQUAL(-2, (*s)[2].weight);
    CPPUNIT_ASSERT_EQUAL(1, (*s)[3].weight);
    CPPUNIT_ASSERT(parse_dnsbl_sites("")->empty());
    CPPUNIT_ASSERT(parse_dnsbl_sites(" , ,")->empty());
  }

  void bad_site_specs() {
    const char* bad[] = {"bl.example*", "bl.example*x", "bl.example*3x", "bl.example*99999999999",
                         "bl.example*-", "*3", "=127.0.0.2", "bl.example=", "bl.example=127.0.0",
                         "bl.example=127.0.0.[2..", "bl.example=127.0.0.300", "bl..example",
                         "bl.example=127.0.0.2*1*2", "bl.example\x01", "a*1 b*2 c*",
                         "bl.example=127.0.0.[11..2]"};
    for (const char* b : bad) CPPUNIT_ASSERT_MESSAGE(b, !parse_dnsbl_sites(b));
    for (const char* b : bad) CPPUNIT_ASSERT_MESSAGE(b, parse_dnsbl_sites(b).ok() || !parse_dnsbl_sites(b).error().empty());
    // Oversized: one overlong spec, a label over 63 octets, too many sites.
    CPPUNIT_ASSERT(!parse_dnsbl_site(std::string(600, 'a') + ".example"));
    CPPUNIT_ASSERT(!parse_dnsbl_site(std::string(64, 'a') + ".example"));
    std::string many;
    for (size_t i = 0; i <= kMaxSites; ++i) many += "s" + std::to_string(i) + ".example ";
    CPPUNIT_ASSERT(!parse_dnsbl_sites(many));
  }

  void site_lists_and_names() {
    auto any = *parse_dnsbl_site("bl.example");
    auto filtered = *parse_dnsbl_site("bl.example=127.0.0.[2..11]");
    CPPUNIT_ASSERT(site_lists(any, {"127.0.0.20"}));
    CPPUNIT_ASSERT(!site_lists(any, {}));
    CPPUNIT_ASSERT(!site_lists(any, {"not an address"}));
    CPPUNIT_ASSERT(site_lists(filtered, {"127.0.0.20", "127.0.0.4"}));
    CPPUNIT_ASSERT(!site_lists(filtered, {"127.0.0.20"}));
    CPPUNIT_ASSERT(!site_lists(filtered, {"127.0.0.2x"}));
    CPPUNIT_ASSERT_EQUAL(std::string("7.2.0.192.bl.example"), *dns::dnsbl_query_name("192.0.2.7", "bl.example"));
    auto v6 = dns::dnsbl_query_name("2001:db8::1", "bl.example");
    CPPUNIT_ASSERT(v6 && v6->starts_with("1.0.0.0.") && v6->ends_with(".8.b.d.0.1.0.0.2.bl.example"));
    CPPUNIT_ASSERT(!dns::dnsbl_query_name("unknown", "bl.example"));
    CPPUNIT_ASSERT(!dns::dnsbl_query_name("", "bl.example"));
  }

  void engine_conversation() {
    DummySmtp e(kReject, "mx.example");
    auto o = e.feed("EHLO client.example\r\nMAIL FROM:<a@b.example> SIZE=10\r\nRCPT TO:<c@d.example>\r\nDATA\r\n");
    CPPUNIT_ASSERT_EQUAL(std::string("250-mx.example\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n"
                                     "250 2.1.0 Ok\r\n") + kReject + "\r\n554 5.5.1 Error: no valid recipients\r\n",
                         o.replies);
    CPPUNIT_ASSERT_EQUAL(size_t(1), o.logs.size());
    CPPUNIT_ASSERT_EQUAL(std::string(kReject) +
                             "; from=<a@b.example>, to=<c@d.example>, proto=ESMTP, helo=<client.example>",
                         o.logs[0]);
    CPPUNIT_ASSERT(!o.close);
    o = e.feed("RCPT TO:<x@y>\r\nRSET\r\nRCPT TO:<x@y>\r\nNOOP\r\nbogus\r\nQUIT\r\nMAIL FROM:<z>\r\n");
    CPPUNIT_ASSERT_EQUAL(std::string(kReject) +
                             "\r\n250 2.0.0 Ok\r\n503 5.5.1 Error: need MAIL command\r\n250 2.0.0 Ok\r\n"
                             "502 5.5.2 Error: command not recognized\r\n221 2.0.0 Bye\r\n",
                         o.replies);
    CPPUNIT_ASSERT(o.close);
    CPPUNIT_ASSERT(e.feed("NOOP\r\n").replies.empty());  // nothing after the close
    DummySmtp h(kReject, "mx.example");
    o = h.feed("HELO\r\nhelo c\r\nMAIL\r\nMAIL FROM:<>\r\nMAIL FROM:<>\r\nRCPT <x>\r\n");
    CPPUNIT_ASSERT_EQUAL(std::string("501 5.5.4 Syntax: HELO hostname\r\n250 mx.example\r\n"
                                     "501 5.5.4 Syntax: MAIL FROM:<address>\r\n250 2.1.0 Ok\r\n"
                                     "503 5.5.1 Error: nested MAIL command\r\n501 5.5.4 Syntax: RCPT TO:<address>\r\n"),
                         o.replies);
  }

  void engine_byte_by_byte() {
    std::string in = "EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nQUIT\r\n";
    DummySmtp whole(kReject, "mx.example");
    auto w = whole.feed(in);
    DummySmtp bytes(kReject, "mx.example");
    std::string replies;
    size_t logs = 0;
    for (char c : in) {
      auto o = bytes.feed(std::string_view(&c, 1));
      replies += o.replies;
      logs += o.logs.size();
    }
    CPPUNIT_ASSERT_EQUAL(w.replies, replies);
    CPPUNIT_ASSERT_EQUAL(size_t(1), logs);
    // A bare LF ends a line too; a line without its end is not answered yet.
    DummySmtp lf(kReject, "mx.example");
    CPPUNIT_ASSERT_EQUAL(std::string("250 2.0.0 Ok\r\n"), lf.feed("NOOP\nNOOP").replies);
  }

  void engine_limits() {
    // An overlong line is refused as a whole, and its tail is not read as a command.
    DummySmtp e(kReject, "mx.example");
    auto o = e.feed(std::string(kMaxLine + 100, 'Q') + "QUIT\r\nNOOP\r\n");
    CPPUNIT_ASSERT_EQUAL(std::string("500 5.5.2 Error: line too long\r\n250 2.0.0 Ok\r\n"), o.replies);
    CPPUNIT_ASSERT(!o.close);
    // Errors: closed at kMaxErrors.
    DummySmtp errs(kReject, "mx.example");
    std::string junk;
    for (int i = 0; i < kMaxErrors + 5; ++i) junk += "JUNK\r\n";
    o = errs.feed(junk);
    CPPUNIT_ASSERT(o.close);
    CPPUNIT_ASSERT(o.replies.ends_with("421 4.7.0 mx.example Error: too many errors\r\n"));
    // Commands: closed after kMaxCommands, even good ones.
    DummySmtp cmds(kReject, "mx.example");
    std::string noops;
    for (int i = 0; i < kMaxCommands + 5; ++i) noops += "NOOP\r\n";
    o = cmds.feed(noops);
    CPPUNIT_ASSERT(o.close);
    CPPUNIT_ASSERT(o.replies.ends_with("421 4.7.0 mx.example Error: too many commands\r\n"));
    // A hostile address is shown printable and bounded in the log.
    DummySmtp hostile(kReject, "mx.example");
    o = hostile.feed("HELO x\r\nMAIL FROM:<a\x01" + std::string(400, 'b') + ">\r\nRCPT TO:<\x7f>\r\n");
    CPPUNIT_ASSERT_EQUAL(size_t(1), o.logs.size());
    CPPUNIT_ASSERT(o.logs[0].find('\x01') == std::string::npos && o.logs[0].find('\x7f') == std::string::npos);
    CPPUNIT_ASSERT(o.logs[0].size() < 700);
  }

  void cache_entries() {
    auto e = parse_cache_entry("1700000000;1700003600");
    CPPUNIT_ASSERT(e);
    CPPUNIT_ASSERT_EQUAL(int64_t(1700000000), e->greet_until);
    CPPUNIT_ASSERT_EQUAL(int64_t(1700003600), e->dnsbl_until);
    CPPUNIT_ASSERT_EQUAL(std::string("1700000000;1700003600"), format_cache_entry(*e));
    for (const char* bad : {"", ";", "1;", ";1", "1", "1;2;3", "-1;2", "a;b", "1 ;2", "99999999999999999999;1"})
      CPPUNIT_ASSERT_MESSAGE(bad, !parse_cache_entry(bad));
    CPPUNIT_ASSERT(!parse_cache_entry(std::string(100, '1') + ";1"));
  }

  void cache_file() {
    testing::TempDir dir;
    std::string spec = "btree:" + dir.path() + "/cache";
    {
      auto c = Cache::open(spec);
      CPPUNIT_ASSERT(c);
      CPPUNIT_ASSERT(!(*c)->get("192.0.2.7"));
      CPPUNIT_ASSERT((*c)->put("192.0.2.7", {100, 200}));
      CPPUNIT_ASSERT((*c)->put("192.0.2.8", {5000, 10}));
      CPPUNIT_ASSERT((*c)->put("192.0.2.9", {10, 20}));
    }
    auto c = Cache::open(spec);  // kept on disk
    CPPUNIT_ASSERT(c);
    CPPUNIT_ASSERT_EQUAL(int64_t(200), (*c)->get("192.0.2.7")->dnsbl_until);
    // Entries whose every time is before 150 go; one time after keeps an entry.
    CPPUNIT_ASSERT_EQUAL(1, (*c)->clean(150));
    CPPUNIT_ASSERT((*c)->get("192.0.2.7"));
    CPPUNIT_ASSERT((*c)->get("192.0.2.8"));
    CPPUNIT_ASSERT(!(*c)->get("192.0.2.9"));
    for (const char* bad : {"", "btree", "btree:", "btree:relative/path", "cdb:/x", "hash"})
      CPPUNIT_ASSERT_MESSAGE(bad, !Cache::open(bad));
    CPPUNIT_ASSERT(!Cache::open("btree:" + dir.path() + "/no/such/dir/cache"));
  }

  void settings() {
    auto s = Settings::from_config(config::Config::parse(""));
    CPPUNIT_ASSERT(s);
    CPPUNIT_ASSERT(s->greet_action == Action::Ignore);
    CPPUNIT_ASSERT_EQUAL(int64_t(6000), s->greet_wait_ms);
    CPPUNIT_ASSERT(s->access_list == std::vector<std::string>{"permit_mynetworks"});
    CPPUNIT_ASSERT_EQUAL(std::string("smtpd"), s->service_name);
    CPPUNIT_ASSERT_EQUAL(50, s->connection_count_limit);
    s = Settings::from_config(config::Config::parse(
        "postscreen_greet_action = drop\npostscreen_blacklist_action = enforce\n"
        "postscreen_dnsbl_whitelist_threshold = -2\npostscreen_dnsbl_sites = bl.example*2 wl.example*-3\n"
        "postscreen_access_list = permit_mynetworks, cidr:/etc/x.cidr\n"));
    CPPUNIT_ASSERT(s);
    CPPUNIT_ASSERT(s->greet_action == Action::Drop);
    CPPUNIT_ASSERT(s->denylist_action == Action::Enforce);  // the old name, set alone
    CPPUNIT_ASSERT_EQUAL(-2, s->dnsbl_allowlist_threshold);
    CPPUNIT_ASSERT_EQUAL(size_t(2), s->dnsbl_sites.size());
    CPPUNIT_ASSERT_EQUAL(size_t(2), s->access_list.size());
    // The new name wins when both are set.
    s = Settings::from_config(config::Config::parse(
        "postscreen_denylist_action = drop\npostscreen_blacklist_action = enforce\n"));
    CPPUNIT_ASSERT(s->denylist_action == Action::Drop);
    for (const char* bad : {"postscreen_greet_action = reject\n", "postscreen_dnsbl_action = \n",
                            "postscreen_dnsbl_sites = bl.example*x\n", "postscreen_access_list = permit\n",
                            "smtpd_service_name = ../x\n"})
      CPPUNIT_ASSERT_MESSAGE(bad, !Settings::from_config(config::Config::parse(bad)));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(PostscreenTest);
