// sendmail/options_test.cc - the sendmail command line, row by row.
#include "sendmail/options.h"

#include <cppunit/extensions/HelperMacros.h>

using namespace postilion;
using sendmail::Mode;

class OptionsTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(OptionsTest);
  CPPUNIT_TEST(modes);
  CPPUNIT_TEST(flags);
  CPPUNIT_TEST(usage_errors);
  CPPUNIT_TEST_SUITE_END();

  static sendmail::ParseResult p(std::vector<std::string> v) { return sendmail::parse_options(v); }

 public:
  void modes() {
    struct Row { std::vector<std::string> argv; Mode mode; } rows[] = {
        {{"sendmail", "a@b"}, Mode::Deliver}, {{"/usr/sbin/mailq"}, Mode::ListQueue},
        {{"newaliases"}, Mode::NewAliases},   {{"sendmail", "-bp"}, Mode::ListQueue},
        {{"sendmail", "-bi"}, Mode::NewAliases}, {{"sendmail", "-bs"}, Mode::Smtp},
        {{"sendmail", "-q"}, Mode::Flush},    {{"sendmail", "-q30m"}, Mode::Flush},
        {{"sendmail", "-t"}, Mode::Deliver},
    };
    for (auto& r : rows) {
      auto got = p(r.argv);
      CPPUNIT_ASSERT_MESSAGE(r.argv.back() + " " + got.error, got.options.has_value());
      CPPUNIT_ASSERT_MESSAGE(r.argv.back(), r.mode == got.options->mode);
    }
  }

  void flags() {
    auto r = p({"sendmail", "-oi", "-f", "<a@b>", "-FJoe User", "-N", "success,delay", "-R", "hdrs",
                "-V", "env1", "-B", "8BITMIME", "-v", "-oem", "-o", "Xfoo", "--", "-x@y", "c@d, e@f"});
    CPPUNIT_ASSERT_MESSAGE(r.error, r.options.has_value());
    auto& o = *r.options;
    CPPUNIT_ASSERT(o.ignore_dots && o.verbose && !o.extract_recipients);
    CPPUNIT_ASSERT_EQUAL(std::string("a@b"), *o.sender);
    CPPUNIT_ASSERT_EQUAL(std::string("Joe User"), o.full_name);
    CPPUNIT_ASSERT_EQUAL(std::string("success,delay"), o.notify);
    CPPUNIT_ASSERT_EQUAL(std::string("hdrs"), o.ret);
    CPPUNIT_ASSERT_EQUAL(std::string("env1"), o.envid);
    CPPUNIT_ASSERT_EQUAL(size_t(2), o.warnings.size());
    std::vector<std::string> want = {"-x@y", "c@d", "e@f"};
    CPPUNIT_ASSERT(want == o.recipients);
    auto t = p({"sendmail", "-t", "-i", "-r", "<>"});
    CPPUNIT_ASSERT(t.options->extract_recipients && t.options->ignore_dots);
    CPPUNIT_ASSERT_EQUAL(std::string(""), *t.options->sender);
    auto j = p({"sendmail", "-fjoined@x", "r@x"});
    CPPUNIT_ASSERT_EQUAL(std::string("joined@x"), *j.options->sender);
  }

  void usage_errors() {
    std::vector<std::vector<std::string>> rows = {
        {"sendmail"},                       // no recipients, no -t
        {"sendmail", "-f"},                 // missing value
        {"sendmail", "-bd"},                // daemon mode is master's job
        {"sendmail", "-N", "never,success", "a@b"},
        {"sendmail", "-R", "some", "a@b"},
        {"sendmail", "-B", "BINARY", "a@b"},
        {"sendmail", "-Z", "a@b"},
        {"sendmail", "-V", std::string(200, 'x'), "a@b"},
    };
    for (auto& r : rows) {
      auto got = p(r);
      CPPUNIT_ASSERT_MESSAGE(r.back(), !got.options.has_value());
      CPPUNIT_ASSERT(!got.error.empty());
    }
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(OptionsTest);
