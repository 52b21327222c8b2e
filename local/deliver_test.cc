// local/deliver_test.cc - local recipient expansion against a fake environment.
#include "local/deliver.h"

#include <cppunit/extensions/HelperMacros.h>

#include <map>

#include "lib/mail/header.h"

using namespace postilion;
using local::Outcome;

namespace {

class FakeEnv : public local::Environment {
 public:
  std::map<std::string, std::string> aliases;
  std::map<std::string, std::string> files;  // path -> text (for .forward / :include:)
  std::set<std::string> unsafe;              // paths failing the owner/mode check
  std::set<std::string> users{"bob", "carol", "root"};
  bool alias_fail = false;
  bool mailbox_full = false;
  std::vector<std::string> log;              // "maildir:bob", "cmd:...", "fwd:x@y" ...
  std::string last_text;

  Result<std::optional<std::string>> alias(const std::string& n) override {
    if (alias_fail) return Error("hash:/etc/aliases: I/O error", 5);
    auto it = aliases.find(n);
    if (it == aliases.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }
  std::optional<local::User> user(const std::string& n) override {
    if (!users.count(n)) return std::nullopt;
    return local::User{n, 1000, 1000, "/home/" + n};
  }
  local::User privileged_default() override { return {"nobody", 65534, 65534, "/"}; }
  Result<std::optional<std::string>> read_owned(const std::string& p, const local::User&) override {
    if (unsafe.count(p)) return Error(p + ": writable by group or others").set_permanent();
    auto it = files.find(p);
    if (it == files.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }
  Outcome maildir(const local::User& u, const std::string& dir, const std::string& text) override {
    if (mailbox_full) return Outcome::defer("4.2.2", "mailbox full");
    log.push_back("maildir:" + u.name + ":" + dir);
    last_text = text;
    return Outcome::sent("delivered to maildir");
  }
  Outcome mbox(const local::User& u, const std::string& path, const std::string& text) override {
    log.push_back("mbox:" + u.name + ":" + path);
    last_text = text;
    return Outcome::sent("delivered to mailbox");
  }
  Outcome command(const local::User& u, const std::string& cmd, const std::string&, const local::Delivery&) override {
    log.push_back("cmd:" + u.name + ":" + cmd);
    return Outcome::sent("delivered to command");
  }
  Outcome forward(const std::string&, const std::string& a, const std::string& text) override {
    log.push_back("fwd:" + a);
    last_text = text;
    return Outcome::sent("forwarded");
  }
};

local::Settings settings() {
  local::Settings s;
  s.myhostname = "mx.example.org";
  s.mydestination = {"mx.example.org", "example.org"};
  return s;
}

Outcome run(FakeEnv& env, const std::string& rcpt, const std::string& content = "Subject: x\n\nhello\n") {
  local::Delivery d{"QID", "alice@remote.test", rcpt, content};
  return local::deliver(settings(), env, d);
}

}  // namespace

class DeliverTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(DeliverTest);
  CPPUNIT_TEST(plain_user_and_extension);
  CPPUNIT_TEST(aliases_fan_out);
  CPPUNIT_TEST(forward_files);
  CPPUNIT_TEST(loops_and_failures);
  CPPUNIT_TEST_SUITE_END();

 public:
  void plain_user_and_extension() {
    FakeEnv env;
    auto o = run(env, "Bob+Lists@example.org");
    CPPUNIT_ASSERT(o.kind == Outcome::Kind::Sent);
    CPPUNIT_ASSERT_EQUAL(size_t(1), env.log.size());
    CPPUNIT_ASSERT_EQUAL(std::string("maildir:bob:/home/bob/Maildir/"), env.log[0]);
    auto h = mail::parse_headers(env.last_text);
    CPPUNIT_ASSERT_EQUAL(std::string("<alice@remote.test>"), *h.get("Return-Path"));
    CPPUNIT_ASSERT_EQUAL(std::string("Bob+Lists@example.org"), *h.get("Delivered-To"));
    CPPUNIT_ASSERT_EQUAL(std::string("Return-Path"), h.fields[0].name);
    auto u = run(env, "nobody-here@example.org");
    CPPUNIT_ASSERT(u.kind == Outcome::Kind::Bounce);
    CPPUNIT_ASSERT_EQUAL(std::string("5.1.1"), u.dsn);
  }

  void aliases_fan_out() {
    FakeEnv env;
    env.aliases = {{"staff", "bob, carol, far@remote.test, \"|/usr/bin/ticket\", /var/log/mail.archive"},
                   {"team", "staff, bob"},
                   {"self", "bob"},
                   {"bob", "bob, :include:/etc/bob.list"}};
    env.files = {{"/etc/bob.list", "# members\ncarol\n"}};
    auto o = run(env, "team@example.org");
    CPPUNIT_ASSERT(o.kind == Outcome::Kind::Sent);
    // bob once (dedupe across staff and team, self-reference ends in his mailbox),
    // carol once, the remote forward, the command and the file as nobody.
    std::vector<std::string> want = {"maildir:bob:/home/bob/Maildir/", "maildir:carol:/home/carol/Maildir/",
                                     "fwd:far@remote.test", "cmd:nobody:/usr/bin/ticket",
                                     "mbox:nobody:/var/log/mail.archive"};
    CPPUNIT_ASSERT_EQUAL(want.size(), env.log.size());
    for (size_t i = 0; i < want.size(); ++i) CPPUNIT_ASSERT_EQUAL(want[i], env.log[i]);
    env.alias_fail = true;
    CPPUNIT_ASSERT(run(env, "team@example.org").kind == Outcome::Kind::Defer);
  }

  void forward_files() {
    FakeEnv env;
    env.files = {{"/home/bob/.forward", "\\bob, |/home/bob/bin/filter\n"},
                 {"/home/carol/.forward", "# nothing\n"}};
    auto o = run(env, "bob@example.org");
    CPPUNIT_ASSERT(o.kind == Outcome::Kind::Sent);
    CPPUNIT_ASSERT_EQUAL(size_t(2), env.log.size());
    CPPUNIT_ASSERT_EQUAL(std::string("maildir:bob:/home/bob/Maildir/"), env.log[0]);
    CPPUNIT_ASSERT_EQUAL(std::string("cmd:bob:/home/bob/bin/filter"), env.log[1]);  // as bob
    env.log.clear();
    run(env, "carol@example.org");  // comment-only .forward: the mailbox
    CPPUNIT_ASSERT_EQUAL(std::string("maildir:carol:/home/carol/Maildir/"), env.log.at(0));
    env.log.clear();
    env.unsafe.insert("/home/bob/.forward");  // ignored, plain mailbox
    CPPUNIT_ASSERT(run(env, "bob@example.org").kind == Outcome::Kind::Sent);
    CPPUNIT_ASSERT_EQUAL(size_t(1), env.log.size());
  }

  void loops_and_failures() {
    FakeEnv env;
    auto loop = run(env, "bob@example.org", "Delivered-To: bob@example.org\nSubject: x\n\nhi\n");
    CPPUNIT_ASSERT(loop.kind == Outcome::Kind::Bounce);
    CPPUNIT_ASSERT_EQUAL(std::string("5.4.6"), loop.dsn);
    CPPUNIT_ASSERT(env.log.empty());
    env.aliases = {{"a", "b"}, {"b", "a"}};  // alias loop ends without delivery
    CPPUNIT_ASSERT(run(env, "a@example.org").kind == Outcome::Kind::Bounce);
    env.aliases = {{"list", "bob, \"|\""}};
    env.mailbox_full = true;
    auto full = run(env, "list@example.org");
    CPPUNIT_ASSERT(full.kind == Outcome::Kind::Defer);
    CPPUNIT_ASSERT_EQUAL(std::string("mailbox full"), full.text);
    CPPUNIT_ASSERT(run(env, "\"bad\r\n\"@example.org").kind == Outcome::Kind::Bounce);
    env.aliases = {{"inc", ":include:/missing"}};
    CPPUNIT_ASSERT(run(env, "inc@example.org").kind == Outcome::Kind::Bounce);
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(DeliverTest);
