// lib/log/log_test.cc - log lines reach the file whole and in Postfix's shape, and
// syslog gets them as postilion/<service>[pid] with facility mail.
#include "lib/log/log.h"

#include <cppunit/extensions/HelperMacros.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/testing/temp_dir.h"

using namespace postilion;

namespace {

bool write_text(const char* path, const std::string& text) {
  UniqueFd fd(::open(path, O_WRONLY | O_CLOEXEC));
  return fd && file::write_all(fd.get(), text);
}

// A child process's half of syslog_tag_and_facility: in a mount namespace of its own
// (with a user namespace when not root) it puts a tmpfs on /dev, so that the datagram
// socket it binds at /dev/log is what syslog(3) sends to, and nothing outside sees it.
// Logs through use_syslog() (or use_syslog(facility) when facility >= 0) and writes
// each datagram received, or "error: ...", to out; returns the exit status.
int syslog_child(int out, int facility) {
  auto fail = [out](const char* what) {
    std::string text = str::format("error: %s: %s", what, std::strerror(errno));
    (void)file::write_all(out, text);
    return 1;
  };
  if (::unshare(CLONE_NEWNS) != 0) {
    uid_t uid = ::getuid();
    gid_t gid = ::getgid();
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) return fail("unshare");
    if (!write_text("/proc/self/setgroups", "deny") ||
        !write_text("/proc/self/uid_map", str::format("0 %d 1", static_cast<int>(uid))) ||
        !write_text("/proc/self/gid_map", str::format("0 %d 1", static_cast<int>(gid))))
      return fail("user namespace maps");
  }
  // Private first: the tmpfs must not reach the parent's namespace. In a chroot "/" is
  // no mount point (EINVAL); there the /dev mount it holds is made private instead.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 &&
      ::mount(nullptr, "/dev", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    return fail("mount --make-rprivate / (and /dev)");
  if (::mount("tmpfs", "/dev", "tmpfs", 0, "mode=0755") != 0) return fail("mount tmpfs on /dev");
  UniqueFd sock(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strcpy(sa.sun_path, "/dev/log");
  if (!sock || ::bind(sock.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return fail("bind /dev/log");
  timeval tv{5, 0};
  ::setsockopt(sock.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  // As service::run sets up a daemon without maillog_file.
  log::init("smtpd");
  if (facility >= 0)
    log::use_syslog(facility);
  else
    log::use_syslog();
  log::init("smtpd");
  log::info("%s: client=%s", "4F3A2B1C9D", "host[192.0.2.7]");
  log::warn("disk %d%% full", 95);
  log::info_as("pickup", "%s: uid=%d from=<%s>", "4F3A2B1C9E", 1000, "alice");
  log::info("%s: removed", "4F3A2B1C9E");  // this program's own name again
  for (int i = 0; i < 4; ++i) {
    char buf[8192];
    ssize_t n = ::recv(sock.get(), buf, sizeof buf, 0);
    if (n < 0) return fail("recv from /dev/log");
    (void)file::write_all(out, std::string(buf, static_cast<size_t>(n)) + "\n");
  }
  ::closelog();
  return 0;
}

}  // namespace

class LogTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(LogTest);
  CPPUNIT_TEST(file_lines_have_postfix_shape);
  CPPUNIT_TEST(severity_prefixes);
  CPPUNIT_TEST(info_as_another_service);
  CPPUNIT_TEST(missing_directory_keeps_sink);
  CPPUNIT_TEST(long_and_repeated_lines);
  CPPUNIT_TEST(syslog_tag_and_facility);
  CPPUNIT_TEST(facility_names);
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

  void info_as_another_service() {
    testing::TempDir dir;
    log::init("qmgr", "postilion-out");
    CPPUNIT_ASSERT(log::use_file(dir.file("maillog")));
    log::info_as("pickup", "%s: uid=%d from=<%s>", "4F3A2B1C9D", 0, "root");
    log::info("%s: removed", "4F3A2B1C9D");
    auto text = file::read_file(dir.file("maillog"));
    CPPUNIT_ASSERT(text.ok());
    auto lines = str::split_exact(*text, '\n');
    CPPUNIT_ASSERT_EQUAL(size_t(3), lines.size());
    std::string pickup = str::format("postilion-out/pickup[%d]: 4F3A2B1C9D: uid=0 from=<root>", getpid());
    std::string qmgr = str::format("postilion-out/qmgr[%d]: 4F3A2B1C9D: removed", getpid());
    CPPUNIT_ASSERT_MESSAGE(lines[0], lines[0].size() > pickup.size() &&
                                         lines[0].substr(lines[0].size() - pickup.size()) == pickup);
    CPPUNIT_ASSERT_MESSAGE(lines[1], lines[1].size() > qmgr.size() &&
                                         lines[1].substr(lines[1].size() - qmgr.size()) == qmgr);
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

  // What a daemon without maillog_file sends to syslog: the tag postilion/smtpd[pid],
  // facility mail, the severity of the call (<22> is mail.info, <20> mail.warning);
  // with syslog_facility = local3, <158> and <156>. info_as() tags one line with
  // another name, and the next has the program's own again.
  void syslog_tag_and_facility() {
    check_syslog(-1, "<22>", "<20>");
    check_syslog(LOG_LOCAL3, "<158>", "<156>");
  }

  void check_syslog(int facility, const std::string& info_pri, const std::string& warn_pri) {
    int fds[2];
    CPPUNIT_ASSERT_EQUAL(0, ::pipe2(fds, O_CLOEXEC));
    UniqueFd rd(fds[0]), wr(fds[1]);
    pid_t pid = ::fork();
    CPPUNIT_ASSERT(pid >= 0);
    if (pid == 0) {
      rd.reset();
      ::_exit(syslog_child(wr.get(), facility));
    }
    wr.reset();
    std::string got;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(rd.get(), buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
      if (n > 0) got.append(buf, static_cast<size_t>(n));
    int status = 0;
    CPPUNIT_ASSERT_EQUAL(pid, ::waitpid(pid, &status, 0));
    CPPUNIT_ASSERT_MESSAGE(got, WIFEXITED(status) && WEXITSTATUS(status) == 0);
    auto lines = str::split_exact(got, '\n');
    CPPUNIT_ASSERT_EQUAL(size_t(5), lines.size());
    CPPUNIT_ASSERT(lines[4].empty());
    std::string smtpd = str::format(" postilion/smtpd[%d]: ", static_cast<int>(pid));
    std::string pickup = str::format(" postilion/pickup[%d]: ", static_cast<int>(pid));
    struct Want {
      const std::string& pri;
      const std::string& tag;
      std::string text;
    };
    const Want want[] = {{info_pri, smtpd, "4F3A2B1C9D: client=host[192.0.2.7]"},
                         {warn_pri, smtpd, "warning: disk 95% full"},
                         {info_pri, pickup, "4F3A2B1C9E: uid=1000 from=<alice>"},
                         {info_pri, smtpd, "4F3A2B1C9E: removed"}};
    for (size_t i = 0; i < 4; ++i) {
      const std::string& l = lines[i];
      CPPUNIT_ASSERT_MESSAGE(l, l.compare(0, want[i].pri.size(), want[i].pri) == 0);
      size_t at = l.find(want[i].tag);
      CPPUNIT_ASSERT_MESSAGE(l, at != std::string::npos);
      CPPUNIT_ASSERT_EQUAL(want[i].text, l.substr(at + want[i].tag.size()));
    }
  }

  void facility_names() {
    CPPUNIT_ASSERT_EQUAL(LOG_MAIL, log::facility_named("mail").value_or(-1));
    CPPUNIT_ASSERT_EQUAL(LOG_DAEMON, log::facility_named("daemon").value_or(-1));
    CPPUNIT_ASSERT_EQUAL(LOG_USER, log::facility_named("user").value_or(-1));
    CPPUNIT_ASSERT_EQUAL(LOG_LOCAL0, log::facility_named("local0").value_or(-1));
    CPPUNIT_ASSERT_EQUAL(LOG_LOCAL7, log::facility_named("local7").value_or(-1));
    for (const char* bad : {"", "Mail", "mail ", "local8", "kern", "auth", "authpriv", "16"})
      CPPUNIT_ASSERT_MESSAGE(bad, !log::facility_named(bad));
  }

  void missing_directory_keeps_sink() {
    log::use_stderr();
    CPPUNIT_ASSERT(!log::use_file("/nonexistent-dir/x/maillog"));
    CPPUNIT_ASSERT(log::sink() == log::Sink::Stderr);
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(LogTest);
