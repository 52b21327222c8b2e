// resolver/cache_test.cc - the answer cache: TTLs, negative answers capped, temporary
// failures never kept, and a bound on its entries.
#include "resolver/cache.h"

#include <cppunit/extensions/HelperMacros.h>

using namespace postilion;
using namespace postilion::resolver;

class CacheTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(CacheTest);
  CPPUNIT_TEST(cache_ttl);
  CPPUNIT_TEST_SUITE_END();

 public:
  void cache_ttl() {
    Cache c(3, 3600, 60);
    dns::Answer ok;
    ok.outcome = dns::Outcome::Ok;
    ok.ttl = 300;
    ok.rdata = {"x"};
    c.put("a.tst", dns::RrType::MX, ok, 1000);
    CPPUNIT_ASSERT(!c.get("a.tst", dns::RrType::A, 1000));
    auto got = c.get("a.tst", dns::RrType::MX, 1100);
    CPPUNIT_ASSERT(got);
    CPPUNIT_ASSERT_EQUAL(uint32_t(200), got->ttl);
    CPPUNIT_ASSERT(!c.get("a.tst", dns::RrType::MX, 1300));  // expired at 1300

    dns::Answer nx;
    nx.outcome = dns::Outcome::NxDomain;
    nx.ttl = 86400;  // negative TTL capped at 60
    c.put("b.tst", dns::RrType::MX, nx, 1000);
    CPPUNIT_ASSERT(c.get("b.tst", dns::RrType::MX, 1059));
    CPPUNIT_ASSERT(!c.get("b.tst", dns::RrType::MX, 1060));

    dns::Answer temp;
    temp.outcome = dns::Outcome::TempFail;
    temp.ttl = 300;
    c.put("c.tst", dns::RrType::MX, temp, 1000);
    CPPUNIT_ASSERT(!c.get("c.tst", dns::RrType::MX, 1000));  // never cached

    ok.ttl = 999999;  // capped at max_ttl
    c.put("d.tst", dns::RrType::A, ok, 0);
    CPPUNIT_ASSERT_EQUAL(uint32_t(3600), c.get("d.tst", dns::RrType::A, 0)->ttl);
    // Bounded: a full cache evicts, never grows past its limit.
    for (int i = 0; i < 10; ++i) c.put("e" + std::to_string(i) + ".tst", dns::RrType::A, ok, 0);
    CPPUNIT_ASSERT(c.size() <= 3);
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(CacheTest);
