// lib/config/config_test.cc - main.conf: types, expansion, continuation, errors with
// file:line, defaults, and the man page listing every parameter.
#include "lib/config/config.h"

#include <cppunit/extensions/HelperMacros.h>

#include "lib/base/file.h"
#include "lib/config/value.h"
#include "lib/testing/temp_dir.h"

using namespace postilion;
using config::Config;
using config::ConfigError;

namespace {
// The error text of parsing text, or "" when it parses.
std::string error_of(const std::string& text) {
  try {
    Config::parse(text);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

class ConfigTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(ConfigTest);
  CPPUNIT_TEST(empty_file_gives_defaults);
  CPPUNIT_TEST(values_and_types);
  CPPUNIT_TEST(expansion);
  CPPUNIT_TEST(continuation_and_comments);
  CPPUNIT_TEST(errors_name_file_and_line);
  CPPUNIT_TEST(set_validates_and_keeps_old_on_error);
  CPPUNIT_TEST(typed_value_table);
  CPPUNIT_TEST(hostile_sizes);
  CPPUNIT_TEST(load_from_directory);
  CPPUNIT_TEST(every_default_validates);
  CPPUNIT_TEST(man_page_documents_every_parameter);
  CPPUNIT_TEST_SUITE_END();

 public:
  void empty_file_gives_defaults() {
    Config c = Config::parse("");
    CPPUNIT_ASSERT_EQUAL(uint64_t(10240000), c.bytes("message_size_limit"));
    CPPUNIT_ASSERT_EQUAL(int64_t(5 * 86400), c.seconds("maximal_queue_lifetime"));
    CPPUNIT_ASSERT(!c.boolean("smtpd_tls_wrappermode"));
    CPPUNIT_ASSERT(c.is_default("myhostname"));
    CPPUNIT_ASSERT(c.str("myhostname").find('.') != std::string::npos);
    std::string host = c.str("myhostname");
    CPPUNIT_ASSERT_EQUAL(host.substr(host.find('.') + 1), c.str("mydomain"));
    CPPUNIT_ASSERT(c.explicit_values().empty());
  }

  void values_and_types() {
    Config c = Config::parse(
        "myhostname = mx.example.org\n"
        "message_size_limit = 20m\n"
        "smtpd_timeout = 5m\n"
        "smtpd_recipient_limit = 42\n"
        "smtpd_tls_wrappermode = yes\n"
        "mydestination = a.example, b.example  c.example\n");
    CPPUNIT_ASSERT_EQUAL(std::string("mx.example.org"), c.str("myhostname"));
    CPPUNIT_ASSERT_EQUAL(std::string("example.org"), c.str("mydomain"));
    CPPUNIT_ASSERT_EQUAL(uint64_t(20 * 1024 * 1024), c.bytes("message_size_limit"));
    CPPUNIT_ASSERT_EQUAL(int64_t(300), c.seconds("smtpd_timeout"));
    CPPUNIT_ASSERT_EQUAL(int64_t(42), c.integer("smtpd_recipient_limit"));
    CPPUNIT_ASSERT(c.boolean("smtpd_tls_wrappermode"));
    auto l = c.list("mydestination");
    CPPUNIT_ASSERT_EQUAL(size_t(3), l.size());
    CPPUNIT_ASSERT_EQUAL(std::string("c.example"), l[2]);
    CPPUNIT_ASSERT_EQUAL(std::string("20m"), c.raw("message_size_limit"));
    CPPUNIT_ASSERT(!c.is_default("message_size_limit"));
    CPPUNIT_ASSERT_EQUAL(size_t(6), c.explicit_values().size());
  }

  void expansion() {
    Config c = Config::parse(
        "myhostname = mx.example.org\n"
        "mydomain = example.org\n"
        "myorigin = $mydomain\n"
        "smtpd_banner = ${myhostname} ESMTP $$5 $(mail_name)\n"
        "relayhost = ${relay_domains?[x]}${relay_domains:none}\n");
    CPPUNIT_ASSERT_EQUAL(std::string("example.org"), c.str("myorigin"));
    CPPUNIT_ASSERT_EQUAL(std::string("mx.example.org ESMTP $5 Postilion"), c.str("smtpd_banner"));
    CPPUNIT_ASSERT_EQUAL(std::string("none"), c.str("relayhost"));
    // The default of mydestination refers to $myhostname and $mydomain.
    CPPUNIT_ASSERT_EQUAL(std::string("mx.example.org, localhost.example.org, localhost"), c.str("mydestination"));
    // Per-delivery variables stay for the delivery agent.
    CPPUNIT_ASSERT_EQUAL(std::string("$home/.forward"), c.str("forward_path"));
    std::string loop = error_of("myorigin = $mydomain\nmydomain = $myorigin\n");
    CPPUNIT_ASSERT_MESSAGE(loop, loop.find("loop") != std::string::npos);
    CPPUNIT_ASSERT_MESSAGE(loop, loop.find("main.conf:") == 0);
    std::string unknown = error_of("myorigin = $mydomian\n");
    CPPUNIT_ASSERT_MESSAGE(unknown, unknown.find("main.conf:1: myorigin: unknown parameter \"$mydomian\"") == 0);
    CPPUNIT_ASSERT_MESSAGE(unknown, unknown.find("did you mean \"mydomain\"") != std::string::npos);
    CPPUNIT_ASSERT(error_of("myorigin = ${mydomain\n").find("missing '}'") != std::string::npos);
  }

  void continuation_and_comments() {
    Config c = Config::parse(
        "# a comment\n"
        "\n"
        "mydestination = a.example,\n"
        "    b.example\n"
        "  # indented comment\n"
        "\tc.example\r\n"
        "myhostname=mx.example\n");
    CPPUNIT_ASSERT_EQUAL(size_t(3), c.list("mydestination").size());
    CPPUNIT_ASSERT_EQUAL(std::string("mx.example"), c.str("myhostname"));
  }

  void errors_name_file_and_line() {
    struct Row { const char* text; const char* want; } rows[] = {
        {"myhostnme = x\n", "main.conf:1: unknown parameter \"myhostnme\" (did you mean \"myhostname\"?)"},
        {"\n\nmessage_size_limit = ten\n", "main.conf:3: message_size_limit: expected a size like 10240000 or 10m, got \"ten\""},
        {"smtpd_timeout = 5x\n", "main.conf:1: smtpd_timeout: expected a time like"},
        {"smtpd_tls_wrappermode = maybe\n", "main.conf:1: smtpd_tls_wrappermode: expected yes or no"},
        {"smtpd_recipient_limit = 1.5\n", "main.conf:1: smtpd_recipient_limit: expected an integer"},
        {"just words\n", "main.conf:1: expected \"name = value\""},
        {"  leading = x\n", "main.conf:1: continuation line without a parameter"},
        {"bad-name = x\n", "main.conf:1: bad parameter name"},
        {"= x\n", "main.conf:1: bad parameter name"},
        {"myhostname = a\0b\n", "main.conf:1: NUL byte"},
        {"message_size_limit = 99999999999999999999g\n", "main.conf:1: message_size_limit: expected a size"},
        {"message_size_limit = -5\n", "main.conf:1: message_size_limit: expected a size"},
    };
    for (auto& r : rows) {
      std::string text = r.text;
      if (text.find("a\0b", 0, 3) == std::string::npos && std::string(r.want).find("NUL") != std::string::npos)
        text = std::string("myhostname = a\0b\n", 17);
      std::string got;
      try {
        Config::parse(text);
      } catch (const ConfigError& e) {
        got = e.what();
      }
      CPPUNIT_ASSERT_MESSAGE("input: " + text + " got: " + got, got.find(r.want) == 0);
    }
  }

  void set_validates_and_keeps_old_on_error() {
    Config c = Config::parse("smtpd_timeout = 10s\n");
    c.set("smtpd_timeout", "20s");
    CPPUNIT_ASSERT_EQUAL(int64_t(20), c.seconds("smtpd_timeout"));
    CPPUNIT_ASSERT_THROW(c.set("smtpd_timeout", "soon"), ConfigError);
    CPPUNIT_ASSERT_EQUAL(int64_t(20), c.seconds("smtpd_timeout"));
    CPPUNIT_ASSERT_THROW(c.set("no_such_parameter", "1"), ConfigError);
    CPPUNIT_ASSERT_THROW(c.set("myorigin", "$nonexistent"), ConfigError);
    CPPUNIT_ASSERT(c.str("myorigin") == c.str("myhostname"));
  }

  void typed_value_table() {
    using namespace config;
    struct Row { const char* v; std::optional<int64_t> t; std::optional<uint64_t> s; } rows[] = {
        {"0", 0, 0}, {"30", 30, 30}, {"30s", 30, std::nullopt}, {"2m", 120, 2u << 20},
        {"1h", 3600, std::nullopt}, {"5d", 432000, std::nullopt}, {"1w", 604800, std::nullopt},
        {"4k", std::nullopt, 4096}, {"1G", std::nullopt, 1u << 30}, {"", std::nullopt, std::nullopt},
        {"s", std::nullopt, std::nullopt}, {"-1", std::nullopt, std::nullopt}, {"1.5h", std::nullopt, std::nullopt},
        {" 1", std::nullopt, std::nullopt}};
    for (auto& r : rows) {
      CPPUNIT_ASSERT_MESSAGE(r.v, parse_time_value(r.v) == r.t);
      CPPUNIT_ASSERT_MESSAGE(r.v, parse_size_value(r.v) == r.s);
    }
    CPPUNIT_ASSERT(parse_bool_value("YES") == true);
    CPPUNIT_ASSERT(!parse_bool_value("y"));
  }

  void hostile_sizes() {
    // A 1 MiB value and 100,000 lines parse without trouble (or fail cleanly).
    Config big = Config::parse("smtpd_banner = " + std::string(1 << 20, 'x') + "\n");
    CPPUNIT_ASSERT_EQUAL(size_t(1 << 20), big.str("smtpd_banner").size());
    std::string many;
    for (int i = 0; i < 100000; ++i) many += "# comment " + std::to_string(i) + "\nsmtpd_timeout = " + std::to_string(i + 1) + "\n";
    CPPUNIT_ASSERT_EQUAL(int64_t(100000), Config::parse(many).seconds("smtpd_timeout"));
    // Binary garbage: an error, never a crash.
    std::string garbage;
    for (int i = 0; i < 4096; ++i) garbage += static_cast<char>((i * 7919) & 0xff);
    CPPUNIT_ASSERT(!error_of(garbage).empty());
  }

  void load_from_directory() {
    testing::TempDir dir;
    CPPUNIT_ASSERT_THROW(Config::load(dir.path()), ConfigError);
    CPPUNIT_ASSERT(file::write_file_atomic(dir.file("main.conf"), "queue_directory = /tmp/q\n", 0644));
    Config c = Config::load(dir.path());
    CPPUNIT_ASSERT_EQUAL(std::string("/tmp/q"), c.str("queue_directory"));
    CPPUNIT_ASSERT_EQUAL(dir.path(), c.config_dir());
    CPPUNIT_ASSERT(file::write_file_atomic(dir.file("main.conf"), "queue_directory = /tmp/q\nmax_idle = x\n", 0644));
    try {
      Config::load(dir.path());
      CPPUNIT_FAIL("bad value accepted");
    } catch (const ConfigError& e) {
      CPPUNIT_ASSERT_EQUAL(std::string(dir.file("main.conf") + ":2: max_idle: expected a time like 300s, 5m, 1h or 5d, got \"x\""),
                           std::string(e.what()));
    }
  }

  void every_default_validates() {
    Config c = Config::parse("");
    for (const auto& p : config::all_params()) {
      CPPUNIT_ASSERT_MESSAGE(p.name, config::find_param(p.name) == &p);
      CPPUNIT_ASSERT_MESSAGE(p.name, std::string(p.doc).size() > 5);
      CPPUNIT_ASSERT_MESSAGE(p.name, config::check_value(p.type, c.str(p.name)).empty());
    }
    CPPUNIT_ASSERT(config::find_param("no_such_thing") == nullptr);
  }

  void man_page_documents_every_parameter() {
    auto page = file::read_file(std::string(TOP_SRCDIR) + "/man/postilion.conf.5");
    CPPUNIT_ASSERT_MESSAGE("man/postilion.conf.5 missing", page.ok());
    for (const auto& p : config::all_params()) {
      std::string entry = std::string(".B ") + p.name;
      std::string name = p.name;
      // Roff escapes underscores nowhere, so the name appears as it is.
      CPPUNIT_ASSERT_MESSAGE(std::string("not documented in postilion.conf(5): ") + p.name,
                             page->find("\n" + entry + "\n") != std::string::npos);
    }
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ConfigTest);
