// lib/mailbox/uidlist_test.cc - dovecot-uidlist, courierimapuiddb and dovecot-keywords:
// every version, malformed, oversized and hostile rows, truncated files.
#include "lib/mailbox/uidlist.h"

#include <cppunit/extensions/HelperMacros.h>

using namespace postilion::mailbox;

class UidlistTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(UidlistTest);
  CPPUNIT_TEST(versions);
  CPPUNIT_TEST(bad_headers);
  CPPUNIT_TEST(hostile_rows);
  CPPUNIT_TEST(truncated);
  CPPUNIT_TEST(keywords);
  CPPUNIT_TEST_SUITE_END();

  using Entries = std::vector<std::pair<uint32_t, std::string>>;

 public:
  void versions() {
    struct Row {
      const char* text;
      uint32_t validity, next;
      Entries entries;
    } rows[] = {
        {"3 V1275660208 N25022 G3085f01b7f11094c501100008c4a11c1\n"
         "25006 :1276528487.M364837P9451.kurkku,S=1355,W=1394:2,\n"
         "25017 W2481 :1276533073.M242911P3632.kurkku:2,F\n",
         1275660208, 25022,
         {{25006, "1276528487.M364837P9451.kurkku,S=1355,W=1394"}, {25017, "1276533073.M242911P3632.kurkku"}}},
        {"1 1000 5\n1 a.b.c\n3 d.e.f:2,S\n", 1000, 5, {{1, "a.b.c"}, {3, "d.e.f"}}},  // v1 = Courier
        {"2 7 4\n2 S x.y\n", 7, 4, {{2, "x.y"}}},
        {"3 N10 V99\r\n5 :k1\r\n", 99, 10, {{5, "k1"}}},
        {"3 V1 N2\n", 1, 2, {}},
    };
    for (const auto& r : rows) {
      auto l = parse_uidlist(r.text);
      CPPUNIT_ASSERT_MESSAGE(r.text, l.has_value());
      CPPUNIT_ASSERT_EQUAL(r.validity, l->uid_validity);
      CPPUNIT_ASSERT_EQUAL(r.next, l->next_uid);
      CPPUNIT_ASSERT_MESSAGE(r.text, l->entries == r.entries);
    }
  }

  void bad_headers() {
    for (const char* t : {"", "\n", "4 V1 N2\n", "3 N2\n", "3 V1\n", "3 V0 N2\n", "3 Vx N2\n", "1 1\n",
                          "1 0 5\n", "1 5 0\n", "1 99999999999 5\n", "garbage\n1 :x\n", "3 V1 N99999999999\n"})
      CPPUNIT_ASSERT_MESSAGE(t, !parse_uidlist(t).has_value());
  }

  void hostile_rows() {
    std::string text = "3 V5 N100\n";
    text += "0 :zero\n";                             // UID 0
    text += "x :notanumber\n";                       // not a number
    text += "10 :../../etc/passwd\n";                // path
    text += "11 :.hidden\n";                         // dot file
    text += "12 W5 no-colon\n";                      // no name
    text += "13 :ok1\n";                             // good
    text += "13 :dup\n";                             // UID not ascending
    text += "9 :back\n";                             // going back
    text += "14 :" + std::string(70000, 'a') + "\n";  // oversized line
    text += "15 :ctl\x01x\n";                        // control character
    text += "16 :\n";                                // empty name
    text += "17 :ok2:2,S\n";                         // good
    text += "99999999999 :big\n";                    // overflow
    text += "4294967295 :max\n";                     // no next UID after it
    text += "150 :beyond\n";                         // beyond the header's next UID: kept
    auto l = parse_uidlist(text);
    CPPUNIT_ASSERT(l.has_value());
    CPPUNIT_ASSERT((l->entries == Entries{{13, "ok1"}, {17, "ok2"}, {150, "beyond"}}));
    CPPUNIT_ASSERT_EQUAL(uint32_t(151), l->next_uid);
    // Dovecot's header lags behind the rows it appended.
    auto stale = parse_uidlist("3 V7 N1 Gx\n1 :a\n2 :b\n5 :c\n");
    CPPUNIT_ASSERT(stale && stale->entries.size() == 3 && stale->next_uid == 6);
  }

  void truncated() {
    std::string good = "3 V5 N100 Gx\n1 :a\n2 W3 :b:2,S\n";
    for (size_t n = 0; n < good.size(); ++n) {
      auto l = parse_uidlist(good.substr(0, n));
      if (!l) continue;
      CPPUNIT_ASSERT(l->entries.size() <= 2);
      for (const auto& [uid, key] : l->entries) CPPUNIT_ASSERT(!key.empty() && uid >= 1 && uid <= 2);
    }
  }

  void keywords() {
    auto k = parse_keywords("0 $Label1\n1 Junk\n25 last\n26 over\nx bad\n2 has space\n3 (paren\n4 \n5 ok\r\n");
    CPPUNIT_ASSERT_EQUAL(size_t(26), k.size());
    CPPUNIT_ASSERT_EQUAL(std::string("$Label1"), k[0]);
    CPPUNIT_ASSERT_EQUAL(std::string("Junk"), k[1]);
    CPPUNIT_ASSERT_EQUAL(std::string(""), k[2]);
    CPPUNIT_ASSERT_EQUAL(std::string(""), k[3]);
    CPPUNIT_ASSERT_EQUAL(std::string("ok"), k[5]);
    CPPUNIT_ASSERT_EQUAL(std::string("last"), k[25]);
    CPPUNIT_ASSERT_EQUAL(std::string("0 $Label1\n1 Junk\n5 ok\n25 last\n"), format_keywords(k));
    CPPUNIT_ASSERT(parse_keywords(format_keywords(k)) == k);
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(UidlistTest);
