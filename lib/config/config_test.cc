// lib/config/config_test.cc - main.conf: types, expansion, continuation, errors with
// file:line, defaults, and the man page listing every parameter.
#include "lib/config/config.h"

#include <cppunit/extensions/HelperMacros.h>

#include <chrono>
#include <optional>

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
  CPPUNIT_TEST(every_type_table);
  CPPUNIT_TEST(expansion_table);
  CPPUNIT_TEST(hostile_expansion);
  CPPUNIT_TEST(computed_defaults);
  CPPUNIT_TEST(myorigin_from_file);
  CPPUNIT_TEST(installation_folders_follow_configure);
  CPPUNIT_TEST(explicit_values_for_config_n);
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

  // One row per value of each type: good ones give the typed result, bad ones an error
  // naming file, line, parameter, what is expected and what was written.
  void every_type_table() {
    struct Row {
      const char* param;
      const char* value;
      const char* want;  // the getter's result as text, or the start of the error after "main.conf:1: "
      bool ok;
    } rows[] = {
        {"smtpd_banner", "hello world", "hello world", true},
        {"smtpd_banner", "", "", true},
        {"smtpd_banner", "tab\there", "tab\there", true},
        {"smtpd_recipient_limit", "0", "0", true},
        {"smtpd_recipient_limit", "-3", "-3", true},
        {"smtpd_recipient_limit", "9223372036854775807", "9223372036854775807", true},
        {"smtpd_recipient_limit", "9223372036854775808", "smtpd_recipient_limit: expected an integer like 100, got \"9223372036854775808\"", false},
        {"smtpd_recipient_limit", "12abc", "smtpd_recipient_limit: expected an integer", false},
        {"smtpd_recipient_limit", "", "smtpd_recipient_limit: expected an integer like 100, got \"\"", false},
        {"smtpd_recipient_limit", "0x10", "smtpd_recipient_limit: expected an integer", false},
        {"smtpd_tls_wrappermode", "yes", "1", true},
        {"smtpd_tls_wrappermode", "No", "0", true},
        {"smtpd_tls_wrappermode", "true", "1", true},
        {"smtpd_tls_wrappermode", "false", "0", true},
        {"smtpd_tls_wrappermode", "1", "smtpd_tls_wrappermode: expected yes or no, got \"1\"", false},
        {"smtpd_tls_wrappermode", "", "smtpd_tls_wrappermode: expected yes or no", false},
        {"smtpd_timeout", "45", "45", true},
        {"smtpd_timeout", "45s", "45", true},
        {"smtpd_timeout", "3m", "180", true},
        {"smtpd_timeout", "2h", "7200", true},
        {"smtpd_timeout", "1d", "86400", true},
        {"smtpd_timeout", "2w", "1209600", true},
        {"smtpd_timeout", "2H", "7200", true},
        {"smtpd_timeout", "2y", "smtpd_timeout: expected a time like 300s, 5m, 1h or 5d, got \"2y\"", false},
        {"smtpd_timeout", "m", "smtpd_timeout: expected a time", false},
        {"smtpd_timeout", "-1s", "smtpd_timeout: expected a time", false},
        {"smtpd_timeout", "99999999999999999w", "smtpd_timeout: expected a time", false},
        {"message_size_limit", "0", "0", true},
        {"message_size_limit", "10240000", "10240000", true},
        {"message_size_limit", "10k", "10240", true},
        {"message_size_limit", "10m", "10485760", true},
        {"message_size_limit", "2g", "2147483648", true},
        {"message_size_limit", "ten", "message_size_limit: expected a size like 10240000 or 10m, got \"ten\"", false},
        {"message_size_limit", "10mb", "message_size_limit: expected a size", false},
        {"message_size_limit", "10t", "message_size_limit: expected a size", false},
        {"mydestination", "a, b c,,d", "a|b|c|d", true},
        {"mydestination", "", "", true},
        {"mydestination", " , ,", "", true},
    };
    for (const auto& r : rows) {
      std::string text = std::string(r.param) + " = " + r.value + "\n";
      std::string got, err;
      try {
        Config c = Config::parse(text);
        switch (config::find_param(r.param)->type) {
          case config::Type::String: got = c.str(r.param); break;
          case config::Type::Int: got = std::to_string(c.integer(r.param)); break;
          case config::Type::Bool: got = c.boolean(r.param) ? "1" : "0"; break;
          case config::Type::Time: got = std::to_string(c.seconds(r.param)); break;
          case config::Type::Size: got = std::to_string(c.bytes(r.param)); break;
          case config::Type::List:
          case config::Type::Restrictions:
            for (const auto& w : c.list(r.param)) got += (got.empty() ? "" : "|") + w;
            break;
        }
      } catch (const ConfigError& e) {
        err = e.what();
      }
      std::string msg = "row: " + text + " got: " + got + " error: " + err;
      if (r.ok) {
        CPPUNIT_ASSERT_MESSAGE(msg, err.empty());
        CPPUNIT_ASSERT_EQUAL_MESSAGE(msg, std::string(r.want), got);
      } else {
        CPPUNIT_ASSERT_MESSAGE(msg, err.find(std::string("main.conf:1: ") + r.want) == 0);
      }
    }
  }

  void expansion_table() {
    const std::string base = "myhostname = mx.example.org\nmail_name = Post\n";
    struct Row {
      const char* lines;  // appended to base (which is lines 1-2)
      const char* param;
      const char* want;   // value, or error text when it starts with "main.conf:"
    } rows[] = {
        {"smtpd_banner = $mail_name\n", "smtpd_banner", "Post"},
        {"smtpd_banner = ${mail_name}x\n", "smtpd_banner", "Postx"},
        {"smtpd_banner = $(mail_name)x\n", "smtpd_banner", "Postx"},
        {"smtpd_banner = $mail_namex\n", "", "main.conf:3: smtpd_banner: unknown parameter \"$mail_namex\" in a value (did you mean \"mail_name\"?)"},
        {"smtpd_banner = $$mail_name\n", "smtpd_banner", "$mail_name"},
        {"smtpd_banner = $$$mail_name\n", "smtpd_banner", "$Post"},
        {"smtpd_banner = 5$ and $ and $-\n", "smtpd_banner", "5$ and $ and $-"},
        // Nested: a value naming a parameter whose value names another.
        {"smtpd_banner = <$myorigin>\nmyorigin = $mydomain\n", "smtpd_banner", "<example.org>"},
        {"smtpd_banner = ${relayhost?set}${relayhost:unset}\n", "smtpd_banner", "unset"},
        {"relayhost = [gw]\nsmtpd_banner = ${relayhost?via $relayhost}\n", "smtpd_banner", "via [gw]"},
        {"smtpd_banner = ${mail_name?${myhostname?${mydomain}}}\n", "smtpd_banner", "example.org"},
        {"smtpd_banner = ${relayhost:${mail_name:x}!}\n", "smtpd_banner", "Post!"},
        {"smtpd_banner = $home $user\n", "smtpd_banner", "$home $user"},
        {"smtpd_banner = ${home?x}\n", "", "main.conf:3: smtpd_banner: \"$home\" is filled in per delivery"},
        // mailbox_command is raw: local(8) expands it per delivery; names it does not
        // know and $$ go on to the shell as written. luser_relay is not.
        {"mailbox_command = /usr/bin/procmail -a \"$EXTENSION\" ${extension?-e $extension} $sender $$\n",
         "mailbox_command", "/usr/bin/procmail -a \"$EXTENSION\" ${extension?-e $extension} $sender $$"},
        {"luser_relay = admin+$local@$mydomain\n", "luser_relay", "admin+$local@example.org"},
        {"smtpd_banner = ${mail_name\n", "", "main.conf:3: smtpd_banner: missing '}' after \"${\""},
        {"smtpd_banner = $(mail_name\n", "", "main.conf:3: smtpd_banner: missing ')' after \"$(\""},
        {"smtpd_banner = ${}\n", "", "main.conf:3: smtpd_banner: empty parameter name after '$'"},
        {"smtpd_banner = ${mail_name!x}\n", "", "main.conf:3: smtpd_banner: bad character in"},
        // Loops, direct and through defaults.
        {"smtpd_banner = $smtpd_banner\n", "", "main.conf:3: smtpd_banner: expansion loop: $smtpd_banner -> $smtpd_banner"},
        {"myorigin = $mydomain\nmydomain = x$myorigin\n", "", "main.conf:4: mydomain: expansion loop: $mydomain -> $myorigin -> $mydomain"},
        {"myhostname = $smtpd_banner\n", "", "main.conf:3: myhostname: expansion loop: $myhostname -> $smtpd_banner -> $myhostname"},
        // The value is checked after expansion, against the type of the parameter.
        {"smtpd_recipient_limit = $default_process_limit\ndefault_process_limit = 7\n", "smtpd_recipient_limit", "7"},
        {"smtpd_recipient_limit = $mail_name\n", "", "main.conf:3: smtpd_recipient_limit: expected an integer like 100, got \"Post\""},
    };
    for (const auto& r : rows) {
      std::string text = base + r.lines;
      std::string got, err;
      try {
        Config c = Config::parse(text);
        if (*r.param) got = c.str(r.param);
      } catch (const ConfigError& e) {
        err = e.what();
      }
      std::string msg = "row: " + std::string(r.lines) + " got: " + got + " error: " + err;
      if (std::string(r.want).rfind("main.conf:", 0) == 0)
        CPPUNIT_ASSERT_MESSAGE(msg, err.find(r.want) == 0);
      else
        CPPUNIT_ASSERT_EQUAL_MESSAGE(msg, std::string(r.want), got);
    }
  }

  void hostile_expansion() {
    // Every text parameter names the next one twice: 2^N bytes if expanded naively.
    std::vector<std::string> names;
    for (const auto& p : config::all_params())
      if (p.type == config::Type::String && std::string(p.name) != "myhostname") names.push_back(p.name);
    CPPUNIT_ASSERT(names.size() > 30);
    std::string text;
    for (size_t i = 0; i + 1 < names.size(); ++i) text += names[i] + " = $" + names[i + 1] + "${" + names[i + 1] + "}\n";
    text += names.back() + " = " + std::string(1000, 'x') + "\n";
    auto start = std::chrono::steady_clock::now();
    std::string err = error_of(text);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    CPPUNIT_ASSERT_MESSAGE(err, err.find("values too long after $name expansion") != std::string::npos);
    CPPUNIT_ASSERT_MESSAGE(std::to_string(secs), secs < 10);
    // A short doubling chain is fine and exact.
    Config c = Config::parse("mail_name = ab\nsyslog_name = $mail_name$mail_name\nsmtpd_banner = $syslog_name$syslog_name\n");
    CPPUNIT_ASSERT_EQUAL(std::string("abababab"), c.str("smtpd_banner"));
    // Deep ${...} nesting stops at a fixed depth instead of exhausting the stack.
    std::string deep = "smtpd_banner = ";
    for (int i = 0; i < 100000; ++i) deep += "${mail_name?";
    deep += "x" + std::string(100000, '}') + "\n";
    err = error_of(deep);
    CPPUNIT_ASSERT_MESSAGE(err, err.find("main.conf:1: smtpd_banner: ${...} nested too deeply") == 0);
    // Megabytes of '$' and '${' and names.
    CPPUNIT_ASSERT(error_of("smtpd_banner = " + std::string(1 << 20, '$') + "\n").empty());
    CPPUNIT_ASSERT(!error_of("smtpd_banner = " + std::string(1 << 20, '{') + "${\n").empty());
    err = error_of("smtpd_banner = $" + std::string(1 << 20, 'a') + "\n");
    CPPUNIT_ASSERT_MESSAGE(err.substr(0, 200), err.find("main.conf:1: smtpd_banner: unknown parameter \"$aaa") == 0);
    CPPUNIT_ASSERT(err.size() < 400);
    // A megabyte-long unknown name: reported briefly, and quickly.
    start = std::chrono::steady_clock::now();
    err = error_of(std::string(1 << 20, 'q') + " = 1\n");
    secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    CPPUNIT_ASSERT(err.find("main.conf:1: unknown parameter \"qqq") == 0);
    CPPUNIT_ASSERT(err.size() < 400);
    CPPUNIT_ASSERT_MESSAGE(std::to_string(secs), secs < 5);
  }

  void computed_defaults() {
    Config c = Config::parse("");
    std::string host = config::system_fqdn();
    CPPUNIT_ASSERT(host.find('.') != std::string::npos);
    CPPUNIT_ASSERT_EQUAL(host, c.str("myhostname"));
    CPPUNIT_ASSERT_EQUAL(host, c.raw("myhostname"));  // not the marker
    CPPUNIT_ASSERT_EQUAL(host.substr(host.find('.') + 1), c.raw("mydomain"));
    CPPUNIT_ASSERT(c.is_default("myhostname"));
    // mydomain follows an explicit myhostname; a one-label name is its own domain.
    CPPUNIT_ASSERT_EQUAL(std::string("b.c"), Config::parse("myhostname = a.b.c\n").str("mydomain"));
    CPPUNIT_ASSERT_EQUAL(std::string("solo"), Config::parse("myhostname = solo\n").str("mydomain"));
    // The markers written explicitly are plain text, never computed.
    Config m = Config::parse("myhostname = @fqdn\nmydomain = @domain\n");
    CPPUNIT_ASSERT_EQUAL(std::string("@fqdn"), m.str("myhostname"));
    CPPUNIT_ASSERT_EQUAL(std::string("@domain"), m.str("mydomain"));
    // set() recomputes what depends on the changed value.
    c.set("myhostname", "mail.example.net");
    CPPUNIT_ASSERT_EQUAL(std::string("example.net"), c.str("mydomain"));
    CPPUNIT_ASSERT_EQUAL(std::string("mail.example.net, localhost.example.net, localhost"), c.str("mydestination"));
  }

  // What `postilionctl config -n` shows: the explicit values, raw, last one wins.
  void explicit_values_for_config_n() {
    Config c = Config::parse("myorigin = $mydomain\nmail_name = A\nmail_name = B\n");
    const auto& ex = c.explicit_values();
    CPPUNIT_ASSERT_EQUAL(size_t(2), ex.size());
    CPPUNIT_ASSERT_EQUAL(std::string("mail_name"), ex.begin()->first);
    CPPUNIT_ASSERT_EQUAL(std::string("B"), ex.begin()->second);
    CPPUNIT_ASSERT_EQUAL(std::string("$mydomain"), c.raw("myorigin"));
    CPPUNIT_ASSERT_EQUAL(std::string("$myhostname"), c.raw("smtp_helo_name"));
    CPPUNIT_ASSERT(c.is_default("smtp_helo_name"));
    c.set("smtp_helo_name", "$mydomain");
    CPPUNIT_ASSERT(!c.is_default("smtp_helo_name"));
    CPPUNIT_ASSERT_EQUAL(size_t(3), c.explicit_values().size());
    CPPUNIT_ASSERT_EQUAL(c.str("mydomain"), c.str("smtp_helo_name"));
    // A failed set() changes nothing.
    CPPUNIT_ASSERT_THROW(c.set("smtpd_recipient_limit", "$mail_name"), ConfigError);
    CPPUNIT_ASSERT_EQUAL(size_t(3), c.explicit_values().size());
    CPPUNIT_ASSERT(c.is_default("smtpd_recipient_limit"));
  }

  void myorigin_from_file() {
    testing::TempDir dir;
    const std::string mailname = dir.file("mailname");
    const std::string conf = "myhostname = mail.example.org\nmyorigin = " + mailname + "\n";
    // Missing: $myhostname, as when Debian's /etc/mailname was never written.
    CPPUNIT_ASSERT_EQUAL(std::string("mail.example.org"), Config::parse(conf).str("myorigin"));
    CPPUNIT_ASSERT(file::write_file_atomic(mailname, "Example.NET\nignored.example\n", 0644));
    CPPUNIT_ASSERT_EQUAL(std::string("example.net"), Config::parse(conf).str("myorigin"));
    // $myorigin used elsewhere sees the file's name too.
    Config c = Config::parse(conf + "mydestination = $myorigin\n");
    CPPUNIT_ASSERT_EQUAL(std::string("example.net"), c.str("mydestination"));
    CPPUNIT_ASSERT(file::write_file_atomic(mailname, " \n\t\n", 0644));
    CPPUNIT_ASSERT_EQUAL(std::string("mail.example.org"), Config::parse(conf).str("myorigin"));
    // Hostile contents: refused with the file's name, never taken as a domain.
    for (const std::string& bad : {std::string("evil@example.com\n"), std::string("a;rm -rf /\n"),
                                  std::string(300, 'a') + "\n", std::string("\x01\x02\n")}) {
      CPPUNIT_ASSERT(file::write_file_atomic(mailname, bad, 0644));
      try {
        Config::parse(conf);
        CPPUNIT_FAIL("accepted: " + bad);
      } catch (const ConfigError& e) {
        CPPUNIT_ASSERT_MESSAGE(e.what(), std::string(e.what()).find(mailname + ": not a domain name") != std::string::npos);
      }
    }
    // A folder where the file should be: an error, not a silent fallback.
    CPPUNIT_ASSERT_THROW(Config::parse("myorigin = " + dir.path() + "\n"), ConfigError);
    // A plain domain is taken as written.
    CPPUNIT_ASSERT_EQUAL(std::string("example.com"), Config::parse("myorigin = example.com\n").str("myorigin"));
  }

  // The compiled-in folders are configure's (AM_CPPFLAGS), not the .def file's text.
  void installation_folders_follow_configure() {
    Config c = Config::parse("");
    CPPUNIT_ASSERT_EQUAL(std::string(SYSCONFDIR "/postilion"), c.str("config_directory"));
    CPPUNIT_ASSERT_EQUAL(std::string(LOCALSTATEDIR "/spool/postilion"), c.str("queue_directory"));
    CPPUNIT_ASSERT_EQUAL(std::string(LIBEXECDIR), c.str("daemon_directory"));
    CPPUNIT_ASSERT_EQUAL(std::string(SBINDIR), c.str("command_directory"));
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

  // Every parameter has an entry in postilion.conf(5) whose first line states its type
  // and default as the table has them:
  //   .B name
  //   (size; default: 10240000)
  void man_page_documents_every_parameter() {
    auto page = file::read_file(std::string(TOP_SRCDIR) + "/man/postilion.conf.5");
    CPPUNIT_ASSERT_MESSAGE("man/postilion.conf.5 missing", page.ok());
    auto roff = [](std::string_view v) {
      std::string out;
      for (char c : v) {
        if (c == '\\') out += "\\e";
        else if (c == '-') out += "\\-";
        else out += c;
      }
      return out;
    };
    auto type_word = [](config::Type t) -> std::string {
      switch (t) {
        case config::Type::String: return "text";
        case config::Type::Int: return "integer";
        case config::Type::Bool: return "yes or no";
        case config::Type::Time: return "time";
        case config::Type::Size: return "size";
        case config::Type::List: return "list";
        case config::Type::Restrictions: return "restriction list";
      }
      return "";
    };
    for (const auto& p : config::all_params()) {
      std::string entry = std::string("\n.B ") + p.name + "\n";
      size_t at = page->find(entry);
      CPPUNIT_ASSERT_MESSAGE(std::string("not documented in man/postilion.conf.5 (run lib/config/update-man): ") + p.name, at != std::string::npos);
      size_t start = at + entry.size();
      std::string line = page->substr(start, page->find('\n', start) - start);
      std::string_view def = p.default_value;
      std::string want = "(" + type_word(p.type) + "; default: ";
      // The installation folders follow configure; the page gives Debian's values.
      const std::string_view name = p.name;
      bool installed = name == "config_directory" || name == "queue_directory" ||
                       name == "daemon_directory" || name == "command_directory";
      if (def == config::kDefaultFqdn || def == config::kDefaultParentDomain || installed) {
        CPPUNIT_ASSERT_MESSAGE(std::string(p.name) + ": " + line, line.rfind(want, 0) == 0);
        continue;
      }
      want += (def.empty() ? std::string("empty") : roff(def)) + ")";
      CPPUNIT_ASSERT_EQUAL_MESSAGE(std::string("man/postilion.conf.5 (run lib/config/update-man), line after .B ") + p.name, want, line);
    }
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ConfigTest);
