// lib/maps/maps_test.cc - building Berkeley DB tables and looking keys up through map
// specs: hash (incl. rebuild while open), inline, static, map lists, errors.
#include "lib/maps/maps.h"

#include <cppunit/extensions/HelperMacros.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>
#include <vector>

#include "lib/base/file.h"
#include "lib/testing/temp_dir.h"

namespace postilion::maps {
namespace {

std::string get(Map& m, std::string_view key) {
  auto r = m.lookup(key);
  CPPUNIT_ASSERT_MESSAGE(r.ok() ? "" : r.error().str(), r.ok());
  return r->value_or("<none>");
}

std::unique_ptr<Map> must_open(const std::string& spec) {
  auto m = open(spec);
  CPPUNIT_ASSERT_MESSAGE(m.ok() ? "" : m.error().str(), m.ok());
  return std::move(m.value());
}

void write(const std::string& path, std::string_view text) {
  CPPUNIT_ASSERT(file::write_file_atomic(path, text, 0644).ok());
}

}  // namespace

class MapsTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(MapsTest);
  CPPUNIT_TEST(build_and_lookup);
  CPPUNIT_TEST(build_errors_keep_old_table);
  CPPUNIT_TEST(rebuild_while_open);
  CPPUNIT_TEST(aliases_build);
  CPPUNIT_TEST(inline_and_static);
  CPPUNIT_TEST(bad_specs_and_missing_files);
  CPPUNIT_TEST(map_list_first_match);
  CPPUNIT_TEST_SUITE_END();

 public:
  void build_and_lookup() {
    postilion::testing::TempDir tmp;
    std::string path = tmp.file("virtual");
    write(path,
          "# virtual mailboxes\n"
          "Alice@Example.ORG   alice@mail.example.org\n"
          "\n"
          "bob@example.org     bob1@x,\n"
          "    bob2@x\n"
          "bob@EXAMPLE.org     ignored@x\n"
          "carol@example.org\tcarol@y  \n");
    std::vector<std::string> warnings;
    CPPUNIT_ASSERT(build(path, {}, &warnings).ok());
    CPPUNIT_ASSERT_EQUAL(size_t{1}, warnings.size());
    CPPUNIT_ASSERT_EQUAL(path + ":6: duplicate entry \"bob@example.org\" ignored (first at line 4)", warnings[0]);
    struct stat st;
    CPPUNIT_ASSERT_EQUAL(0, ::stat((path + ".db").c_str(), &st));
    CPPUNIT_ASSERT_EQUAL(0644u, unsigned{st.st_mode & 0777u});
    auto m = must_open("hash:" + path);
    struct Row {
      const char* key;
      const char* want;
    } rows[] = {
        {"alice@example.org", "alice@mail.example.org"},
        {"ALICE@EXAMPLE.ORG", "alice@mail.example.org"},
        {"bob@example.org", "bob1@x, bob2@x"},
        {"carol@example.org", "carol@y"},
        {"dave@example.org", "<none>"},
        {"", "<none>"},
        {"alice@example.org ", "<none>"},
    };
    for (const Row& r : rows) CPPUNIT_ASSERT_EQUAL_MESSAGE(r.key, std::string(r.want), get(*m, r.key));
    CPPUNIT_ASSERT_EQUAL("hash:" + path, m->spec());
    // No temporary files are left beside the table.
    int n = 0;
    for (auto& e : std::filesystem::directory_iterator(tmp.path())) n += e.is_regular_file();
    CPPUNIT_ASSERT_EQUAL(2, n);
  }

  void build_errors_keep_old_table() {
    postilion::testing::TempDir tmp;
    std::string path = tmp.file("access");
    write(path, "1.2.3.4 REJECT\n");
    CPPUNIT_ASSERT(build(path).ok());
    write(path, "1.2.3.4 OK\nnovalue\n5.6.7.8 OK\n" + std::string("x ") + std::string(100 * 1024, 'v') + "\n");
    Status st = build(path);
    CPPUNIT_ASSERT(!st.ok());
    CPPUNIT_ASSERT(!st.error().temporary());
    CPPUNIT_ASSERT_EQUAL(path + ":2: expected format: key whitespace value\n" + path +
                             ":4: line too long (102402 bytes, limit 65536)",
                         st.error().str());
    auto m = must_open("hash:" + path);
    CPPUNIT_ASSERT_EQUAL(std::string("REJECT"), get(*m, "1.2.3.4"));
    // Missing source file.
    Status missing = build(tmp.file("nope"));
    CPPUNIT_ASSERT(!missing.ok());
    CPPUNIT_ASSERT_EQUAL(ENOENT, missing.error().code());
  }

  void rebuild_while_open() {
    postilion::testing::TempDir tmp;
    std::string path = tmp.file("transport");
    write(path, "example.org smtp:[a]\n");
    CPPUNIT_ASSERT(build(path).ok());
    auto m = must_open("hash:" + path);
    CPPUNIT_ASSERT_EQUAL(std::string("smtp:[a]"), get(*m, "example.org"));
    for (int i = 0; i < 3; ++i) {
      std::string v = "smtp:[b" + std::to_string(i) + "]";
      write(path, "example.org " + v + "\nnew" + std::to_string(i) + ".org local:\n");
      CPPUNIT_ASSERT(build(path).ok());
      CPPUNIT_ASSERT_EQUAL(v, get(*m, "example.org"));
      CPPUNIT_ASSERT_EQUAL(std::string("local:"), get(*m, "new" + std::to_string(i) + ".org"));
    }
    // The table disappears: an error (callers defer), not "no such key".
    CPPUNIT_ASSERT_EQUAL(0, ::unlink((path + ".db").c_str()));
    auto r = m->lookup("example.org");
    CPPUNIT_ASSERT(!r.ok());
    CPPUNIT_ASSERT(r.error().temporary());
    // And it comes back.
    CPPUNIT_ASSERT(build(path).ok());
    CPPUNIT_ASSERT_EQUAL(std::string("smtp:[b2]"), get(*m, "example.org"));
  }

  void aliases_build() {
    postilion::testing::TempDir tmp;
    std::string path = tmp.file("aliases");
    write(path,
          "# aliases(5)\n"
          "postmaster: root\n"
          "Staff: alice,\n"
          "\tbob\n"
          "list: :include:/etc/postilion/list\n");
    CPPUNIT_ASSERT(build(path, {.syntax = Syntax::Aliases, .mode = 0640}).ok());
    auto m = must_open("hash:" + path);
    CPPUNIT_ASSERT_EQUAL(std::string("root"), get(*m, "postmaster"));
    CPPUNIT_ASSERT_EQUAL(std::string("alice, bob"), get(*m, "staff"));
    CPPUNIT_ASSERT_EQUAL(std::string(":include:/etc/postilion/list"), get(*m, "LIST"));
    struct stat st;
    CPPUNIT_ASSERT_EQUAL(0, ::stat((path + ".db").c_str(), &st));
    CPPUNIT_ASSERT_EQUAL(0640u, unsigned{st.st_mode & 0777u});
    // Postmap syntax on an aliases file: "postmaster:" would be the key.
    CPPUNIT_ASSERT(build(path).ok());
    auto m2 = must_open("hash:" + path);
    CPPUNIT_ASSERT_EQUAL(std::string("root"), get(*m2, "postmaster:"));
  }

  void inline_and_static() {
    auto m = must_open("inline:{ Key=value, key2 = value two , k3={a, b}, {k4 = x=y} }");
    struct Row {
      const char* key;
      const char* want;
    } rows[] = {{"key", "value"},  {"KEY", "value"}, {"key2", "value two"},
                {"k3", "a, b"},    {"k4", "x=y"},    {"missing", "<none>"}};
    for (const Row& r : rows) CPPUNIT_ASSERT_EQUAL_MESSAGE(r.key, std::string(r.want), get(*m, r.key));
    auto s = must_open("static:OK");
    CPPUNIT_ASSERT_EQUAL(std::string("OK"), get(*s, "anything"));
    CPPUNIT_ASSERT_EQUAL(std::string("OK"), get(*s, ""));
    auto s2 = must_open("static:{550 5.7.1 go away}");
    CPPUNIT_ASSERT_EQUAL(std::string("550 5.7.1 go away"), get(*s2, "x"));
    CPPUNIT_ASSERT_EQUAL(std::string(""), get(*must_open("inline:{}"), "x") == "<none>" ? std::string() : "found");
  }

  void bad_specs_and_missing_files() {
    postilion::testing::TempDir tmp;
    struct Row {
      std::string spec;
      bool permanent;
    } rows[] = {
        {"", true},
        {"/etc/aliases", true},
        {"btree:/etc/aliases", true},
        {"hash:relative/path", true},
        {"inline:{a=b", true},
        {"inline:a=b", true},
        {"inline:{a}", true},
        {"inline:{=b}", true},
        {"hash:" + tmp.file("missing"), false},
    };
    for (const Row& r : rows) {
      auto m = open(r.spec);
      CPPUNIT_ASSERT_MESSAGE(r.spec, !m.ok());
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.spec, r.permanent, !m.error().temporary());
    }
    // A file that is not a Berkeley DB table.
    write(tmp.file("text.db"), "just text\n");
    CPPUNIT_ASSERT(!open("hash:" + tmp.file("text")).ok());
  }

  void map_list_first_match() {
    postilion::testing::TempDir tmp;
    std::string path = tmp.file("aliases");
    write(path, "root: admin\npostmaster: root\n");
    CPPUNIT_ASSERT(build(path, {.syntax = Syntax::Aliases}).ok());
    auto list = MapList::open("inline:{root=first, x={1, 2}}, hash:" + path + "  static:fallback");
    CPPUNIT_ASSERT_MESSAGE(list.ok() ? "" : list.error().str(), list.ok());
    CPPUNIT_ASSERT_EQUAL(size_t{3}, list->size());
    CPPUNIT_ASSERT_EQUAL(std::string("first"), list->lookup("ROOT")->value());
    CPPUNIT_ASSERT_EQUAL(std::string("1, 2"), list->lookup("x")->value());
    CPPUNIT_ASSERT_EQUAL(std::string("root"), list->lookup("postmaster")->value());
    CPPUNIT_ASSERT_EQUAL(std::string("fallback"), list->lookup("anyone")->value());
    // A table that fails stops the search: no answer from later maps.
    CPPUNIT_ASSERT_EQUAL(0, ::unlink((path + ".db").c_str()));
    CPPUNIT_ASSERT(!list->lookup("anyone").ok());
    CPPUNIT_ASSERT_EQUAL(std::string("first"), list->lookup("root")->value());
    auto empty = MapList::open("");
    CPPUNIT_ASSERT(empty.ok() && empty->empty());
    CPPUNIT_ASSERT(!empty->lookup("x")->has_value());
    CPPUNIT_ASSERT(!MapList::open("hash:/x, nonsense").ok());
    CPPUNIT_ASSERT((split_specs("a:b, c:{d, e}\tf:g") == std::vector<std::string>{"a:b", "c:{d, e}", "f:g"}));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(MapsTest);

}  // namespace postilion::maps
