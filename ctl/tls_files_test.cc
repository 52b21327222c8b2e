// ctl/tls_files_test.cc - self-signed certificates: made, checked, and mismatches found.
#include "ctl/tls_files.h"

#include <cppunit/extensions/HelperMacros.h>
#include <sys/stat.h>

#include "lib/base/file.h"
#include "lib/testing/temp_dir.h"

using namespace postilion;

class TlsFilesTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(TlsFilesTest);
  CPPUNIT_TEST(selfsigned_matches_its_key);
  CPPUNIT_TEST(mismatch_and_garbage_are_reported);
  CPPUNIT_TEST_SUITE_END();

 public:
  void selfsigned_matches_its_key() {
    testing::TempDir dir;
    std::string cert = dir.file("c.pem"), key = dir.file("k.pem");
    CPPUNIT_ASSERT(ctl::write_selfsigned(cert, key, "mail.example.test").ok());
    struct stat st;
    CPPUNIT_ASSERT_EQUAL(0, stat(key.c_str(), &st));
    CPPUNIT_ASSERT_EQUAL(0600u, static_cast<unsigned>(st.st_mode & 0777));
    auto text = file::read_file(cert);
    CPPUNIT_ASSERT(text.ok());
    CPPUNIT_ASSERT(text->starts_with("-----BEGIN CERTIFICATE-----"));
    auto r = ctl::check_cert_and_key(cert, key);
    CPPUNIT_ASSERT_MESSAGE(r.ok() ? "" : r.error().str(), r.ok());
  }

  void mismatch_and_garbage_are_reported() {
    testing::TempDir dir;
    CPPUNIT_ASSERT(ctl::write_selfsigned(dir.file("c1"), dir.file("k1"), "a.test").ok());
    CPPUNIT_ASSERT(ctl::write_selfsigned(dir.file("c2"), dir.file("k2"), "b.test").ok());
    auto r = ctl::check_cert_and_key(dir.file("c1"), dir.file("k2"));
    CPPUNIT_ASSERT(!r.ok());
    CPPUNIT_ASSERT(r.error().str().find("does not match") != std::string::npos);

    CPPUNIT_ASSERT(file::write_file_atomic(dir.file("junk"), "not pem\n", 0644).ok());
    struct Row {
      std::string cert, key, expect;
    } rows[] = {
        {dir.file("junk"), dir.file("k1"), "not a PEM certificate"},
        {dir.file("c1"), dir.file("junk"), "not a PEM private key"},
        {dir.file("missing"), dir.file("k1"), "missing"},
        {dir.file("k1"), dir.file("k1"), "not a PEM certificate"},
    };
    for (const Row& row : rows) {
      auto e = ctl::check_cert_and_key(row.cert, row.key);
      CPPUNIT_ASSERT(!e.ok());
      CPPUNIT_ASSERT_MESSAGE(e.error().str(), e.error().str().find(row.expect) != std::string::npos);
    }
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(TlsFilesTest);
