// ctl/conf_edit_test.cc - table-driven tests of rewriting one main.conf parameter.
#include <cppunit/extensions/HelperMacros.h>

#include "ctl/ctl.h"

using namespace postilion;

class ConfEditTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(ConfEditTest);
  CPPUNIT_TEST(rewrites_in_place_or_appends);
  CPPUNIT_TEST_SUITE_END();

 public:
  void rewrites_in_place_or_appends() {
    struct Row {
      const char* in;
      const char* name;
      const char* value;
      const char* out;
    } rows[] = {
        {"", "myhostname", "a.test", "myhostname = a.test\n"},
        {"# c\n", "myhostname", "a.test", "# c\nmyhostname = a.test\n"},
        {"# c", "myhostname", "a.test", "# c\nmyhostname = a.test\n"},
        // in place, comments and other lines kept
        {"# top\nmyhostname = old\n# after\nmydomain = d\n", "myhostname", "new",
         "# top\nmyhostname = new\n# after\nmydomain = d\n"},
        {"myhostname=old\n", "myhostname", "new", "myhostname = new\n"},
        {"myhostname   =   old\n", "myhostname", "new", "myhostname = new\n"},
        // continuation lines belong to the old value and go with it
        {"mydestination = a,\n  b,\n\tc\nx = 1\n", "mydestination", "z", "mydestination = z\nx = 1\n"},
        // a longer name with the same start is not the parameter
        {"myhostname_extra = 1\n", "myhostname", "h", "myhostname_extra = 1\nmyhostname = h\n"},
        // commented-out and indented lines are not settings
        {"#myhostname = old\n", "myhostname", "h", "#myhostname = old\nmyhostname = h\n"},
        // only the first setting is replaced (a later one would still win when loading,
        // so the file stays as the loader reads it)
        {"a = 1\nmyhostname = x\nb = 2", "myhostname", "y", "a = 1\nmyhostname = y\nb = 2"},
        // values with '=' and '$'
        {"relayhost = [h]:25\n", "relayhost", "$mydomain=x", "relayhost = $mydomain=x\n"},
    };
    for (const Row& r : rows)
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, std::string(r.out),
                                   ctl::set_main_conf_value(r.in, r.name, r.value));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ConfEditTest);
