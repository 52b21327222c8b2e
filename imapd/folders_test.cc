// imapd/folders_test.cc - mailbox names to Maildir++ folders and back (a tree on disk),
// and the flag letters of Maildir file names; table-driven.
#include "imapd/folders.h"

#include <sys/stat.h>

#include <cppunit/extensions/HelperMacros.h>

#include "lib/base/file.h"
#include "lib/imap/mailbox_name.h"
#include "lib/mailbox/folders.h"
#include "lib/testing/temp_dir.h"

using namespace postilion;
using namespace postilion::imapd;

class FoldersTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(FoldersTest);
  CPPUNIT_TEST(paths);
  CPPUNIT_TEST(tree);
  CPPUNIT_TEST(flags);
  CPPUNIT_TEST_SUITE_END();

 public:
  void paths() {
    struct Row {
      const char* name;
      const char* path;
    };
    const Row rows[] = {{"INBOX", "/m"}, {"Sent", "/m/.Sent"}, {"Lists/postfix", "/m/.Lists.postfix"}};
    for (const auto& r : rows) CPPUNIT_ASSERT_EQUAL_MESSAGE(r.name, std::string(r.path), folder_path("/m", r.name));
  }

  void tree() {
    testing::TempDir dir;
    std::string root = dir.path();
    for (const char* n : {"Sent", "Lists/postfix", "Lists", "caf\xc3\xa9"})
      CPPUNIT_ASSERT_MESSAGE(n, mailbox::create_folder(root, imap::to_maildir(n)).ok());
    struct stat st;
    CPPUNIT_ASSERT_EQUAL(0, ::stat(folder_path(root, "Lists/postfix").c_str(), &st));
    // Not folders: a dot file, a directory without cur/, ".." itself.
    CPPUNIT_ASSERT_EQUAL(0, ::mkdir((root + "/.nocur").c_str(), 0700));
    std::vector<std::string> want = {"Lists", "Lists/postfix", "Sent", "caf\xc3\xa9"};
    CPPUNIT_ASSERT(want == list_folders(root));
    for (const char* n : {"Sent", "Lists/postfix", "INBOX"})
      CPPUNIT_ASSERT_MESSAGE(n, mailbox::subscribe(root, imap::to_maildir(n)).ok());
    // On disk as Courier and Dovecot keep it: Maildir++ names without the leading dot.
    auto text = file::read_file(root + "/subscriptions", 4096);
    CPPUNIT_ASSERT(text.ok());
    CPPUNIT_ASSERT_EQUAL(std::string("Sent\nLists.postfix\nINBOX\n"), *text);
    std::vector<std::string> subs = {"Sent", "Lists/postfix", "INBOX"};
    CPPUNIT_ASSERT(subs == subscribed(root));
    CPPUNIT_ASSERT_EQUAL(std::string("\\Sent"), special_use("Sent"));
    CPPUNIT_ASSERT_EQUAL(std::string(""), special_use("Lists"));
  }

  void flags() {
    CPPUNIT_ASSERT_EQUAL(std::string("(\\Answered \\Seen \\Recent)"), flags_to_imap("PRS", true));
    CPPUNIT_ASSERT_EQUAL(std::string("()"), flags_to_imap("", false));
    CPPUNIT_ASSERT_EQUAL(std::string("FRS"), normalize_letters("SRFS"));
    CPPUNIT_ASSERT_EQUAL('T', flag_letter("\\Deleted"));
    CPPUNIT_ASSERT_EQUAL('\0', flag_letter("$Forwarded"));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(FoldersTest);
