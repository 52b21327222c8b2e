// lib/mailbox/folders_test.cc - Maildir++ folders: names, list, create, delete,
// rename with children, subscriptions (ours and Dovecot's format), special-use.
#include "lib/mailbox/folders.h"

#include <sys/stat.h>

#include <cppunit/extensions/HelperMacros.h>

#include "lib/base/file.h"
#include "lib/testing/temp_dir.h"

using namespace postilion;
using namespace postilion::mailbox;

class FoldersTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(FoldersTest);
  CPPUNIT_TEST(names);
  CPPUNIT_TEST(create_list_delete);
  CPPUNIT_TEST(rename_with_children);
  CPPUNIT_TEST(subscriptions_file);
  CPPUNIT_TEST(special_use);
  CPPUNIT_TEST_SUITE_END();

 public:
  void names() {
    struct Row {
      const char* name;
      bool valid;
    } rows[] = {
        {".Sent", true},      {".Lists.postfix", true}, {".a b", true},  {"Sent", false},
        {".", false},         {"", false},              {"..", false},   {".a..b", false},
        {".a.", false},       {"./x", false},           {".a/b", false}, {".a\nb", false},
        {".\x7f", false},     {"..Sent", false},
    };
    for (const auto& r : rows) CPPUNIT_ASSERT_MESSAGE(r.name, valid_folder(r.name) == r.valid);
    CPPUNIT_ASSERT(!valid_folder(std::string(2000, 'a').insert(0, ".")));
    CPPUNIT_ASSERT_EQUAL(std::string("/m"), folder_path("/m", "INBOX"));
    CPPUNIT_ASSERT_EQUAL(std::string("/m/.Sent"), folder_path("/m", ".Sent"));
  }

  void create_list_delete() {
    testing::TempDir t;
    std::string root = t.path();
    CPPUNIT_ASSERT(create_folder(root, ".Lists.postfix").ok());
    CPPUNIT_ASSERT(create_folder(root, ".Lists").ok());
    CPPUNIT_ASSERT(create_folder(root, ".Lists-old").ok());
    CPPUNIT_ASSERT_EQUAL(EEXIST, create_folder(root, ".Lists").error().code());
    CPPUNIT_ASSERT_EQUAL(EINVAL, create_folder(root, "../x").error().code());
    CPPUNIT_ASSERT(file::exists(root + "/.Lists.postfix/cur"));
    CPPUNIT_ASSERT(file::exists(root + "/.Lists.postfix/maildirfolder"));
    ::mkdir((root + "/.NotAFolder").c_str(), 0700);  // no cur/: not listed
    auto l = list_folders(root);
    CPPUNIT_ASSERT(l.ok() && l->size() == 3);
    CPPUNIT_ASSERT_EQUAL(std::string(".Lists"), (*l)[0].name);
    CPPUNIT_ASSERT((*l)[0].has_children);
    CPPUNIT_ASSERT(!(*l)[1].has_children);  // .Lists-old
    CPPUNIT_ASSERT(!(*l)[2].has_children);  // .Lists.postfix
    CPPUNIT_ASSERT(delete_folder(root, ".Lists").ok());
    CPPUNIT_ASSERT_EQUAL(ENOENT, delete_folder(root, ".Lists").error().code());
    CPPUNIT_ASSERT_EQUAL(EPERM, delete_folder(root, "INBOX").error().code());
    l = list_folders(root);
    CPPUNIT_ASSERT(l.ok() && l->size() == 2);  // the child stays
    CPPUNIT_ASSERT_EQUAL(std::string(".Lists.postfix"), (*l)[1].name);
  }

  void rename_with_children() {
    testing::TempDir t;
    std::string root = t.path();
    for (const char* f : {".A", ".A.x", ".A.x.y", ".AB", ".C"}) CPPUNIT_ASSERT(create_folder(root, f).ok());
    CPPUNIT_ASSERT(subscribe(root, ".A.x").ok());
    CPPUNIT_ASSERT(subscribe(root, ".AB").ok());
    CPPUNIT_ASSERT_EQUAL(EEXIST, rename_folder(root, ".A", ".C").error().code());
    CPPUNIT_ASSERT_EQUAL(EINVAL, rename_folder(root, ".A", ".A.x.z").error().code());
    CPPUNIT_ASSERT_EQUAL(EPERM, rename_folder(root, "INBOX", ".Z").error().code());
    CPPUNIT_ASSERT(rename_folder(root, ".A", ".B.n").ok());
    auto l = list_folders(root);
    std::vector<std::string> names;
    for (const auto& f : *l) names.push_back(f.name);
    CPPUNIT_ASSERT((names == std::vector<std::string>{".AB", ".B.n", ".B.n.x", ".B.n.x.y", ".C"}));
    auto subs = subscriptions(root);
    CPPUNIT_ASSERT(subs.ok() && (*subs == std::vector<std::string>{"B.n.x", "AB"}));
  }

  void subscriptions_file() {
    testing::TempDir t;
    std::string root = t.path();
    CPPUNIT_ASSERT(subscriptions(root)->empty());
    CPPUNIT_ASSERT(subscribe(root, ".Sent").ok());
    CPPUNIT_ASSERT(subscribe(root, ".Sent").ok());
    CPPUNIT_ASSERT(subscribe(root, "INBOX").ok());
    CPPUNIT_ASSERT_EQUAL(EINVAL, subscribe(root, "../etc").error().code());
    CPPUNIT_ASSERT_EQUAL(std::string("Sent\nINBOX\n"), *file::read_file(root + "/subscriptions"));
    CPPUNIT_ASSERT(unsubscribe(root, ".Sent").ok());
    CPPUNIT_ASSERT_EQUAL(std::string("INBOX\n"), *file::read_file(root + "/subscriptions"));
    // Dovecot's version 2, and hostile lines.
    CPPUNIT_ASSERT(file::write_file_atomic(root + "/subscriptions",
                                           "V\t2\n\nLists\tpostfix\r\nTrash\n../x\n\nTrash\n" + std::string(5000, 'a') + "\n",
                                           0600).ok());
    auto subs = subscriptions(root);
    CPPUNIT_ASSERT(subs.ok() && (*subs == std::vector<std::string>{"Lists.postfix", "Trash"}));
  }

  void special_use() {
    testing::TempDir t;
    std::string root = t.path();
    CPPUNIT_ASSERT(create_folder(root, ".Sent").ok());
    CPPUNIT_ASSERT(ensure_special_folders(root).ok());
    CPPUNIT_ASSERT(ensure_special_folders(root).ok());
    for (const auto& f : special_use_folders()) CPPUNIT_ASSERT(file::exists(root + "/" + f.name + "/new"));
    auto subs = subscriptions(root);
    CPPUNIT_ASSERT(subs.ok() && subs->size() == 4);  // .Sent existed: left as it was
    CPPUNIT_ASSERT_EQUAL(std::string("\\Junk"), special_use_folders()[3].attribute);
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(FoldersTest);
