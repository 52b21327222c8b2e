// lib/dns/dns_test.cc - rdata decoders with good, truncated and hostile input; the
// resolver protocol's strict decoders.
#include "lib/dns/dns.h"

#include <cppunit/extensions/HelperMacros.h>

#include "lib/dns/protocol.h"
#include "lib/dns/wire_test_util.h"

using namespace postilion;
using namespace postilion::dns;
using postilion::dns::wire_test::mx_rdata;
using postilion::dns::wire_test::wire_name;

class DnsTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(DnsTest);
  CPPUNIT_TEST(mx_records);
  CPPUNIT_TEST(mx_every_truncation_fails);
  CPPUNIT_TEST(addresses);
  CPPUNIT_TEST(tlsa_and_txt);
  CPPUNIT_TEST(names);
  CPPUNIT_TEST(plan_round_trip);
  CPPUNIT_TEST(plan_garbage);
  CPPUNIT_TEST(query_reply_garbage);
  CPPUNIT_TEST(reverse_names);
  CPPUNIT_TEST(client_name_messages);
  CPPUNIT_TEST(client_name_table);
  CPPUNIT_TEST_SUITE_END();

 public:
  void mx_records() {
    struct Row {
      std::string rdata;
      bool ok;
      int pref;
      std::string host;
    } rows[] = {
        {mx_rdata(10, "mx.ispb.tst"), true, 10, "mx.ispb.tst"},
        {mx_rdata(65535, "MAIL.ExampleB.tst"), true, 65535, "mail.exampleb.tst"},
        {mx_rdata(0, ""), true, 0, ""},                       // null MX
        {std::string("\0\x0a", 2), false, 0, ""},             // no name
        {mx_rdata(10, "a.b") + "x", false, 0, ""},            // trailing garbage
        {std::string("\0\x0a\xc0\x0c", 4), false, 0, ""},     // compression pointer
        {std::string("\0\x0a\x03" "a b\0", 7), false, 0, ""}, // space in a label
        {std::string("\0\x0a\x05" "a\r\nbc\0", 9), false, 0, ""},
        {std::string("\0\x0a\x40", 3) + std::string(64, 'a') + std::string(1, '\0'), false, 0, ""},
        {"", false, 0, ""},
    };
    for (const auto& r : rows) {
      auto mx = decode_mx(r.rdata);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(hex(r.rdata), r.ok, mx.has_value());
      if (!r.ok) continue;
      CPPUNIT_ASSERT_EQUAL(r.pref, mx->preference);
      CPPUNIT_ASSERT_EQUAL(r.host, mx->host);
    }
    CPPUNIT_ASSERT_EQUAL(std::string("10 mx.ispb.tst"), *present(RrType::MX, mx_rdata(10, "mx.ispb.tst")));
    CPPUNIT_ASSERT_EQUAL(std::string("0 ."), *present(RrType::MX, mx_rdata(0, "")));
    CPPUNIT_ASSERT(parse_mx_text("0 .")->host.empty());
    CPPUNIT_ASSERT_EQUAL(20, parse_mx_text("20 mail.exampleb.tst")->preference);
    CPPUNIT_ASSERT(!parse_mx_text("70000 a.b"));
    CPPUNIT_ASSERT(!parse_mx_text("10"));
    CPPUNIT_ASSERT(!parse_mx_text("x a.b"));
    CPPUNIT_ASSERT(!parse_mx_text("10 a..b"));
  }

  void mx_every_truncation_fails() {
    std::string good = mx_rdata(10, "mail.exampleb.tst");
    CPPUNIT_ASSERT(decode_mx(good));
    for (size_t n = 0; n < good.size(); ++n) CPPUNIT_ASSERT(!decode_mx(good.substr(0, n)));
  }

  void addresses() {
    CPPUNIT_ASSERT_EQUAL(std::string("127.0.3.1"), *decode_a(std::string("\x7f\0\x03\x01", 4)));
    CPPUNIT_ASSERT(!decode_a(std::string("\x7f\0\x03", 3)));
    CPPUNIT_ASSERT(!decode_a(std::string("\x7f\0\x03\x01\x01", 5)));
    std::string v6(16, '\0');
    v6[15] = 1;
    CPPUNIT_ASSERT_EQUAL(std::string("::1"), *decode_aaaa(v6));
    CPPUNIT_ASSERT(!decode_aaaa(v6.substr(1)));
  }

  void tlsa_and_txt() {
    std::string rd = std::string("\x03\x01\x01", 3) + std::string("\xab\xcd", 2);
    auto t = decode_tlsa(rd);
    CPPUNIT_ASSERT(t);
    CPPUNIT_ASSERT_EQUAL(3, int(t->usage));
    CPPUNIT_ASSERT_EQUAL(std::string("3 1 1 ABCD"), *present(RrType::TLSA, rd));
    CPPUNIT_ASSERT(*parse_tlsa_text("3 1 1 abcd") == *t);
    CPPUNIT_ASSERT(!decode_tlsa(std::string("\x03\x01\x01", 3)));
    CPPUNIT_ASSERT(!parse_tlsa_text("3 1 1 abc"));
    CPPUNIT_ASSERT(!parse_tlsa_text("3 1 1 zz"));
    CPPUNIT_ASSERT(!parse_tlsa_text("300 1 1 ab"));
    CPPUNIT_ASSERT_EQUAL(std::string("v=spf1 -all"), *decode_txt(std::string("\x0bv=spf1 -all", 12)));
    CPPUNIT_ASSERT_EQUAL(std::string("abcd"), *decode_txt(std::string("\x02" "ab\x02" "cd", 6)));
    CPPUNIT_ASSERT(!decode_txt(std::string("\x05" "ab", 3)));
    CPPUNIT_ASSERT(!decode_txt(""));
  }

  void names() {
    struct Row {
      const char* in;
      const char* out;  // nullptr: refused
    } rows[] = {
        {"Mail.ExampleB.TST.", "mail.exampleb.tst"},
        {"_25._tcp.mx.b.tst", "_25._tcp.mx.b.tst"},
        {"a", "a"},
        {"", nullptr},
        {".", nullptr},
        {"a..b", nullptr},
        {".a", nullptr},
        {"a b", nullptr},
        {"a\nb", nullptr},
        {"a/b", nullptr},
    };
    for (const auto& r : rows) {
      auto n = normalize_name(r.in);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.out != nullptr, n.has_value());
      if (r.out) CPPUNIT_ASSERT_EQUAL(std::string(r.out), *n);
    }
    CPPUNIT_ASSERT(!normalize_name(std::string(64, 'a') + ".tst"));
    CPPUNIT_ASSERT(normalize_name(std::string(63, 'a') + ".tst"));
    CPPUNIT_ASSERT(!normalize_name(std::string(254, 'a')));
  }

  void plan_round_trip() {
    Plan p;
    p.status = PlanStatus::Ok;
    p.security = Security::Secure;
    p.hops = {{"mx.ispb.tst", "127.0.3.1", 10, Security::Secure},
              {"mail.exampleb.tst", "::1", 20, Security::Insecure}};
    auto back = proto::decode_plan(proto::encode_plan(p));
    CPPUNIT_ASSERT_MESSAGE(back ? "" : back.error(), back.ok());
    CPPUNIT_ASSERT(back->hops == p.hops);
    CPPUNIT_ASSERT(back->security == Security::Secure);
    Plan f;
    f.status = PlanStatus::Perm;
    f.dsn = "5.1.10";
    f.text = "Domain x does not accept mail (nullMX)";
    back = proto::decode_plan(proto::encode_plan(f));
    CPPUNIT_ASSERT(back && back->status == PlanStatus::Perm && back->dsn == "5.1.10");
  }

  void plan_garbage() {
    auto base = [] {
      ipc::Message m;
      m.set("status", "ok").set("secure", "insecure");
      return m;
    };
    std::vector<ipc::Message> bad;
    bad.push_back(ipc::Message());
    bad.push_back(base());  // ok without hops
    {
      auto m = base();
      m.set("host", "a.tst").set("addr", "127.0.0.1").set("pref", "10");  // no hsecure
      bad.push_back(m);
    }
    {
      auto m = base();
      m.set("host", "a.tst").set("addr", "127.0.0.1; rm").set("pref", "10").set("hsecure", "secure");
      bad.push_back(m);
    }
    {
      auto m = base();
      m.set("host", "a..tst").set("addr", "127.0.0.1").set("pref", "10").set("hsecure", "secure");
      bad.push_back(m);
    }
    {
      auto m = base();
      m.set("host", "a.tst").set("addr", "127.0.0.1").set("pref", "-1").set("hsecure", "secure");
      bad.push_back(m);
    }
    {
      ipc::Message m;
      m.set("status", "perm").set("secure", "insecure").set("dsn", "4.4.3").set("text", "x");
      bad.push_back(m);  // perm with a 4.x.x code
    }
    {
      ipc::Message m;
      m.set("status", "maybe").set("secure", "insecure");
      bad.push_back(m);
    }
    for (size_t i = 0; i < bad.size(); ++i) {
      auto got = proto::decode_plan(bad[i]);
      CPPUNIT_ASSERT_MESSAGE(std::to_string(i), !got);
      CPPUNIT_ASSERT(!got.error().empty());
    }
  }

  void query_reply_garbage() {
    proto::QueryReply r;
    r.outcome = Outcome::Ok;
    r.security = Security::Bogus;
    r.ttl = 30;
    r.records = {"3 1 1 AB"};
    auto back = proto::decode_query_reply(proto::encode_query_reply(r));
    CPPUNIT_ASSERT(back && back->records == r.records && back->security == Security::Bogus);
    ipc::Message m;
    m.set("status", "ok").set("secure", "secure").set("ttl", "-5");
    CPPUNIT_ASSERT(!proto::decode_query_reply(m));
    ipc::Message m2;
    m2.set("status", "ok").set("secure", "secure").set("ttl", "5");
    CPPUNIT_ASSERT(!proto::decode_query_reply(m2));  // ok without records
  }

  void reverse_names() {
    struct Row {
      const char* ip;
      const char* want;  // nullptr: not an address
    };
    const Row rows[] = {
        {"192.0.2.7", "7.2.0.192.in-addr.arpa"},
        {"127.0.0.1", "1.0.0.127.in-addr.arpa"},
        {"2001:db8::1", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"},
        {"", nullptr}, {"192.0.2", nullptr}, {"192.0.2.256", nullptr}, {"a.b.c.d", nullptr},
        {"1.2.3.4\n", nullptr}, {"::ffff:1.2.3.4x", nullptr},
    };
    for (const auto& r : rows) {
      auto got = reverse_name(r.ip);
      if (!r.want) CPPUNIT_ASSERT_MESSAGE(r.ip, !got);
      else CPPUNIT_ASSERT_EQUAL(std::string(r.want), got.value_or("(none)"));
      if (got) CPPUNIT_ASSERT(normalize_name(*got));  // the resolver accepts it as a name
    }
    CPPUNIT_ASSERT(same_address("2001:db8::1", "2001:0db8:0:0::0001"));
    CPPUNIT_ASSERT(same_address("127.0.0.9", "127.0.0.9"));
    CPPUNIT_ASSERT(!same_address("127.0.0.9", "127.0.0.90"));
    CPPUNIT_ASSERT(!same_address("127.0.0.1", "::ffff:127.0.0.1"));
    CPPUNIT_ASSERT(!same_address("x", "x"));
    // PTR rdata is a name, presented like CNAME's.
    CPPUNIT_ASSERT_EQUAL(std::string("mx.b.tst"), present(RrType::PTR, wire_name("MX.b.tst")).value_or(""));
    CPPUNIT_ASSERT(!present(RrType::PTR, wire_name("mx.b.tst") + "x"));
    CPPUNIT_ASSERT(parse_rrtype("ptr") == RrType::PTR);
    // The DNS list name: the reversed address before the list's domain.
    CPPUNIT_ASSERT_EQUAL(std::string("7.2.0.192.bl.example"), *dnsbl_query_name("192.0.2.7", "bl.example"));
    auto v6 = dnsbl_query_name("2001:db8::1", "bl.example");
    CPPUNIT_ASSERT(v6 && v6->starts_with("1.0.0.0.") && v6->ends_with(".8.b.d.0.1.0.0.2.bl.example"));
    for (const char* bad : {"", "unknown", "192.0.2", "192.0.2.256", "1.2.3.4.5", "::g"})
      CPPUNIT_ASSERT_MESSAGE(bad, !dnsbl_query_name(bad, "bl.example"));
  }

  void client_name_messages() {
    using proto::ClientName;
    for (auto st : {ClientName::Status::Ok, ClientName::Status::Unconfirmed}) {
      auto back = proto::decode_client_name(proto::encode_client_name(ClientName{st, "host.b.tst", ""}));
      CPPUNIT_ASSERT(back && back->status == st && back->name == "host.b.tst");
    }
    auto nx = proto::decode_client_name(proto::encode_client_name(ClientName{ClientName::Status::NxDomain, "", "x"}));
    CPPUNIT_ASSERT(nx && nx->status == ClientName::Status::NxDomain && nx->name.empty());
    // Garbage: unknown status, ok without a name, a name that is no host name.
    ipc::Message bad1;
    bad1.set("status", "maybe");
    CPPUNIT_ASSERT(!proto::decode_client_name(bad1));
    ipc::Message bad2;
    bad2.set("status", "ok");
    CPPUNIT_ASSERT(!proto::decode_client_name(bad2));
    ipc::Message bad3;
    bad3.set("status", "ok").set("name", "evil host\r\nX-Injected: 1");
    CPPUNIT_ASSERT(!proto::decode_client_name(bad3));
    CPPUNIT_ASSERT_EQUAL(std::string("ptr"), std::string(proto::ptr_request("192.0.2.7").get_or("cmd", "")));
    CPPUNIT_ASSERT_EQUAL(std::string("192.0.2.7"), std::string(proto::ptr_request("192.0.2.7").get_or("addr", "")));
  }

  // What smtpd takes from the resolver for its logs and Received: header: a host name
  // (lowercased, no trailing dot) for ok and unconfirmed, nothing else.
  void client_name_table() {
    using proto::ClientName;
    struct Row {
      const char* status;
      std::string name;
      std::optional<std::string> want;  // the decoded name; nullopt: refused
    } rows[] = {
        {"ok", "Mail.Example.TST", "mail.example.tst"},
        {"ok", "mail.example.tst.", "mail.example.tst"},
        {"unconfirmed", "liar.ptr.tst", "liar.ptr.tst"},
        {"ok", "_dmarc.b.tst", "_dmarc.b.tst"},
        {"ok", "", std::nullopt},
        {"ok", ".", std::nullopt},
        {"ok", ".lead.tst", std::nullopt},
        {"ok", "a..b.tst", std::nullopt},
        {"ok", "a b.tst", std::nullopt},
        {"ok", "host.tst\r\nReceived: forged", std::nullopt},
        {"ok", std::string("nul\0.tst", 8), std::nullopt},
        {"ok", "h\xc3\xa9.tst", std::nullopt},
        {"ok", "[192.0.2.7]", std::nullopt},
        {"ok", std::string(64, 'a') + ".tst", std::nullopt},
        {"ok", std::string(63, 'a') + ".tst", std::string(63, 'a') + ".tst"},
        {"unconfirmed", std::string(300, 'a'), std::nullopt},
        {"nodata", "ignored and not kept", ""},
        {"temp", "", ""},
        {"error", "", std::nullopt},
        {"OK", "host.tst", std::nullopt},
    };
    for (const Row& r : rows) {
      ipc::Message m;
      m.set("status", r.status);
      if (!r.name.empty()) m.set("name", r.name);
      auto got = proto::decode_client_name(m);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.name, r.want.has_value(), got.ok());
      if (got) CPPUNIT_ASSERT_EQUAL_MESSAGE(r.name, *r.want, got->name);
      else CPPUNIT_ASSERT(!got.error().empty() && got.error().size() < 200 && got.error().find('\n') == std::string::npos);
    }
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(DnsTest);
