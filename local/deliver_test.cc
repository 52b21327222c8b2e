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
  std::map<std::string, std::string> command_maps;  // mailbox_command_maps
  bool command_map_fail = false;
  std::vector<std::string> log;              // "maildir:bob", "cmd:...", "fwd:x@y" ...
  std::string last_text;
  std::string last_command_rcpt;  // the Delivery's recipient given to command()

  Result<std::optional<std::string>> alias(const std::string& n) override {
    if (alias_fail) return Error("hash:/etc/aliases: I/O error", 5);
    auto it = aliases.find(n);
    if (it == aliases.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }
  std::optional<local::User> user(const std::string& n) override {
    if (!users.count(n)) return std::nullopt;
    if (n == "root") return local::User{n, 0, 0, "/root", "/bin/sh"};
    return local::User{n, 1000, 1000, "/home/" + n, "/bin/bash"};
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
  Outcome command(const local::User& u, const std::string& cmd, const std::string& text, const local::Delivery& d) override {
    log.push_back("cmd:" + u.name + ":" + cmd);
    last_text = text;
    last_command_rcpt = d.recipient;
    return Outcome::sent("delivered to command");
  }
  Result<std::optional<std::string>> mailbox_command_map(const std::string& n) override {
    if (command_map_fail) return Error("hash:/etc/postilion/commands: I/O error", 5);
    auto it = command_maps.find(n);
    if (it == command_maps.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
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

Outcome run(FakeEnv& env, const std::string& rcpt, const std::string& content = "Subject: x\n\nhello\n",
            const local::Settings& s = settings(), const std::string& sender = "alice@remote.test") {
  local::Delivery d{"QID", sender, rcpt, content};
  return local::deliver(s, env, d);
}

}  // namespace

class DeliverTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(DeliverTest);
  CPPUNIT_TEST(plain_user_and_extension);
  CPPUNIT_TEST(aliases_fan_out);
  CPPUNIT_TEST(forward_files);
  CPPUNIT_TEST(loops_and_failures);
  CPPUNIT_TEST(mailbox_command);
  CPPUNIT_TEST(mailbox_command_maps);
  CPPUNIT_TEST(luser_relay);
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

  void mailbox_command() {
    FakeEnv env;
    local::Settings s = settings();
    s.mailbox_command = "/usr/bin/procmail -a \"$extension\" -d $user # $sender $home $shell $domain";
    auto o = run(env, "Bob+Lists@example.org", "Subject: x\n\nhello\n", s, "a;b`id`@remote.test");
    CPPUNIT_ASSERT(o.kind == Outcome::Kind::Sent);
    CPPUNIT_ASSERT_EQUAL(size_t(1), env.log.size());
    // Values shell-safe, the command's own quotes kept; as bob, not home_mailbox.
    CPPUNIT_ASSERT_EQUAL(
        std::string("cmd:bob:/usr/bin/procmail -a \"Lists\" -d bob # a_b_id_@remote.test /home/bob /bin/bash example.org"),
        env.log[0]);
    // stdin: the envelope "From " line, Return-Path, Delivered-To, then the message.
    CPPUNIT_ASSERT(env.last_text.starts_with("From a;b`id`@remote.test "));
    std::string rest = env.last_text.substr(env.last_text.find('\n') + 1);
    CPPUNIT_ASSERT_EQUAL(std::string("Return-Path: <a;b`id`@remote.test>\nDelivered-To: Bob+Lists@example.org\n"
                                     "Subject: x\n\nhello\n"),
                         rest);
    // .forward comes first; "\bob" in it reaches the final delivery: the command.
    env.log.clear();
    env.files = {{"/home/bob/.forward", "\\bob, far@remote.test\n"}};
    CPPUNIT_ASSERT(run(env, "bob@example.org", "Subject: x\n\nhello\n", s).kind == Outcome::Kind::Sent);
    std::vector<std::string> want = {"cmd:bob:/usr/bin/procmail -a \"\" -d bob # alice@remote.test /home/bob /bin/bash example.org",
                                     "fwd:far@remote.test"};
    CPPUNIT_ASSERT(env.log == want);
    // Aliases come before it too.
    env.log.clear();
    env.aliases = {{"carol", "far@remote.test"}};
    run(env, "carol@example.org", "Subject: x\n\nhello\n", s);
    CPPUNIT_ASSERT(env.log == std::vector<std::string>{"fwd:far@remote.test"});
    // The command's RECIPIENT is the address delivered to: here after luser_relay.
    env.log.clear();
    env.files.clear();
    s.luser_relay = "bob+$user";
    run(env, "ghost@example.org", "Subject: x\n\nhello\n", s);
    CPPUNIT_ASSERT_EQUAL(std::string("bob+ghost@example.org"), env.last_command_rcpt);
    CPPUNIT_ASSERT(env.log == std::vector<std::string>{"cmd:bob:/usr/bin/procmail -a \"ghost\" -d bob # alice@remote.test /home/bob /bin/bash example.org"});
    // Never as root: root's command runs with default_privs.
    env.log.clear();
    s.mailbox_command = "deliver $user";
    run(env, "root@example.org", "Subject: x\n\nhello\n", s);
    CPPUNIT_ASSERT(env.log == std::vector<std::string>{"cmd:nobody:deliver root"});
  }

  void mailbox_command_maps() {
    FakeEnv env;
    local::Settings s = settings();
    env.command_maps = {{"carol", "/usr/bin/maildrop -d $user"}};
    run(env, "carol@example.org", "Subject: x\n\nhello\n", s);  // a map entry without mailbox_command
    run(env, "bob@example.org", "Subject: x\n\nhello\n", s);    // none: home_mailbox
    s.mailbox_command = "/usr/bin/procmail";
    run(env, "carol@example.org", "Subject: x\n\nhello\n", s);  // the map wins
    run(env, "bob@example.org", "Subject: x\n\nhello\n", s);    // not in the map: mailbox_command
    std::vector<std::string> want = {"cmd:carol:/usr/bin/maildrop -d carol", "maildir:bob:/home/bob/Maildir/",
                                     "cmd:carol:/usr/bin/maildrop -d carol", "cmd:bob:/usr/bin/procmail"};
    CPPUNIT_ASSERT(env.log == want);
    env.command_map_fail = true;
    auto o = run(env, "bob@example.org", "Subject: x\n\nhello\n", s);
    CPPUNIT_ASSERT(o.kind == Outcome::Kind::Defer);
    CPPUNIT_ASSERT(o.text.starts_with("mailbox_command_maps lookup failed"));
    CPPUNIT_ASSERT_EQUAL(size_t(4), env.log.size());
  }

  void luser_relay() {
    struct Case {
      const char* relay;
      const char* rcpt;
      const char* want_log;  // "" = nothing delivered
      Outcome::Kind kind;
    } cases[] = {
        {"", "ghost@example.org", "", Outcome::Kind::Bounce},
        {"catch+$local@relay.test", "Ghost+x@example.org", "fwd:catch+Ghost+x@relay.test", Outcome::Kind::Sent},
        {"$user-$extension@relay.test", "ghost+x@example.org", "fwd:ghost-x@relay.test", Outcome::Kind::Sent},
        {"${extension?{$extension}:{none}}.$domain@relay.test", "ghost@example.org", "fwd:none.example.org@relay.test",
         Outcome::Kind::Sent},
        {"bob+$user", "ghost@example.org", "maildir:bob:/home/bob/Maildir/", Outcome::Kind::Sent},
        {"carol@example.org", "ghost@example.org", "maildir:carol:/home/carol/Maildir/", Outcome::Kind::Sent},
        {"staff", "ghost@example.org", "fwd:far@remote.test", Outcome::Kind::Sent},  // an alias
        {"nobody-either", "ghost@example.org", "", Outcome::Kind::Bounce},  // no relay to itself
        {"bad address@", "ghost@example.org", "", Outcome::Kind::Bounce},
        {"catch@relay.test", "bob@example.org", "maildir:bob:/home/bob/Maildir/", Outcome::Kind::Sent},  // a user
        {"catch@relay.test", "list@example.org", "maildir:carol:/home/carol/Maildir/", Outcome::Kind::Sent},
    };
    for (const auto& c : cases) {
      FakeEnv env;
      env.aliases = {{"staff", "far@remote.test"}, {"list", "carol"}};
      local::Settings s = settings();
      s.luser_relay = c.relay;
      auto o = run(env, c.rcpt, "Subject: x\n\nhello\n", s);
      std::string msg = std::string(c.relay) + " " + c.rcpt + ": " + o.text;
      CPPUNIT_ASSERT_MESSAGE(msg, o.kind == c.kind);
      if (!*c.want_log) {
        CPPUNIT_ASSERT_MESSAGE(msg, env.log.empty());
        continue;
      }
      CPPUNIT_ASSERT_EQUAL_MESSAGE(msg, size_t(1), env.log.size());
      CPPUNIT_ASSERT_EQUAL_MESSAGE(msg, std::string(c.want_log), env.log[0]);
    }
    // The relayed copy records the original recipient in Delivered-To.
    FakeEnv env;
    local::Settings s = settings();
    s.luser_relay = "catch@relay.test";
    run(env, "ghost@example.org", "Subject: x\n\nhello\n", s);
    CPPUNIT_ASSERT(env.last_text.starts_with("Delivered-To: ghost@example.org\n"));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(DeliverTest);
