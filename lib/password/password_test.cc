// lib/password/password_test.cc - crypt(3) hashes: known vectors, fresh hashes of each
// method, locked and malformed hashes.
#include "lib/password/password.h"

#include <cppunit/extensions/HelperMacros.h>

using namespace postilion::password;

class PasswordTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(PasswordTest);
  CPPUNIT_TEST(known_vectors);
  CPPUNIT_TEST(fresh_hashes);
  CPPUNIT_TEST(refused);
  CPPUNIT_TEST_SUITE_END();

 public:
  void known_vectors() {
    // From the SHA-crypt specification (Drepper), rounds=5000 default.
    const std::string sha512 =
        "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1";
    CPPUNIT_ASSERT(verify_password("Hello world!", sha512));
    CPPUNIT_ASSERT(!verify_password("Hello world", sha512));
    CPPUNIT_ASSERT(!verify_password("hello world!", sha512));
  }

  void fresh_hashes() {
    struct Row { const char* prefix; } rows[] = {{"$y$"}, {"$6$"}};
    for (auto& r : rows) {
      auto h = hash_password("correct horse", r.prefix);
      CPPUNIT_ASSERT_MESSAGE(r.prefix, h.ok());
      CPPUNIT_ASSERT(h->rfind(r.prefix, 0) == 0);
      CPPUNIT_ASSERT(verify_password("correct horse", *h));
      CPPUNIT_ASSERT(!verify_password("correct horsE", *h));
      CPPUNIT_ASSERT(!verify_password("", *h));
      auto h2 = hash_password("correct horse", r.prefix);
      CPPUNIT_ASSERT(h2.ok() && *h2 != *h);  // fresh salt each time
    }
    auto def = hash_password("pw");
    CPPUNIT_ASSERT(def.ok() && def->rfind("$y$", 0) == 0);
    CPPUNIT_ASSERT(!hash_password("pw", "$nonsense$").ok());
    CPPUNIT_ASSERT(!hash_password(std::string("a\0b", 3)).ok());
  }

  void refused() {
    auto h = hash_password("pw", "$6$");
    CPPUNIT_ASSERT(h.ok());
    const std::string bad[] = {"", "x", "*", "!", "!" + *h, "*" + *h, "$6$", "$y$short", h->substr(0, h->size() - 1)};
    for (const auto& b : bad) CPPUNIT_ASSERT_MESSAGE(b, !verify_password("pw", b));
    CPPUNIT_ASSERT(!verify_password(std::string("pw\0x", 4), *h));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(PasswordTest);
