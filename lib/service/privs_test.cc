// lib/service/privs_test.cc - privilege drops, each in a child process (a drop is for
// good): the path of a non-root process (ids kept, non-dumpable), and, when the test
// runs as root, the real drop and its verification, and effective-id switches.
#include "lib/service/privs.h"

#include <grp.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cppunit/extensions/HelperMacros.h>

#include <functional>

using namespace postilion;

namespace {

constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;

// Runs fn in a child; the child's exit status is fn's first failing check (0: all held).
int in_child(const std::function<int()>& fn) {
  pid_t pid = ::fork();
  if (pid == 0) ::_exit(fn());
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
}

// Makes the child non-root first when the test runs as root (by the helper itself).
int become_non_root() {
  if (::geteuid() != 0) return 0;
  return service::drop_to(kNobody, kNogroup) ? 0 : 90;
}

}  // namespace

class PrivsTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(PrivsTest);
  CPPUNIT_TEST(non_root_keeps_ids);
  CPPUNIT_TEST(non_root_drop_to_user_is_ok);
  CPPUNIT_TEST(lookup_unknown_user_is_an_error);
  CPPUNIT_TEST(root_drop_is_for_good);
  CPPUNIT_TEST(root_drop_to_root_is_refused);
  CPPUNIT_TEST(root_switch_effective_and_back);
  CPPUNIT_TEST_SUITE_END();

 public:
  void non_root_keeps_ids() {
    CPPUNIT_ASSERT_EQUAL(0, in_child([] {
      if (int rc = become_non_root()) return rc;
      ::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
      uid_t uid = ::getuid();
      gid_t gid = ::getgid();
      if (!service::drop_to(uid + 1, gid + 1)) return 1;  // not root: nothing to drop
      if (::getuid() != uid || ::geteuid() != uid || ::getgid() != gid) return 2;
      if (::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) return 3;
      return 0;
    }));
  }

  void non_root_drop_to_user_is_ok() {
    CPPUNIT_ASSERT_EQUAL(0, in_child([] {
      if (int rc = become_non_root()) return rc;
      uid_t uid = ::getuid();
      // Any name, even an unknown one: a non-root instance runs everything as its user.
      if (!service::drop_to_user("no-such-user-postilion")) return 1;
      return ::getuid() == uid ? 0 : 2;
    }));
  }

  void lookup_unknown_user_is_an_error() {
    auto u = service::lookup_user("no-such-user-postilion");
    CPPUNIT_ASSERT(!u);
    CPPUNIT_ASSERT_EQUAL(ENOENT, u.error().code());
    auto root = service::lookup_user("root");
    CPPUNIT_ASSERT(root);
    CPPUNIT_ASSERT_EQUAL(uid_t(0), root->uid);
  }

  void root_drop_is_for_good() {
    if (::geteuid() != 0) return;  // the non-root path is covered above
    CPPUNIT_ASSERT_EQUAL(0, in_child([] {
      if (!service::drop_to(kNobody, kNogroup)) return 1;
      if (::getuid() != kNobody || ::geteuid() != kNobody) return 2;
      if (::getgid() != kNogroup || ::getegid() != kNogroup) return 3;
      gid_t groups[8];
      int n = ::getgroups(8, groups);
      if (n != 1 || groups[0] != kNogroup) return 4;
      if (::setuid(0) == 0 || ::seteuid(0) == 0) return 5;
      if (::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) return 6;
      return 0;
    }));
    // With supplementary groups given, those and no others.
    CPPUNIT_ASSERT_EQUAL(0, in_child([] {
      if (!service::drop_to(kNobody, kNogroup, {kNogroup, 12345})) return 1;
      gid_t groups[8];
      int n = ::getgroups(8, groups);
      // The kernel keeps them sorted.
      return n == 2 && groups[0] == 12345 && groups[1] == kNogroup ? 0 : 2;
    }));
  }

  void root_drop_to_root_is_refused() {
    if (::geteuid() != 0) return;
    CPPUNIT_ASSERT_EQUAL(0, in_child([] {
      auto st = service::drop_to(0, 0);
      if (st || st.error().code() != EPERM) return 1;
      return ::geteuid() == 0 ? 0 : 2;  // nothing changed
    }));
  }

  void root_switch_effective_and_back() {
    if (::geteuid() != 0) return;
    CPPUNIT_ASSERT_EQUAL(0, in_child([] {
      service::SavedIds saved = service::save_ids();
      if (!service::switch_effective(kNobody, kNogroup, {kNogroup})) return 1;
      if (::geteuid() != kNobody || ::getegid() != kNogroup || ::getuid() != 0) return 2;
      service::restore_ids(saved);
      if (::geteuid() != 0 || ::getegid() != saved.egid) return 3;
      if (!service::switch_effective(kNobody + 0, kNogroup, {})) return 4;  // again, no groups
      service::restore_ids(saved);
      return ::geteuid() == 0 ? 0 : 5;
    }));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(PrivsTest);
