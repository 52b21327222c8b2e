// local/expand_test.cc - alias/.forward target parsing and file safety checks.
#include "local/expand.h"

#include <cppunit/extensions/HelperMacros.h>

using namespace postilion;
using local::Target;

class ExpandTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(ExpandTest);
  CPPUNIT_TEST(targets);
  CPPUNIT_TEST(hostile_targets);
  CPPUNIT_TEST(owned_file_checks);
  CPPUNIT_TEST(delivered_to_loop);
  CPPUNIT_TEST_SUITE_END();

 public:
  void targets() {
    std::vector<std::string> errors;
    auto t = local::parse_targets(
        "bob, carol@remote.test,\t\"|/usr/bin/procmail -a x\"\n"
        "# comment line\n"
        "/var/log/archive, :include:/etc/postilion/list\n"
        "|/bin/cat > /tmp/x, with comma\n"
        "\\alice\n",
        &errors);
    std::vector<Target> want = {
        {Target::Kind::Address, "bob"},
        {Target::Kind::Address, "carol@remote.test"},
        {Target::Kind::Command, "/usr/bin/procmail -a x"},
        {Target::Kind::File, "/var/log/archive"},
        {Target::Kind::Include, "/etc/postilion/list"},
        {Target::Kind::Command, "/bin/cat > /tmp/x, with comma"},
        {Target::Kind::Address, "\\alice"},
    };
    CPPUNIT_ASSERT_EQUAL(want.size(), t.size());
    for (size_t i = 0; i < want.size(); ++i) CPPUNIT_ASSERT_MESSAGE(t[i].value, want[i] == t[i]);
    CPPUNIT_ASSERT(errors.empty());
  }

  void hostile_targets() {
    struct Row { const char* in; size_t targets; size_t errors; } rows[] = {
        {"|", 0, 1}, {"\"|\"", 0, 1}, {":include:relative/path", 0, 1}, {":include:", 0, 1},
        {"a\x01" "b", 0, 1}, {"@nowhere", 0, 1}, {",,,", 0, 0}, {"", 0, 0}, {"#only comment", 0, 0},
        {"ok, @bad, also-ok", 2, 1}, {"\"unterminated, x", 0, 1},
    };
    for (auto& r : rows) {
      std::vector<std::string> errors;
      auto t = local::parse_targets(r.in, &errors);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.targets, t.size());
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.errors, errors.size());
    }
  }

  void owned_file_checks() {
    struct stat st {};
    st.st_mode = S_IFREG | 0644;
    st.st_uid = 1000;
    CPPUNIT_ASSERT(!local::check_owned_file(st, 1000));
    st.st_uid = 0;
    CPPUNIT_ASSERT(!local::check_owned_file(st, 1000));
    st.st_uid = 1001;
    CPPUNIT_ASSERT(local::check_owned_file(st, 1000));
    st.st_uid = 1000;
    st.st_mode = S_IFREG | 0664;
    CPPUNIT_ASSERT(local::check_owned_file(st, 1000));
    st.st_mode = S_IFREG | 0602;
    CPPUNIT_ASSERT(local::check_owned_file(st, 1000));
    st.st_mode = S_IFDIR | 0700;
    CPPUNIT_ASSERT(local::check_owned_file(st, 1000));
    st.st_mode = S_IFLNK | 0600;
    CPPUNIT_ASSERT(local::check_owned_file(st, 1000));
  }

  void delivered_to_loop() {
    std::string m = "Delivered-To: bob@example.org\nSubject: x\n\nDelivered-To: carol@example.org\n";
    CPPUNIT_ASSERT(local::has_delivered_to(m, "BOB@example.org"));
    CPPUNIT_ASSERT(!local::has_delivered_to(m, "carol@example.org"));  // body does not count
    CPPUNIT_ASSERT(!local::has_delivered_to("", "bob@example.org"));
    CPPUNIT_ASSERT_EQUAL(std::string("bob"), local::user_name("Bob+Lists", "+"));
    CPPUNIT_ASSERT_EQUAL(std::string("bob+lists"), local::user_name("Bob+Lists", ""));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ExpandTest);
