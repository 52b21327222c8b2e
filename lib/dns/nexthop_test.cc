// lib/dns/nexthop_test.cc - MX ordering and shuffling, null MX, implicit MX, DNS
// failures, and loops back to this host, table-driven.
#include "lib/dns/nexthop.h"

#include <cppunit/extensions/HelperMacros.h>

#include <set>

#include "lib/dns/wire_test_util.h"

using namespace postilion::dns;
using postilion::dns::wire_test::mx_rdata;
using postilion::dns::wire_test::wire_name;

namespace {
Answer mx_answer(std::vector<std::pair<int, std::string>> recs) {
  Answer a;
  a.outcome = Outcome::Ok;
  a.ttl = 300;
  for (auto& [p, h] : recs) a.rdata.push_back(mx_rdata(p, h));
  return a;
}
Answer outcome(Outcome o) {
  Answer a;
  a.outcome = o;
  return a;
}
Answer a_answer(std::vector<std::string> addrs) {
  Answer a;
  a.outcome = Outcome::Ok;
  for (auto& s : addrs) {
    unsigned b[4];
    sscanf(s.c_str(), "%u.%u.%u.%u", &b[0], &b[1], &b[2], &b[3]);
    a.rdata.push_back(std::string{char(b[0]), char(b[1]), char(b[2]), char(b[3])});
  }
  return a;
}
HostAnswers host(int pref, std::string name, Answer a, Answer aaaa = outcome(Outcome::NoData)) {
  return HostAnswers{{pref, std::move(name)}, std::move(a), std::move(aaaa)};
}
std::string hops_text(const Plan& p) {
  std::string s;
  for (auto& h : p.hops) s += (s.empty() ? "" : " ") + std::to_string(h.preference) + ":" + h.host + "[" + h.address + "]";
  return s;
}
}  // namespace

class NextHopTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(NextHopTest);
  CPPUNIT_TEST(sorted_and_shuffled);
  CPPUNIT_TEST(mx_stage_table);
  CPPUNIT_TEST(hops_table);
  CPPUNIT_TEST_SUITE_END();

 public:
  void sorted_and_shuffled() {
    std::set<std::string> orders;
    for (unsigned seed = 0; seed < 200; ++seed) {
      std::mt19937 rng(seed);
      std::vector<MxRecord> mx = {{20, "c"}, {10, "a"}, {10, "b"}, {5, "z"}, {20, "d"}};
      sort_mx(mx, rng);
      for (size_t i = 1; i < mx.size(); ++i) CPPUNIT_ASSERT(mx[i - 1].preference <= mx[i].preference);
      CPPUNIT_ASSERT_EQUAL(std::string("z"), mx[0].host);
      std::string o;
      for (auto& r : mx) o += r.host;
      orders.insert(o);
    }
    // Equal preferences shuffled: all four combinations of {a,b} x {c,d} show up.
    CPPUNIT_ASSERT_EQUAL(size_t(4), orders.size());
    CPPUNIT_ASSERT(is_null_mx({{0, ""}}));
    CPPUNIT_ASSERT(!is_null_mx({{0, ""}, {10, "a"}}));
    CPPUNIT_ASSERT(!is_null_mx({{0, "a"}}));
    CPPUNIT_ASSERT(!is_null_mx({}));
  }

  void mx_stage_table() {
    struct Row {
      const char* what;
      Answer mx;
      PlanStatus status;
      const char* dsn;
      const char* hosts;  // "pref:host ..." when Ok
    } rows[] = {
        {"two MX", mx_answer({{20, "mail.exampleb.tst"}, {10, "mx.ispb.tst"}}), PlanStatus::Ok, "",
         "10:mx.ispb.tst 20:mail.exampleb.tst"},
        {"no MX: implicit", outcome(Outcome::NoData), PlanStatus::Ok, "", "0:exampleb.tst"},
        {"null MX", mx_answer({{0, ""}}), PlanStatus::Perm, "5.1.10", ""},
        {"root among others dropped", mx_answer({{0, ""}, {10, "mx.ispb.tst"}}), PlanStatus::Ok, "",
         "10:mx.ispb.tst"},
        {"nxdomain", outcome(Outcome::NxDomain), PlanStatus::Perm, "5.4.4", ""},
        {"servfail", outcome(Outcome::TempFail), PlanStatus::Temp, "4.4.3", ""},
        {"duplicates", mx_answer({{10, "a.tst"}, {20, "a.tst"}}), PlanStatus::Ok, "", "10:a.tst"},
        {"all malformed", [] {
           Answer a;
           a.outcome = Outcome::Ok;
           a.rdata = {"\x01", std::string("\0\x0a\x03" "a b\0", 7)};
           return a;
         }(), PlanStatus::Perm, "5.4.4", ""},
    };
    for (auto& r : rows) {
      std::mt19937 rng(1);
      auto st = plan_mx("exampleb.tst", r.mx, rng);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.what, plan_status_name(r.status), plan_status_name(st.plan.status));
      if (r.status != PlanStatus::Ok) {
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.what, std::string(r.dsn), st.plan.dsn);
        CPPUNIT_ASSERT(!st.plan.text.empty());
        continue;
      }
      std::string got;
      for (auto& h : st.hosts) got += (got.empty() ? "" : " ") + std::to_string(h.preference) + ":" + h.host;
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.what, std::string(r.hosts), got);
    }
    std::mt19937 rng(1);
    auto st = plan_mx("nomail.tst", mx_answer({{0, ""}}), rng);
    CPPUNIT_ASSERT_EQUAL(std::string("Domain nomail.tst does not accept mail (nullMX)"), st.plan.text);
    // Many MX hosts: bounded, the best kept.
    std::vector<std::pair<int, std::string>> many;
    for (int i = 0; i < 50; ++i) many.push_back({i, "h" + std::to_string(i) + ".tst"});
    st = plan_mx("x.tst", mx_answer(many), rng);
    CPPUNIT_ASSERT_EQUAL(kMaxMxHosts, st.hosts.size());
    CPPUNIT_ASSERT_EQUAL(0, st.hosts.front().preference);
  }

  void hops_table() {
    Identity me{{"mx.ispb.tst"}, {"127.0.3.1"}};
    Identity other{{"mx.ispa.tst"}, {"127.0.2.1"}};
    struct Row {
      const char* what;
      const Identity* id;
      std::vector<HostAnswers> hosts;
      PlanStatus status;
      const char* dsn;
      const char* hops;
    } rows[] = {
        {"both hosts", &other,
         {host(10, "mx.ispb.tst", a_answer({"127.0.3.1"})), host(20, "mail.exampleb.tst", a_answer({"127.0.4.1"}))},
         PlanStatus::Ok, "", "10:mx.ispb.tst[127.0.3.1] 20:mail.exampleb.tst[127.0.4.1]"},
        {"self by name at 10 drops 10 and 20", &me,
         {host(10, "mx.ispb.tst", a_answer({"127.0.9.9"})), host(20, "mail.exampleb.tst", a_answer({"127.0.4.1"}))},
         PlanStatus::Perm, "5.4.6", ""},
        {"self by address at 20 keeps 10", &me,
         {host(10, "mx1.tst", a_answer({"127.0.5.1"})), host(20, "backup.tst", a_answer({"127.0.3.1"})),
          host(30, "far.tst", a_answer({"127.0.6.1"}))},
         PlanStatus::Ok, "", "10:mx1.tst[127.0.5.1]"},
        {"one host without address is skipped", &other,
         {host(10, "gone.tst", outcome(Outcome::NxDomain)), host(20, "mail.exampleb.tst", a_answer({"127.0.4.1"}))},
         PlanStatus::Ok, "", "20:mail.exampleb.tst[127.0.4.1]"},
        {"no address at all: permanent", &other,
         {host(10, "gone.tst", outcome(Outcome::NxDomain))}, PlanStatus::Perm, "5.4.4", ""},
        {"no address, one temporary: temporary", &other,
         {host(10, "gone.tst", outcome(Outcome::NxDomain)), host(20, "slow.tst", outcome(Outcome::TempFail))},
         PlanStatus::Temp, "4.4.3", ""},
        {"A and AAAA both", &other,
         {host(10, "dual.tst", a_answer({"127.0.7.1", "127.0.7.2"}),
               [] { Answer a; a.outcome = Outcome::Ok; std::string v6(16, '\0'); v6[15] = 1; a.rdata = {v6}; return a; }())},
         PlanStatus::Ok, "", "10:dual.tst[127.0.7.1] 10:dual.tst[127.0.7.2] 10:dual.tst[::1]"},
        {"malformed address skipped", &other,
         {host(10, "bad.tst", [] { Answer a; a.outcome = Outcome::Ok; a.rdata = {"xyz"}; return a; }()),
          host(20, "ok.tst", a_answer({"127.0.8.1"}))},
         PlanStatus::Ok, "", "20:ok.tst[127.0.8.1]"},
    };
    for (auto& r : rows) {
      Plan p = plan_hops("exampleb.tst", r.hosts, *r.id, Security::Insecure);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.what, plan_status_name(r.status), plan_status_name(p.status));
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.what, std::string(r.dsn), p.dsn);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.what, std::string(r.hops), hops_text(p));
    }
    Plan loop = plan_hops("exampleb.tst", {host(10, "mx.ispb.tst", a_answer({"127.0.3.1"}))}, me, Security::Insecure);
    CPPUNIT_ASSERT_EQUAL(std::string("mail for exampleb.tst loops back to myself"), loop.text);
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(NextHopTest);
