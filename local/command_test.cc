// local/command_test.cc - $name expansion and shell safety for mailbox_command and
// luser_relay, and the exit status table of command deliveries.
#include "local/command.h"

#include <sys/wait.h>

#include <cppunit/extensions/HelperMacros.h>

using namespace postilion;
using local::Outcome;

namespace {

// A wait status as waitpid reports it.
int exited(int code) { return (code & 0xff) << 8; }
int signaled(int sig) { return sig & 0x7f; }

const local::ExpandVars kVars = {
    {"user", "bob"},         {"home", "/home/bob"},  {"shell", "/bin/bash"},
    {"recipient", "bob+lists@example.org"},          {"extension", "lists"},
    {"domain", "example.org"}, {"local", "bob+lists"}, {"sender", "x;rm -rf /@evil.test"},
    {"empty", ""},
};

}  // namespace

class CommandTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(CommandTest);
  CPPUNIT_TEST(expansion_forms);
  CPPUNIT_TEST(shell_safe_values);
  CPPUNIT_TEST(recipient_variables);
  CPPUNIT_TEST(message_variables);
  CPPUNIT_TEST(exit_codes);
  CPPUNIT_TEST(status_from_output);
  CPPUNIT_TEST_SUITE_END();

 public:
  void expansion_forms() {
    struct Case {
      const char* pattern;
      const char* want;
    } cases[] = {
        {"/usr/bin/procmail -a \"$extension\"", "/usr/bin/procmail -a \"lists\""},
        {"${home}/bin/deliver $(user)", "/home/bob/bin/deliver bob"},
        {"$user$domain", "bobexample.org"},
        {"a ${extension?-e $extension} b", "a -e lists b"},
        {"a ${empty?-e $extension} b", "a  b"},
        {"${empty:none}", "none"},
        {"${user:none}", ""},
        {"${extension?{x}:{y}} ${empty?{x}:{y}}", "x y"},
        {"${user?{$user}}", "bob"},
        {"$$HOME $$", "$$HOME $$"},
        {"$nosuch. \"$EXTENSION\" ${HOME:-/} $(date)", "$nosuch. \"$EXTENSION\" ${HOME:-/} $(date)"},
        {"${user-x} ${user}", "${user-x} bob"},
        {"cost: 5$", "cost: 5$"},
        {"${unclosed", "${unclosed"},
        {"$ $-", "$ $-"},
        {"", ""},
    };
    for (const auto& c : cases)
      CPPUNIT_ASSERT_EQUAL_MESSAGE(c.pattern, std::string(c.want),
                                   local::expand_vars(c.pattern, kVars, &local::kCommandExpansionFilter));
  }

  void shell_safe_values() {
    struct Case {
      const char* value;
      const char* want;
    } cases[] = {
        {"bob", "bob"},
        {"x;rm -rf /@evil.test", "x_rm_-rf_/@evil.test"},
        {"$(id)`id`|&<>'\"\\*?~#", "__id__id____________"},
        {"a\nb\tc d", "a_b_c_d"},
        {"user+ext=1,2:3%4!5@d.o", "user+ext=1,2:3%4!5@d.o"},
        {"\xc3\xa9", "__"},
    };
    for (const auto& c : cases) CPPUNIT_ASSERT_EQUAL_MESSAGE(c.value, std::string(c.want), local::filter_value(c.value));
    std::string nul("a\0b", 3);
    CPPUNIT_ASSERT_EQUAL(std::string("a_b"), local::filter_value(nul));
    // Only values are filtered: the command's own text (quotes, ';') is as written.
    CPPUNIT_ASSERT_EQUAL(std::string("echo '$x'; log x_rm_-rf_/@evil.test"),
                         local::expand_vars("echo '$x'; log $sender", kVars, &local::kCommandExpansionFilter));
    // luser_relay keeps its values as they are (no filter).
    CPPUNIT_ASSERT_EQUAL(std::string("admin+x;rm -rf /@evil.test"), local::expand_vars("admin+$sender", kVars, nullptr));
  }

  void recipient_variables() {
    local::Settings s;
    s.recipient_delimiter = "+-";
    local::User u{"bob", 1000, 1000, "/home/bob", "/bin/zsh"};
    auto v = local::recipient_vars(s, u, "Bob-lists@Example.org", "alice@remote.test");
    CPPUNIT_ASSERT_EQUAL(std::string("bob"), v["user"]);
    CPPUNIT_ASSERT_EQUAL(std::string("/home/bob"), v["home"]);
    CPPUNIT_ASSERT_EQUAL(std::string("/bin/zsh"), v["shell"]);
    CPPUNIT_ASSERT_EQUAL(std::string("lists"), v["extension"]);
    CPPUNIT_ASSERT_EQUAL(std::string("Bob-lists"), v["local"]);
    CPPUNIT_ASSERT_EQUAL(std::string("example.org"), v["domain"]);  // as parsed: lowercase
    CPPUNIT_ASSERT_EQUAL(std::string("Bob-lists@Example.org"), v["recipient"]);
    CPPUNIT_ASSERT_EQUAL(std::string("alice@remote.test"), v["sender"]);
    CPPUNIT_ASSERT_EQUAL(std::string("-"), v["recipient_delimiter"]);
    auto plain = local::recipient_vars(s, u, "bob@example.org", "");
    CPPUNIT_ASSERT_EQUAL(std::string(""), plain["extension"]);
    CPPUNIT_ASSERT_EQUAL(std::string("+-"), plain["recipient_delimiter"]);
  }

  void message_variables() {
    local::Settings s;
    local::User u{"bob", 1000, 1000, "/home/bob", "/bin/sh"};
    queue::QueueFile f;
    f.attributes = {{"client_address", "192.0.2.7"}, {"client_name", "mx.remote.test"}, {"helo", "Mx.Remote.Test"},
                    {"protocol", "ESMTPSA"}, {"sasl_method", "PLAIN"}, {"sasl_username", "alice"},
                    {"auth", "alice@remote.test"}, {"envid", "e-1"}, {"size", "42"}};
    local::Delivery d;
    d.sender = "alice@remote.test";
    d.recipient = "bob@example.org";
    d.original_recipient = "Bob.Alias@example.org";
    d.file = &f;
    auto v = local::command_vars(s, u, "bob@example.org", d);
    CPPUNIT_ASSERT_EQUAL(std::string("bob"), v["user"]);  // recipient_vars as well
    CPPUNIT_ASSERT_EQUAL(std::string("Bob.Alias@example.org"), v["original_recipient"]);
    CPPUNIT_ASSERT_EQUAL(std::string("192.0.2.7"), v["client_address"]);
    CPPUNIT_ASSERT_EQUAL(std::string("mx.remote.test"), v["client_hostname"]);
    CPPUNIT_ASSERT_EQUAL(std::string("Mx.Remote.Test"), v["client_helo"]);
    CPPUNIT_ASSERT_EQUAL(std::string("ESMTPSA"), v["client_protocol"]);
    CPPUNIT_ASSERT_EQUAL(std::string("PLAIN"), v["sasl_method"]);
    CPPUNIT_ASSERT_EQUAL(std::string("alice"), v["sasl_username"]);
    CPPUNIT_ASSERT_EQUAL(std::string("alice@remote.test"), v["sasl_sender"]);
    CPPUNIT_ASSERT(!v.count("envid"));  // the environment's ENVID has no $name, as in Postfix
    CPPUNIT_ASSERT(!v.count("size"));
    auto facts = local::client_facts(d);
    CPPUNIT_ASSERT_EQUAL(size_t(8), facts.size());
    CPPUNIT_ASSERT_EQUAL(std::string("CLIENT_ADDRESS"), std::string(facts.front().first->env));
    CPPUNIT_ASSERT_EQUAL(std::string("ENVID"), std::string(facts.back().first->env));
    CPPUNIT_ASSERT_EQUAL(std::string("e-1"), facts.back().second);
    CPPUNIT_ASSERT_EQUAL(std::string("alice"),
                         local::expand_vars("${sasl_username?{$sasl_username}:{none}}", v, &local::kCommandExpansionFilter));

    // AUTH=<> (no sender, or an untrusted one), empty values and unknown attributes
    // give nothing; the names are still known, empty, so ${name:...} works.
    f.attributes = {{"client_address", ""}, {"auth", "<>"}, {"helo", "h"}};
    d.original_recipient.clear();
    v = local::command_vars(s, u, "bob@example.org", d);
    CPPUNIT_ASSERT_EQUAL(std::string("bob@example.org"), v["original_recipient"]);
    CPPUNIT_ASSERT_EQUAL(std::string(""), v["sasl_sender"]);
    CPPUNIT_ASSERT_EQUAL(std::string("none"),
                         local::expand_vars("${client_address:none}", v, &local::kCommandExpansionFilter));
    facts = local::client_facts(d);
    CPPUNIT_ASSERT_EQUAL(size_t(1), facts.size());
    CPPUNIT_ASSERT_EQUAL(std::string("CLIENT_HELO"), std::string(facts[0].first->env));

    // Mail from sendmail: no queue file attributes at all.
    d.file = nullptr;
    CPPUNIT_ASSERT(local::client_facts(d).empty());
    v = local::command_vars(s, u, "bob@example.org", d);
    CPPUNIT_ASSERT_EQUAL(std::string(""), v["client_address"]);
    // A hostile value is made shell-safe like every other.
    f.attributes = {{"helo", "x;rm -rf /"}};
    d.file = &f;
    v = local::command_vars(s, u, "bob@example.org", d);
    CPPUNIT_ASSERT_EQUAL(std::string("helo x_rm_-rf_/"), local::expand_vars("helo $client_helo", v, &local::kCommandExpansionFilter));
  }

  void exit_codes() {
    using K = Outcome::Kind;
    struct Case {
      int status;
      K kind;
      const char* dsn;
      const char* text_start;
    } cases[] = {
        {exited(0), K::Sent, "2.0.0", "delivered to command: procmail"},
        {exited(75), K::Defer, "4.3.0", "temporary failure"},
        {exited(71), K::Defer, "4.3.0", "system resource problem"},
        {exited(67), K::Bounce, "5.1.1", "user unknown"},
        {exited(69), K::Bounce, "5.3.0", "service unavailable"},
        {exited(65), K::Bounce, "5.6.0", "data format error"},
        {exited(73), K::Bounce, "5.2.0", "can't create user output file"},
        {exited(77), K::Bounce, "5.7.0", "permission denied"},
        {exited(78), K::Bounce, "5.3.5", "local configuration error"},
        {exited(1), K::Bounce, "5.3.0", "Command died with status 1: \"procmail\""},
        {exited(100), K::Bounce, "5.3.0", "Command died with status 100"},
        {signaled(9), K::Defer, "4.3.0", "Command died with signal 9"},
    };
    for (const auto& c : cases) {
      Outcome o = local::command_outcome(c.status, "procmail", "");
      CPPUNIT_ASSERT_MESSAGE(c.text_start, o.kind == c.kind);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(c.text_start, std::string(c.dsn), o.dsn);
      CPPUNIT_ASSERT_MESSAGE(o.text, o.text.starts_with(c.text_start));
    }
    // The output's first bytes go into the reason, bounded and printable.
    Outcome o = local::command_outcome(exited(75), "x", "quota busy\x01\n" + std::string(5000, 'z'));
    CPPUNIT_ASSERT(o.text.starts_with("temporary failure. Command output: quota busy"));
    CPPUNIT_ASSERT(o.text.size() < 400);
    CPPUNIT_ASSERT(o.text.find('\x01') == std::string::npos);
  }

  void status_from_output() {
    Outcome o = local::command_outcome(exited(1), "x", "4.2.2 mailbox full\n");
    CPPUNIT_ASSERT(o.kind == Outcome::Kind::Defer);
    CPPUNIT_ASSERT_EQUAL(std::string("4.2.2"), o.dsn);
    CPPUNIT_ASSERT(o.text.starts_with("mailbox full"));
    o = local::command_outcome(exited(75), "x", "5.1.1 no such mailbox");
    CPPUNIT_ASSERT(o.kind == Outcome::Kind::Bounce);
    CPPUNIT_ASSERT_EQUAL(std::string("5.1.1"), o.dsn);
    // Not a status code: the exit code decides.
    for (const char* out : {"4.2 x", "6.1.1 x", "5.1.1x", "5..1 x", "45.1.1 x"}) {
      o = local::command_outcome(exited(75), "x", out);
      CPPUNIT_ASSERT_MESSAGE(out, o.kind == Outcome::Kind::Defer && o.dsn == "4.3.0");
    }
    // Success is success whatever it printed.
    CPPUNIT_ASSERT(local::command_outcome(exited(0), "x", "5.1.1 x").kind == Outcome::Kind::Sent);
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(CommandTest);
