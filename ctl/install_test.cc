// ctl/install_test.cc - install's mailbox services kept in step with what is installed:
// added when their program is there and master.conf lacks them, taken out (with their
// continuation lines) when it is gone, nothing else touched.
#include <cppunit/extensions/HelperMacros.h>

#include <set>
#include <string>
#include <vector>

#include "ctl/instance.h"

using namespace postilion;

namespace {

const char* const kTemplate =
    "# master.conf - the service table\n"
    "25                  inet  n       -      n      -      -       smtpd\n"
    "143                 inet  n       n      n      -      -       imapd\n"
    "993                 inet  n       n      n      -      -       imapd -o imapd_tls_wrappermode=yes\n"
    "110                 inet  n       n      n      -      -       pop3d\n"
    "qmgr                unix  -       -      n      60     1       qmgr\n";

std::string in_step(const std::string& text, std::set<std::string> installed, std::vector<std::string>* changes) {
  return ctl::mailbox_services_in_step(
      text, kTemplate, [&](const std::string& p) { return installed.count(p) > 0; }, changes);
}

}  // namespace

class InstallTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(InstallTest);
  CPPUNIT_TEST(adds_what_is_installed_and_missing);
  CPPUNIT_TEST(takes_out_what_is_gone);
  CPPUNIT_TEST(keeps_what_is_in_step);
  CPPUNIT_TEST(odd_and_hostile_text);
  CPPUNIT_TEST_SUITE_END();

 public:
  void adds_what_is_installed_and_missing() {
    const std::string conf = "25 inet n - n - - smtpd\nqmgr unix - - n 60 1 qmgr\n";
    std::vector<std::string> changes;
    std::string out = in_step(conf, {"imapd", "pop3d"}, &changes);
    CPPUNIT_ASSERT_EQUAL(std::string(conf +
                                     "143                 inet  n       n      n      -      -       imapd\n"
                                     "993                 inet  n       n      n      -      -       imapd -o "
                                     "imapd_tls_wrappermode=yes\n"
                                     "110                 inet  n       n      n      -      -       pop3d\n"),
                         out);
    CPPUNIT_ASSERT_EQUAL(size_t(3), changes.size());
    CPPUNIT_ASSERT(changes[0].starts_with("added: 143 "));
    // Only what is installed.
    changes.clear();
    out = in_step(conf, {"pop3d"}, &changes);
    CPPUNIT_ASSERT_EQUAL(conf + "110                 inet  n       n      n      -      -       pop3d\n", out);
    CPPUNIT_ASSERT_EQUAL(size_t(1), changes.size());
  }

  void takes_out_what_is_gone() {
    const std::string conf =
        "# comment naming imapd stays\n"
        "25 inet n - n - - smtpd\n"
        "143 inet n n n - - imapd\n"
        "  -o imapd_plaintext_auth=no\n"
        "\t-o imapd_timeout=60s\n"
        "110 inet n n n - - pop3d\n"
        "  -o pop3d_timeout=60s\n"
        "qmgr unix - - n 60 1 qmgr\n"
        "  -o max_idle=10s\n";
    std::vector<std::string> changes;
    std::string out = in_step(conf, {"pop3d"}, &changes);
    CPPUNIT_ASSERT_EQUAL(std::string("# comment naming imapd stays\n"
                                     "25 inet n - n - - smtpd\n"
                                     "110 inet n n n - - pop3d\n"
                                     "  -o pop3d_timeout=60s\n"
                                     "qmgr unix - - n 60 1 qmgr\n"
                                     "  -o max_idle=10s\n"),
                         out);
    CPPUNIT_ASSERT_EQUAL(size_t(1), changes.size());
    CPPUNIT_ASSERT(changes[0].starts_with("taken out (imapd is not installed): 143 "));
    changes.clear();
    out = in_step(conf, {}, &changes);
    CPPUNIT_ASSERT_EQUAL(std::string("# comment naming imapd stays\n25 inet n - n - - smtpd\n"
                                     "qmgr unix - - n 60 1 qmgr\n  -o max_idle=10s\n"),
                         out);
    CPPUNIT_ASSERT_EQUAL(size_t(2), changes.size());
  }

  void keeps_what_is_in_step() {
    // The administrator's own lines (another port, options) count as present: nothing added.
    const std::string conf =
        "25 inet n - n - - smtpd\n"
        "[192.0.2.1]:1143 inet n n n - - imapd -o imapd_plaintext_auth=no\n"
        "10110 inet n n n - - pop3d\n";
    std::vector<std::string> changes;
    CPPUNIT_ASSERT_EQUAL(conf, in_step(conf, {"imapd", "pop3d"}, &changes));
    CPPUNIT_ASSERT(changes.empty());
    // No mailbox program installed and none in master.conf: untouched, byte for byte
    // (no final newline added either).
    const std::string bare = "25 inet n - n - - smtpd";
    CPPUNIT_ASSERT_EQUAL(bare, in_step(bare, {}, &changes));
    CPPUNIT_ASSERT(changes.empty());
  }

  void odd_and_hostile_text() {
    std::vector<std::string> changes;
    // Short lines, blank lines, a continuation line at the very top, CRs, and a program
    // only named inside a longer word: none of them is a mailbox service.
    const std::string odd =
        "  -o stray=1\n"
        "\n"
        "imapd\n"
        "143 inet n n n - -\n"
        "25 inet n - n - - smtpd -o x=imapd\n"
        "26 inet n - n - - imapd2\n"
        "27 inet n - n - - /usr/lib/postilion/imapd\n";
    CPPUNIT_ASSERT_EQUAL(odd, in_step(odd, {}, &changes));
    CPPUNIT_ASSERT(changes.empty());
    // A long file with one mailbox line deep inside: only that line (and its
    // continuation) goes.
    std::string big, want;
    for (int i = 0; i < 5000; ++i) {
      std::string line = "svc" + std::to_string(i) + " unix - - n - - smtp\n";
      big += line;
      want += line;
      if (i == 2500) big += "110 inet n n n - - pop3d\n  -o pop3d_timeout=1s\n";
    }
    CPPUNIT_ASSERT_EQUAL(want, in_step(big, {}, &changes));
    CPPUNIT_ASSERT_EQUAL(size_t(1), changes.size());
    // A line of 100,000 characters is kept as it is.
    changes.clear();
    std::string huge = "# " + std::string(100000, 'x') + "\n";
    CPPUNIT_ASSERT_EQUAL(huge, in_step(huge, {}, &changes));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(InstallTest);
