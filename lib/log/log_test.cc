// lib/log/log_test.cc - log lines reach the file whole and in Postfix's shape.
#include "lib/log/log.h"

#include <cppunit/extensions/HelperMacros.h>
#include <unistd.h>

#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/testing/temp_dir.h"

using namespace postilion;

class LogTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(LogTest);
  CPPUNIT_TEST(file_lines_have_postfix_shape);
  CPPUNIT_TEST(severity_prefixes);
  CPPUNIT_TEST(missing_directory_keeps_sink);
  CPPUNIT_TEST_SUITE_END();

 public:
  void file_lines_have_postfix_shape() {
    testing::TempDir dir;
    log::init("smtpd");
    CPPUNIT_ASSERT(log::use_file(dir.file("maillog")));
    log::info("%s: client=%s", "4F3A2B1C9D", "host[192.0.2.7]");
    auto text = file::read_file(dir.file("maillog"));
    CPPUNIT_ASSERT(text.ok());
    std::string want = str::format("postilion/smtpd[%d]: 4F3A2B1C9D: client=host[192.0.2.7]\n", getpid());
    CPPUNIT_ASSERT(text->size() > want.size());
    CPPUNIT_ASSERT_EQUAL(want, text->substr(text->size() - want.size()));
    log::use_stderr();
  }

  void severity_prefixes() {
    testing::TempDir dir;
    log::init("qmgr");
    CPPUNIT_ASSERT(log::use_file(dir.file("maillog")));
    log::warn("disk %d%% full", 95);
    log::error("cannot open %s", "x");
    auto text = file::read_file(dir.file("maillog"));
    CPPUNIT_ASSERT(text->find("postilion/qmgr[") != std::string::npos);
    CPPUNIT_ASSERT(text->find("]: warning: disk 95% full\n") != std::string::npos);
    CPPUNIT_ASSERT(text->find("]: error: cannot open x\n") != std::string::npos);
    log::use_stderr();
  }

  void missing_directory_keeps_sink() {
    log::use_stderr();
    CPPUNIT_ASSERT(!log::use_file("/nonexistent-dir/x/maillog"));
    CPPUNIT_ASSERT(log::sink() == log::Sink::Stderr);
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(LogTest);
