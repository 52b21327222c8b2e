// lib/maps/map_source_test.cc - the text table parser: both syntaxes, comments,
// continuations, duplicates, malformed and hostile lines.
#include "lib/maps/map_source.h"

#include <cppunit/extensions/HelperMacros.h>

#include <string>
#include <vector>

namespace postilion::maps {
namespace {

std::string dump(const MapSource& s) {
  std::string out;
  for (auto& e : s.entries) out += e.key + "=" + e.value + "@" + std::to_string(e.line) + ";";
  for (auto& w : s.warnings) out += "W:" + w + ";";
  for (auto& e : s.errors) out += "E:" + e + ";";
  return out;
}

}  // namespace

class MapSourceTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(MapSourceTest);
  CPPUNIT_TEST(postmap_table);
  CPPUNIT_TEST(aliases_table);
  CPPUNIT_TEST(hostile_lines);
  CPPUNIT_TEST_SUITE_END();

 public:
  void postmap_table() {
    struct Row {
      std::string in;
      std::string want;
    } rows[] = {
        {"", ""},
        {"a b\n", "a=b@1;"},
        {"a b", "a=b@1;"},  // no final newline
        {"Key  Value With  Spaces  \n", "key=Value With  Spaces@1;"},
        {"a\tb\r\n", "a=b@1;"},
        {"# comment\n\n   \nx y\n", "x=y@4;"},
        {"a b\n  c\n\td\n", "a=b c d@1;"},
        {"a b\n# comment between\n  c\n", "a=b c@1;"},
        {"a b\nA c\n", "a=b@1;W:t:2: duplicate entry \"a\" ignored (first at line 1);"},
        {"lonely\n", "E:t:1: expected format: key whitespace value;"},
        {"lonely   \n", "E:t:1: expected format: key whitespace value;"},
        {"lonely\n  value\n", "lonely=value@1;"},  // a continuation supplies the value
        {"  c\na b\n", "a=b@2;E:t:1: continuation line without a preceding line;"},
        {"a b\nbad\x01 x\nc d\n", "a=b@1;c=d@3;E:t:2: control character 0x01 in line;"},
        {std::string("a b\nn\0ul x\n", 11) + "c d\n", "a=b@1;c=d@3;E:t:2: control character 0x00 in line;"},
        {"a b\n  bad\x7f\nc d\n", "c=d@3;E:t:2: control character 0x7f in line;"},
        {"user@Example.COM   smtp:[Relay.Example]\n", "user@example.com=smtp:[Relay.Example]@1;"},
        {"a b # not a comment\n", "a=b # not a comment@1;"},
    };
    for (const Row& r : rows) CPPUNIT_ASSERT_EQUAL(r.want, dump(parse_map_source(r.in, Syntax::Postmap, "t")));
  }

  void aliases_table() {
    struct Row {
      std::string in;
      std::string want;
    } rows[] = {
        {"postmaster: root\n", "postmaster=root@1;"},
        {"Root: alice, bob\n", "root=alice, bob@1;"},
        {"staff: alice,\n  bob,\n  carol\n", "staff=alice, bob, carol@1;"},
        {"list: :include:/etc/list\n", "list=:include:/etc/list@1;"},
        {"pipe: \"|/usr/bin/filter -x\"\n", "pipe=\"|/usr/bin/filter -x\"@1;"},
        {"nocolon root\n", "E:t:1: expected format: name: value;"},
        {"empty:\n", "E:t:1: alias empty has no value;"},
        {": root\n", "E:t:1: expected format: name: value;"},
        {"two words: root\n", "E:t:1: expected format: name: value;"},
        {"a: b\na: c\n", "a=b@1;W:t:2: duplicate entry \"a\" ignored (first at line 1);"},
    };
    for (const Row& r : rows) CPPUNIT_ASSERT_EQUAL(r.want, dump(parse_map_source(r.in, Syntax::Aliases, "t")));
  }

  void hostile_lines() {
    // A 100 KiB line is refused with its line number; its neighbours survive.
    std::string big = "a b\nhuge " + std::string(100 * 1024, 'x') + "\n  more\nc d\n";
    MapSource s = parse_map_source(big, Syntax::Postmap, "f");
    CPPUNIT_ASSERT_EQUAL(size_t{2}, s.entries.size());
    CPPUNIT_ASSERT_EQUAL(size_t{1}, s.errors.size());
    CPPUNIT_ASSERT_EQUAL(0, s.errors[0].compare(0, 24, "f:2: line too long (1024"));
    // Continuations cannot build a logical line past the limit either.
    std::string many = "k v\n";
    for (int i = 0; i < 100; ++i) many += "  " + std::string(1000, 'y') + "\n";
    s = parse_map_source(many, Syntax::Postmap, "f");
    CPPUNIT_ASSERT(s.entries.empty());
    CPPUNIT_ASSERT_EQUAL(size_t{1}, s.errors.size());
    // Binary garbage: errors, no crash, no entries from the garbage.
    std::string garbage;
    for (int i = 0; i < 4096; ++i) garbage += static_cast<char>((i * 131 + 7) & 0xff);
    s = parse_map_source(garbage, Syntax::Aliases, "g");
    CPPUNIT_ASSERT(!s.errors.empty());
    for (auto& e : s.entries)
      for (char c : e.key + e.value) CPPUNIT_ASSERT(static_cast<unsigned char>(c) >= 0x20 || c == '\t');
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(MapSourceTest);

}  // namespace postilion::maps
