// lib/config/master_conf_test.cc - the service table: every column, every error.
#include <cppunit/extensions/HelperMacros.h>

#include "lib/config/config.h"

#include <chrono>

#include "lib/base/file.h"
#include "lib/testing/temp_dir.h"

using namespace postilion;
using config::Config;
using config::ConfigError;
using config::ServiceEntry;

namespace {
std::string error_of(const std::string& text) {
  try {
    config::parse_master_conf(text, Config::parse(""));
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

class MasterConfTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(MasterConfTest);
  CPPUNIT_TEST(typical_table);
  CPPUNIT_TEST(pass_service);
  CPPUNIT_TEST(inet_addresses);
  CPPUNIT_TEST(errors);
  CPPUNIT_TEST(every_column_table);
  CPPUNIT_TEST(more_errors);
  CPPUNIT_TEST(oversized_and_hostile);
  CPPUNIT_TEST(load_from_directory);
  CPPUNIT_TEST(man_page_example_parses);
  CPPUNIT_TEST_SUITE_END();

 public:
  // Postfix's postscreen set-up: postscreen on the port, smtpd as a pass service that
  // shares the unix name space (a unix service of the same name is a duplicate).
  void pass_service() {
    auto t = config::parse_master_conf(
        "smtp      inet  n  -  n  -  1  postscreen\n"
        "smtpd     pass  -  -  n  -  -  smtpd\n"
        "other     pass  n  -  n  -  -  smtpd\n",
        Config::parse(""));
    CPPUNIT_ASSERT_EQUAL(size_t(3), t.size());
    CPPUNIT_ASSERT(t[1].type == ServiceEntry::Type::Pass);
    CPPUNIT_ASSERT(t[1].private_);
    CPPUNIT_ASSERT(!t[2].private_);
    CPPUNIT_ASSERT_EQUAL(std::string("smtpd"), t[1].name);
    std::string err = error_of("smtpd pass - - n - - smtpd\nsmtpd unix - - n - - smtpd\n");
    CPPUNIT_ASSERT_MESSAGE(err, err.find("master.conf:2: duplicate service \"smtpd\"") == 0);
    err = error_of("smtp:d pass - - n - - smtpd\n");
    CPPUNIT_ASSERT_MESSAGE(err, err.find("master.conf:1: bad unix service name") == 0);
  }

  void typical_table() {
    auto t = config::parse_master_conf(
        "# service type private unpriv chroot wakeup maxproc command\n"
        "smtp      inet  n  -  n  -  -  smtpd\n"
        "127.0.0.1:2587 inet n - n - 10 smtpd\n"
        "   -o smtpd_sasl_auth_enable=yes -o smtpd_sasl_auth_required=yes\n"
        "qmgr      unix  n  -  n  300?  1  qmgr\n"
        "local     unix  -  n  n  -  -  local\n",
        Config::parse("default_process_limit = 7\n"));
    CPPUNIT_ASSERT_EQUAL(size_t(4), t.size());
    CPPUNIT_ASSERT(t[0].type == ServiceEntry::Type::Inet);
    CPPUNIT_ASSERT_EQUAL(uint16_t(25), t[0].port);
    CPPUNIT_ASSERT_EQUAL(std::string(""), t[0].host);
    CPPUNIT_ASSERT(!t[0].private_);
    CPPUNIT_ASSERT(t[0].unprivileged);
    CPPUNIT_ASSERT_EQUAL(7, t[0].maxproc);
    CPPUNIT_ASSERT_EQUAL(std::string("127.0.0.1"), t[1].host);
    CPPUNIT_ASSERT_EQUAL(uint16_t(2587), t[1].port);
    CPPUNIT_ASSERT_EQUAL(10, t[1].maxproc);
    CPPUNIT_ASSERT_EQUAL(size_t(4), t[1].args.size());
    CPPUNIT_ASSERT_EQUAL(std::string("smtpd_sasl_auth_enable=yes"), t[1].args[1]);
    CPPUNIT_ASSERT_EQUAL(3, t[1].line);
    CPPUNIT_ASSERT(t[2].type == ServiceEntry::Type::Unix);
    CPPUNIT_ASSERT_EQUAL(300, t[2].wakeup);
    CPPUNIT_ASSERT_EQUAL(1, t[2].maxproc);
    CPPUNIT_ASSERT(t[3].private_);
    CPPUNIT_ASSERT(!t[3].unprivileged);
    CPPUNIT_ASSERT_EQUAL(std::string("local"), t[3].command);
  }

  void inet_addresses() {
    auto t = config::parse_master_conf(
        "[::1]:2525 inet n - n - - smtpd\n"
        "*:submission inet n - n - - smtpd\n"
        "127.0.1.1:smtps inet n - n - - smtpd\n",
        Config::parse(""));
    CPPUNIT_ASSERT_EQUAL(std::string("::1"), t[0].host);
    CPPUNIT_ASSERT_EQUAL(uint16_t(2525), t[0].port);
    CPPUNIT_ASSERT_EQUAL(std::string(""), t[1].host);
    CPPUNIT_ASSERT_EQUAL(uint16_t(587), t[1].port);
    CPPUNIT_ASSERT_EQUAL(uint16_t(465), t[2].port);
  }

  void errors() {
    struct Row { const char* text; const char* want; } rows[] = {
        {"smtp inet n - n - smtpd\n", "master.conf:1: expected \"service type private"},
        {"smtp tcp n - n - - smtpd\n", "master.conf:1: type: expected inet, unix or pass"},
        {"smtp inet x - n - - smtpd\n", "master.conf:1: private: expected y, n"},
        {"\nsmtp inet n - n - x smtpd\n", "master.conf:2: maxproc: expected a number or \"-\", got \"x\""},
        {"smtp inet n - n -5 - smtpd\n", "master.conf:1: wakeup: expected a number"},
        {"99999 inet n - n - - smtpd\n", "master.conf:1: port out of range"},
        {"nosuchservice inet n - n - - smtpd\n", "master.conf:1: unknown service port"},
        {"::1:25 inet n - n - - smtpd\n", "master.conf:1: write IPv6 addresses in brackets"},
        {"[::1 inet n - n - - smtpd\n", "master.conf:1: expected [address]:port"},
        {"qmgr unix n - n - 1 qmgr\nqmgr unix n - n - 1 qmgr\n", "master.conf:2: duplicate service \"qmgr\""},
        {"q/x unix n - n - 1 qmgr\n", "master.conf:1: bad unix service name"},
        {"qmgr unix n - n - 1 ../bin/sh\n", "master.conf:1: command: a program name"},
        {"smtp inet n - n - - smtpd -o\n", "master.conf:1: -o without name=value"},
        {"smtp inet n - n - - smtpd -o smtpd_timeout\n", "master.conf:1: -o smtpd_timeout: expected name=value"},
        {"smtp inet n - n - - smtpd -o smtpd_timeout=soon\n", "master.conf:1: -o smtpd_timeout: expected a time"},
        {"smtp inet n - n - - smtpd -o smtpd_tmeout=1\n", "master.conf:1: -o unknown parameter \"smtpd_tmeout\""},
        {"  -o x=y\n", "master.conf:1: continuation line without a service"},
    };
    for (auto& r : rows) {
      std::string got = error_of(r.text);
      CPPUNIT_ASSERT_MESSAGE(std::string("input: ") + r.text + " got: " + got, got.find(r.want) == 0);
    }
    CPPUNIT_ASSERT_EQUAL(std::string(""), error_of(""));
    CPPUNIT_ASSERT_EQUAL(std::string(""), error_of("# only a comment\n"));
  }
  // One line per row; each column written every way it may be.
  void every_column_table() {
    struct Row {
      const char* line;
      ServiceEntry::Type type;
      const char* host;
      int port;
      bool priv, unpriv, chroot;
      int wakeup, maxproc;
      const char* command;
      size_t nargs;
    } rows[] = {
        {"smtp inet n - n - - smtpd", ServiceEntry::Type::Inet, "", 25, false, true, false, 0, 9, "smtpd", 0},
        {"2525 inet - - - - - smtpd", ServiceEntry::Type::Inet, "", 2525, false, true, false, 0, 9, "smtpd", 0},
        {"127.0.0.2:submission inet n y y 0 3 smtpd", ServiceEntry::Type::Inet, "127.0.0.2", 587, false, true, true, 0, 3, "smtpd", 0},
        {"[::1]:smtps inet n n n - 0 smtpd -v", ServiceEntry::Type::Inet, "::1", 465, false, false, false, 0, 0, "smtpd", 1},
        {"[2001:db8::1]:110 inet n - n - 1 pop3d", ServiceEntry::Type::Inet, "2001:db8::1", 110, false, true, false, 0, 1, "pop3d", 0},
        {"localhost:993 inet n - n - - imapd", ServiceEntry::Type::Inet, "localhost", 993, false, true, false, 0, 9, "imapd", 0},
        {"*:25 inet n - n - - smtpd", ServiceEntry::Type::Inet, "", 25, false, true, false, 0, 9, "smtpd", 0},
        {"65535 inet n - n - - smtpd", ServiceEntry::Type::Inet, "", 65535, false, true, false, 0, 9, "smtpd", 0},
        {"qmgr unix n - n 300 1 qmgr", ServiceEntry::Type::Unix, "", 0, false, true, false, 300, 1, "qmgr", 0},
        {"qmgr unix - - - 1000? 1 qmgr", ServiceEntry::Type::Unix, "", 0, true, true, false, 1000, 1, "qmgr", 0},
        {"local unix y n n - - local", ServiceEntry::Type::Unix, "", 0, true, false, false, 0, 9, "local", 0},
        {"my-svc_2.x unix - - y 0 0 smtp -o smtp_helo_name=$mydomain -v",
         ServiceEntry::Type::Unix, "", 0, true, true, true, 0, 0, "smtp", 3},
    };
    Config cfg = Config::parse("default_process_limit = 9\n");
    for (const auto& r : rows) {
      std::string msg = std::string("row: ") + r.line;
      std::vector<ServiceEntry> t;
      try {
        t = config::parse_master_conf(std::string("# c\n\n") + r.line + "\n", cfg);
      } catch (const ConfigError& e) {
        CPPUNIT_FAIL(msg + " error: " + e.what());
      }
      CPPUNIT_ASSERT_EQUAL_MESSAGE(msg, size_t(1), t.size());
      const ServiceEntry& e = t[0];
      CPPUNIT_ASSERT_MESSAGE(msg, e.type == r.type);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(msg, std::string(r.host), e.host);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(msg, r.port, int(e.port));
      CPPUNIT_ASSERT_EQUAL_MESSAGE(msg, r.priv, e.private_);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(msg, r.unpriv, e.unprivileged);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(msg, r.chroot, e.chroot);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(msg, r.wakeup, e.wakeup);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(msg, r.maxproc, e.maxproc);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(msg, std::string(r.command), e.command);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(msg, r.nargs, e.args.size());
      CPPUNIT_ASSERT_EQUAL_MESSAGE(msg, 3, e.line);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(msg, std::string("master.conf"), e.file);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(msg, std::string(r.line).substr(0, std::string(r.line).find(' ')), e.name);
    }
    // Arguments keep their order; -o values stay unexpanded for the service to apply.
    auto t = config::parse_master_conf("s unix - - - - - smtp -v -o smtp_helo_name=$mydomain -x\n", cfg);
    CPPUNIT_ASSERT(t[0].args == std::vector<std::string>({"-v", "-o", "smtp_helo_name=$mydomain", "-x"}));
  }

  void more_errors() {
    struct Row { const char* text; const char* want; } rows[] = {
        {"smtp inet n - n - - \n", "master.conf:1: expected \"service type private unpriv chroot wakeup maxproc command [args]\", got 7 fields"},
        {"smtp inet n - n - -\n  smtpd\n", ""},  // a continuation may hold any column
        {"smtp inet n - n - - smtpd\n25 inet n - n - - smtpd\n", "master.conf:2: duplicate service \"25\" (inet)"},
        {"*:25 inet n - n - - smtpd\nsmtp inet n - n - - smtpd\n", "master.conf:2: duplicate service \"smtp\" (inet)"},
        {"127.0.0.1:25 inet n - n - - smtpd\n127.0.0.2:25 inet n - n - - smtpd\n", ""},
        {"smtp inet n - n - - smtpd\nsmtp unix - - n - - smtp\n", ""},  // inet and unix do not clash
        {"smtp inet n - N - - smtpd\n", "master.conf:1: chroot: expected y, n or \"-\", got \"N\""},
        {"smtp inet n yes n - - smtpd\n", "master.conf:1: unpriv: expected y, n or \"-\", got \"yes\""},
        {"smtp inet n - n ? - smtpd\n", "master.conf:1: wakeup: expected a number or \"-\", got \"\""},
        {"smtp inet n - n 1?? - smtpd\n", "master.conf:1: wakeup: expected a number"},
        {"smtp inet n - n 10000000 - smtpd\n", "master.conf:1: wakeup: expected a number"},
        {"smtp inet n - n - 5? smtpd\n", "master.conf:1: maxproc: expected a number or \"-\", got \"5?\""},
        {"smtp inet n - n - -1 smtpd\n", "master.conf:1: maxproc: expected a number"},
        {"0 inet n - n - - smtpd\n", "master.conf:1: port out of range: 0"},
        {"host: inet n - n - - smtpd\n", "master.conf:1: unknown service port \"\""},
        {"[::1]25 inet n - n - - smtpd\n", "master.conf:1: expected [address]:port"},
        {"[::1]: inet n - n - - smtpd\n", "master.conf:1: unknown service port \"\""},
        {"[not-v6]:25 inet n - n - - smtpd\n", "master.conf:1: bad IPv6 address \"not-v6\""},
        {"[]:25 inet n - n - - smtpd\n", "master.conf:1: bad IPv6 address \"\""},
        {"b@d:25 inet n - n - - smtpd\n", "master.conf:1: bad host name \"b@d\""},
        {"smtp fifo n - n - - smtpd\n", "master.conf:1: type: expected inet, unix or pass, got \"fifo\""},
        {"qmgr unix n - n - 1 .\n", "master.conf:1: command: a program name"},
        {"qmgr unix n - n - 1 ..\n", "master.conf:1: command: a program name"},
        {"qmgr unix n - n - 1 /usr/bin/qmgr\n", "master.conf:1: command: a program name"},
        {"smtp inet n - n - - smtpd -o =1\n", "master.conf:1: -o unknown parameter \"\""},
        {"smtp inet n - n - - smtpd -o smtpd_banner=$nope\n", "master.conf:1: -o smtpd_banner: unknown parameter \"$nope\" in a value"},
        {"smtp inet n - n - - smtpd -o message_size_limit=ten\n",
         "master.conf:1: -o message_size_limit: expected a size like 10240000 or 10m, got \"ten\""},
        {"\n# x\n\nsmtp inet n - n - - smtpd\n  -o smtpd_timeout=1m\n  -o smtpd_timeout=x\n",
         "master.conf:4: -o smtpd_timeout: expected a time"},
        {"smtp inet n - n - - smtpd\nx\n", "master.conf:2: expected \"service type"},
        // The overrides of one line apply together, in order.
        {"smtp inet n - n - - smtpd -o relayhost=$smtpd_banner -o smtpd_banner=[$relayhost]\n",
         "master.conf:1: -o relayhost: expansion loop: $relayhost -> $smtpd_banner -> $relayhost"},
        {"smtp inet n - n - - smtpd -o relayhost=$smtpd_banner\n587 inet n - n - - smtpd -o smtpd_banner=[$relayhost]\n", ""},
    };
    for (auto& r : rows) {
      std::string text = r.text;
      std::string got = error_of(text);
      std::string msg = "input: " + text + " got: " + got;
      if (!*r.want)
        CPPUNIT_ASSERT_EQUAL_MESSAGE(msg, std::string(""), got);
      else
        CPPUNIT_ASSERT_MESSAGE(msg, got.find(r.want) == 0);
    }
  }

  void oversized_and_hostile() {
    Config cfg = Config::parse("");
    // A 1 MiB line: one huge argument, a huge service name, a huge -o value.
    auto t = config::parse_master_conf("qmgr unix n - n - 1 qmgr " + std::string(1 << 20, 'a') + "\n", cfg);
    CPPUNIT_ASSERT_EQUAL(size_t(1 << 20), t.at(0).args.at(0).size());
    std::string err = error_of(std::string(1 << 20, 'q') + " inet n - n - - smtpd\n");
    CPPUNIT_ASSERT_MESSAGE(err.substr(0, 200), err.find("master.conf:1: unknown service port \"qqq") == 0);
    CPPUNIT_ASSERT(err.size() < 400);
    err = error_of("smtp inet n - n - - smtpd -o smtpd_timeout=" + std::string(1 << 20, '9') + "\n");
    CPPUNIT_ASSERT_MESSAGE(err.substr(0, 200), err.find("master.conf:1: -o smtpd_timeout: expected a time") == 0);
    CPPUNIT_ASSERT(err.size() < 400);
    err = error_of("smtp inet n - n - - smtpd -o " + std::string(1 << 20, '-') + "\n");
    CPPUNIT_ASSERT(err.find("master.conf:1: -o ---") == 0 && err.size() < 400);
    // 1 MiB of fields.
    std::string fields;
    for (int i = 0; i < (1 << 19); ++i) fields += " x";
    t = config::parse_master_conf("qmgr unix n - n - 1 qmgr" + fields + "\n", cfg);
    CPPUNIT_ASSERT_EQUAL(size_t(1 << 19), t.at(0).args.size());
    // 100,000 services, and a duplicate found at the last line.
    std::string many;
    for (int i = 0; i < 100000; ++i) many += "s" + std::to_string(i) + " unix - - n - 1 qmgr\n";
    auto start = std::chrono::steady_clock::now();
    t = config::parse_master_conf(many, cfg);
    CPPUNIT_ASSERT_EQUAL(size_t(100000), t.size());
    CPPUNIT_ASSERT_EQUAL(100000, t.back().line);
    err = error_of(many + "s0 unix - - n - 1 qmgr\n");
    CPPUNIT_ASSERT_MESSAGE(err, err.find("master.conf:100001: duplicate service \"s0\" (unix)") == 0);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    CPPUNIT_ASSERT_MESSAGE(std::to_string(secs), secs < 20);
    // 100,000 continuation lines of one service.
    std::string cont = "qmgr unix n - n - 1 qmgr\n";
    for (int i = 0; i < 100000; ++i) cont += " -v\n";
    CPPUNIT_ASSERT_EQUAL(size_t(100000), config::parse_master_conf(cont, cfg).at(0).args.size());
    // A NUL byte in a line; binary garbage: an error, never a crash.
    err = error_of(std::string("q\0 unix n - n - 1 qmgr\n", 23));
    CPPUNIT_ASSERT_MESSAGE(err, err.find("master.conf:1: NUL byte in line") == 0);
    std::string garbage;
    for (int i = 0; i < 4096; ++i) garbage += static_cast<char>((i * 7919 + 13) & 0xff);
    CPPUNIT_ASSERT(!error_of(garbage).empty());
    // CRLF line ends are accepted.
    t = config::parse_master_conf("qmgr unix n - n 60 1 qmgr\r\nlocal unix - n n - - local\r\n", cfg);
    CPPUNIT_ASSERT_EQUAL(size_t(2), t.size());
    CPPUNIT_ASSERT_EQUAL(std::string("qmgr"), t[0].command);
  }

  void load_from_directory() {
    testing::TempDir dir;
    CPPUNIT_ASSERT(file::write_file_atomic(dir.file("main.conf"), "default_process_limit = 4\n", 0644));
    Config cfg = Config::load(dir.path());
    CPPUNIT_ASSERT_THROW(config::load_master_conf(cfg), ConfigError);  // no master.conf
    CPPUNIT_ASSERT(file::write_file_atomic(dir.file("master.conf"), "qmgr unix n - n - - qmgr\n", 0644));
    auto t = config::load_master_conf(cfg);
    CPPUNIT_ASSERT_EQUAL(4, t.at(0).maxproc);
    CPPUNIT_ASSERT_EQUAL(dir.file("master.conf"), t[0].file);
    CPPUNIT_ASSERT(file::write_file_atomic(dir.file("master.conf"), "#\n\nqmgr unix n - n - x qmgr\n", 0644));
    try {
      config::load_master_conf(cfg);
      CPPUNIT_FAIL("bad maxproc accepted");
    } catch (const ConfigError& e) {
      CPPUNIT_ASSERT_EQUAL(dir.file("master.conf") + ":3: maxproc: expected a number or \"-\", got \"x\"", std::string(e.what()));
    }
  }
  // The example table in master.conf(5) is a valid master.conf.
  void man_page_example_parses() {
    auto page = file::read_file(std::string(TOP_SRCDIR) + "/man/master.conf.5");
    CPPUNIT_ASSERT_MESSAGE("man/master.conf.5 missing", page.ok());
    size_t at = page->find("\n.SH EXAMPLES\n");
    CPPUNIT_ASSERT(at != std::string::npos);
    size_t nf = page->find("\n.nf\n", at), fi = page->find("\n.fi\n", at);
    CPPUNIT_ASSERT(nf != std::string::npos && fi != std::string::npos && nf < fi);
    std::string table;
    for (size_t i = nf + 5; i < fi + 1; ++i) {
      if (page->compare(i, 2, "\\-") == 0) {
        table += '-';
        ++i;
      } else {
        table += (*page)[i];
      }
    }
    auto t = config::parse_master_conf(table, Config::parse(""));
    CPPUNIT_ASSERT(t.size() >= 8);
    CPPUNIT_ASSERT_EQUAL(uint16_t(25), t[0].port);
    CPPUNIT_ASSERT_EQUAL(uint16_t(587), t[1].port);
    CPPUNIT_ASSERT_EQUAL(uint16_t(465), t[2].port);
    CPPUNIT_ASSERT(t[2].args == std::vector<std::string>({"-o", "smtpd_tls_wrappermode=yes", "-o", "smtpd_sasl_auth_enable=yes"}));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(MasterConfTest);
