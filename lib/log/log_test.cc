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
  CPPUNIT_TEST(long_and_repeated_lines);
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

  void long_and_repeated_lines() {
    testing::TempDir dir;
    log::init("local");
    CPPUNIT_ASSERT(log::use_file(dir.file("maillog")));
    std::string big(10000, 'x');
    log::info("%s", big.c_str());           // cut at 4096 bytes of message, still one line
    for (int i = 0; i < 3; ++i) log::info("line %d", i);  // same second: the cached stamp
    auto text = file::read_file(dir.file("maillog"));
    CPPUNIT_ASSERT(text.ok());
    auto lines = str::split_exact(*text, '\n');
    CPPUNIT_ASSERT_EQUAL(size_t(5), lines.size());  // 4 lines and the empty rest after the last
    CPPUNIT_ASSERT(lines[4].empty());
    std::string tag = str::format("postilion/local[%d]: ", getpid());
    size_t at = lines[0].find(tag);
    CPPUNIT_ASSERT(at != std::string::npos);
    CPPUNIT_ASSERT_EQUAL(size_t(4095), lines[0].size() - at - tag.size());
    for (int i = 0; i < 3; ++i) {
      const std::string& l = lines[1 + i];
      CPPUNIT_ASSERT(l.size() > 16 && l[3] == ' ' && l[6] == ' ' && l[9] == ':' && l[12] == ':' && l[15] == ' ');
      CPPUNIT_ASSERT_EQUAL(tag + str::format("line %d", i), l.substr(l.find(tag)));
    }
    log::use_stderr();
  }

  void missing_directory_keeps_sink() {
    log::use_stderr();
    CPPUNIT_ASSERT(!log::use_file("/nonexistent-dir/x/maillog"));
    CPPUNIT_ASSERT(log::sink() == log::Sink::Stderr);
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(LogTest);
