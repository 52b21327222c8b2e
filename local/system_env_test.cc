// local/system_env_test.cc - the real environment without root: commands (exit codes,
// output, time limit), mbox writes, .forward reading, unknown and foreign users.
#include "local/system_env.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include <cppunit/extensions/HelperMacros.h>

#include "lib/base/file.h"
#include "lib/testing/temp_dir.h"

using namespace postilion;
using local::Outcome;

namespace {

local::SystemEnv make_env(const std::string& home_root, int cmd_limit = 10) {
  local::SystemSettings s;
  s.root = false;
  s.self_uid = getuid();
  s.local_home_root = home_root;
  s.command_time_limit = cmd_limit;
  return local::SystemEnv(s, nullptr, nullptr, nullptr);
}

std::string me() { return getpwuid(getuid())->pw_name; }

}  // namespace

class SystemEnvTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(SystemEnvTest);
  CPPUNIT_TEST(users);
  CPPUNIT_TEST(commands);
  CPPUNIT_TEST(mbox_and_forward_files);
  CPPUNIT_TEST(effective_ids_per_write);
  CPPUNIT_TEST_SUITE_END();

 public:
  void users() {
    testing::TempDir dir;
    auto env = make_env(dir.path());
    auto u = env.user(me());
    CPPUNIT_ASSERT(u.has_value());
    CPPUNIT_ASSERT_EQUAL(dir.file(me()), u->home);
    CPPUNIT_ASSERT(file::exists(u->home));
    CPPUNIT_ASSERT(!env.user("no-such-user-here-x"));
    CPPUNIT_ASSERT(!env.user("../etc"));
    CPPUNIT_ASSERT(!env.user(""));
    if (getuid() != 0) CPPUNIT_ASSERT(!env.user("root"));  // private instance: only its user
  }

  void commands() {
    testing::TempDir dir;
    auto env = make_env(dir.path(), 2);
    local::User u = *env.user(me());
    local::Delivery d{"QID", "a@b", "me+ext@example.org", ""};
    std::string out = dir.file("out");
    auto ok = env.command(u, "cat > " + out + "; echo \"$SENDER $EXTENSION\" >> " + out, "Subject: x\n\nbody\n", d);
    CPPUNIT_ASSERT_MESSAGE(ok.text, ok.kind == Outcome::Kind::Sent);
    CPPUNIT_ASSERT_EQUAL(std::string("Subject: x\n\nbody\na@b ext\n"), *file::read_file(out));
    auto tmp = env.command(u, "exit 75", "x", d);
    CPPUNIT_ASSERT(tmp.kind == Outcome::Kind::Defer);
    auto bad = env.command(u, "echo nope; exit 3", "x", d);
    CPPUNIT_ASSERT(bad.kind == Outcome::Kind::Bounce);
    CPPUNIT_ASSERT(bad.text.find("status 3") != std::string::npos);
    CPPUNIT_ASSERT(bad.text.find("nope") != std::string::npos);
    // A command that ignores its input must not hang the delivery.
    auto deaf = env.command(u, "exit 0", std::string(1 << 20, 'x'), d);
    CPPUNIT_ASSERT(deaf.kind == Outcome::Kind::Sent);
    auto slow = env.command(u, "sleep 30", "x", d);
    CPPUNIT_ASSERT(slow.kind == Outcome::Kind::Defer);
    CPPUNIT_ASSERT(slow.text.find("time limit") != std::string::npos);
  }

  void mbox_and_forward_files() {
    testing::TempDir dir;
    auto env = make_env(dir.path());
    local::User u = *env.user(me());
    std::string mbox = file::join(u.home, "mbox");
    auto o = env.mbox(u, mbox, "Return-Path: <a@b>\nDelivered-To: me@x\nSubject: s\n\nFrom me\n");
    CPPUNIT_ASSERT_MESSAGE(o.text, o.kind == Outcome::Kind::Sent);
    auto text = *file::read_file(mbox);
    CPPUNIT_ASSERT(text.starts_with("From a@b "));
    CPPUNIT_ASSERT(text.find("\nDelivered-To: me@x\n") != std::string::npos);
    CPPUNIT_ASSERT(text.find("\n>From me\n") != std::string::npos);
    // Over mailbox_size_limit: bounced 5.2.2, as Postfix does; the mbox is left alone.
    local::SystemSettings small;
    small.self_uid = getuid();
    small.local_home_root = dir.path();
    small.mailbox_size_limit = 10;
    local::SystemEnv tight(small, nullptr, nullptr, nullptr);
    auto full = tight.mbox(u, mbox, "Return-Path: <a@b>\nx\n");
    CPPUNIT_ASSERT(full.kind == Outcome::Kind::Bounce);
    CPPUNIT_ASSERT_EQUAL(std::string("5.2.2"), full.dsn);
    // Unwritable: deferred with the reason.
    CPPUNIT_ASSERT_EQUAL(0, mkdir(dir.file("ro").c_str(), 0500));
    if (getuid() != 0) {
      auto denied = env.mbox(u, dir.file("ro") + "/mbox", "Return-Path: <a@b>\nx\n");
      CPPUNIT_ASSERT(denied.kind == Outcome::Kind::Defer);
      CPPUNIT_ASSERT(denied.text.find("ermission denied") != std::string::npos);
    }
    // .forward: missing, safe, group-writable, symlink.
    std::string fwd = file::join(u.home, ".forward");
    CPPUNIT_ASSERT(!*env.read_owned(fwd, u));
    CPPUNIT_ASSERT(file::write_file_atomic(fwd, "bob\n", 0644).ok());
    CPPUNIT_ASSERT_EQUAL(std::string("bob\n"), **env.read_owned(fwd, u));
    CPPUNIT_ASSERT_EQUAL(0, chmod(fwd.c_str(), 0664));
    auto unsafe = env.read_owned(fwd, u);
    CPPUNIT_ASSERT(!unsafe.ok() && !unsafe.error().temporary());
    CPPUNIT_ASSERT_EQUAL(0, symlink(fwd.c_str(), dir.file("link").c_str()));
    CPPUNIT_ASSERT(!env.read_owned(dir.file("link"), u).ok());
  }

  // As root: each write runs in this process under the user's effective uid, gid and
  // groups, and the process is root again with its own groups when the delivery ends
  // or root is needed.
  void effective_ids_per_write() {
    if (getuid() != 0) return;  // needs root to switch ids (covered by make check as root)
    struct passwd* pw = getpwnam("nobody");
    CPPUNIT_ASSERT(pw);
    uid_t uid = pw->pw_uid;
    gid_t gid = pw->pw_gid;
    testing::TempDir dir;
    CPPUNIT_ASSERT_EQUAL(0, chmod(dir.path().c_str(), 0755));
    std::string home = dir.file("nobody");
    CPPUNIT_ASSERT_EQUAL(0, mkdir(home.c_str(), 0755));
    CPPUNIT_ASSERT_EQUAL(0, chown(home.c_str(), uid, gid));
    auto groups = [] {
      std::vector<gid_t> g(static_cast<size_t>(getgroups(0, nullptr)));
      g.resize(static_cast<size_t>(getgroups(static_cast<int>(g.size()), g.data())));
      std::sort(g.begin(), g.end());
      return g;
    };
    std::vector<gid_t> root_groups = groups();
    gid_t root_egid = getegid();
    uid_t seen_uid = 0;
    gid_t seen_gid = 0;
    std::vector<gid_t> seen_groups;
    local::SystemSettings s;
    s.root = true;
    s.local_home_root = dir.path();
    local::SystemEnv env(s, nullptr,
                         [&](const std::string& maildir, const std::string& text) -> Status {
                           seen_uid = geteuid();
                           seen_gid = getegid();
                           seen_groups = groups();
                           return file::write_file_atomic(file::join(maildir, "msg"), text, 0600);
                         },
                         nullptr);
    local::User u = *env.user("nobody");
    for (int round = 0; round < 3; ++round) {  // the same process, again and again
      std::string md = home + "/Maildir" + std::to_string(round);
      CPPUNIT_ASSERT_EQUAL(0, mkdir(md.c_str(), 0700));
      CPPUNIT_ASSERT_EQUAL(0, chown(md.c_str(), uid, gid));
      auto o = env.maildir(u, md + "/", "x\n");
      CPPUNIT_ASSERT_MESSAGE(o.text, o.kind == Outcome::Kind::Sent);
      CPPUNIT_ASSERT_EQUAL(uid, seen_uid);
      CPPUNIT_ASSERT_EQUAL(gid, seen_gid);
      CPPUNIT_ASSERT(std::find(seen_groups.begin(), seen_groups.end(), gid) != seen_groups.end());
      CPPUNIT_ASSERT(std::find(seen_groups.begin(), seen_groups.end(), gid_t(0)) == seen_groups.end());
      struct stat st;
      CPPUNIT_ASSERT_EQUAL(0, stat((md + "/msg").c_str(), &st));
      CPPUNIT_ASSERT_EQUAL(uid, st.st_uid);
      // The user's ids stay in effect for the next write of this delivery, until
      // something needs root (a user lookup, round 1) or the delivery ends.
      CPPUNIT_ASSERT_EQUAL(uid, geteuid());
      CPPUNIT_ASSERT_EQUAL(gid, getegid());
      if (round == 1) CPPUNIT_ASSERT(env.user("nobody"));
      else env.end_delivery();
      CPPUNIT_ASSERT_EQUAL(uid_t(0), geteuid());
      CPPUNIT_ASSERT_EQUAL(root_egid, getegid());
      CPPUNIT_ASSERT(root_groups == groups());
    }
    // Two writes as one user, then one as another: each write has its own user's ids.
    struct passwd* other = getpwnam("daemon");
    CPPUNIT_ASSERT(other && other->pw_uid != uid);
    local::User d{"daemon", other->pw_uid, other->pw_gid, "/"};
    for (const local::User* who : {&u, &u, &d, &u}) {
      auto o = env.with_euid(*who, 10, [&] {
        seen_uid = geteuid();
        seen_gid = getegid();
        seen_groups = groups();
        return Outcome::sent("");
      });
      CPPUNIT_ASSERT(o.kind == Outcome::Kind::Sent);
      CPPUNIT_ASSERT_EQUAL(who->uid, seen_uid);
      CPPUNIT_ASSERT_EQUAL(who->gid, seen_gid);
      CPPUNIT_ASSERT(std::find(seen_groups.begin(), seen_groups.end(), gid_t(0)) == seen_groups.end());
    }
    env.end_delivery();
    CPPUNIT_ASSERT_EQUAL(uid_t(0), geteuid());
    CPPUNIT_ASSERT(root_groups == groups());
    // mbox: created by the user; a directory only root may write is refused; a link is
    // never followed.
    auto o = env.mbox(u, home + "/Mailbox", "Return-Path: <a@b>\nSubject: s\n\nbody\n");
    CPPUNIT_ASSERT_MESSAGE(o.text, o.kind == Outcome::Kind::Sent);
    struct stat st;
    CPPUNIT_ASSERT_EQUAL(0, stat((home + "/Mailbox").c_str(), &st));
    CPPUNIT_ASSERT_EQUAL(uid, st.st_uid);
    auto denied = env.mbox(u, dir.file("rootonly"), "Return-Path: <a@b>\nx\n");
    CPPUNIT_ASSERT(denied.kind == Outcome::Kind::Defer);
    CPPUNIT_ASSERT(!file::exists(dir.file("rootonly")));
    env.end_delivery();
    CPPUNIT_ASSERT(file::write_file_atomic(dir.file("secret"), "root only\n", 0600).ok());
    CPPUNIT_ASSERT_EQUAL(0, symlink(dir.file("secret").c_str(), (home + "/Linked").c_str()));
    auto linked = env.mbox(u, home + "/Linked", "Return-Path: <a@b>\nx\n");
    CPPUNIT_ASSERT(linked.kind == Outcome::Kind::Defer);
    env.end_delivery();
    CPPUNIT_ASSERT_EQUAL(std::string("root only\n"), *file::read_file(dir.file("secret")));
    // .forward and :include: are read with the user's rights: a root-only file is not.
    auto secret = env.read_owned(dir.file("secret"), u);
    CPPUNIT_ASSERT(!secret.ok() && !secret.error().temporary());
    std::string fwd = home + "/.forward";
    CPPUNIT_ASSERT(file::write_file_atomic(fwd, "bob\n", 0644).ok());
    CPPUNIT_ASSERT_EQUAL(0, chown(fwd.c_str(), uid, gid));
    CPPUNIT_ASSERT_EQUAL(std::string("bob\n"), **env.read_owned(fwd, u));
    env.end_delivery();
    CPPUNIT_ASSERT_EQUAL(uid_t(0), geteuid());
    CPPUNIT_ASSERT(root_groups == groups());
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(SystemEnvTest);
