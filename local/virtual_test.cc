// local/virtual_test.cc - virtual(8)'s rules: mailbox path checks (hostile values), uid
// and gid values, lookup keys, the uid/gid lookup order and limits, unknown users, the
// Delivered-To loop, and real Maildir and mbox deliveries into a temp dir (as root: as
// a uid without an account; otherwise as the invoking user).
#include "local/virtual.h"

#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>

#include <map>
#include <string>
#include <vector>

#include <cppunit/extensions/HelperMacros.h>

#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/mailbox/maildir.h"
#include "lib/testing/temp_dir.h"
#include "local/agent.h"

using namespace postilion;
using local::Outcome;

namespace {

using Table = std::map<std::string, std::string>;

local::VirtualTables::Lookup table(Table t) {
  // Keys are case-insensitive, as in lib/maps.
  return [t](const std::string& key) -> Result<std::optional<std::string>> {
    auto it = t.find(str::lower(key));
    if (it == t.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  };
}

local::VirtualTables::Lookup failing() {
  return [](const std::string&) -> Result<std::optional<std::string>> { return Error("db broken", EIO); };
}

bool root() { return ::geteuid() == 0; }
// The mailbox owner: a uid without an account as root, else this process's own ids.
uid_t owner_uid() { return root() ? 54321 : ::getuid(); }
gid_t owner_gid() { return root() ? 54321 : ::getgid(); }

local::SystemEnv make_env(uint64_t mbox_limit = 0) {
  local::SystemSettings s;
  s.root = root();
  s.self_uid = ::getuid();
  s.mailbox_size_limit = mbox_limit;
  s.size_limit_name = "virtual_mailbox_limit";
  s.write_time_limit = 30;
  return local::SystemEnv(s, nullptr,
                          [](const std::string& dir, const std::string& text) -> Status {
                            auto d = mailbox::deliver(dir, text);
                            if (!d) return d.error();
                            return {};
                          },
                          nullptr);
}

// A base folder owned by the mailbox owner, reachable by it.
struct Base {
  testing::TempDir dir;
  std::string path = dir.file("vmail");
  Base() {
    ::chmod(dir.path().c_str(), 0755);
    ::mkdir(path.c_str(), 0755);
    if (root() && ::chown(path.c_str(), owner_uid(), owner_gid()) != 0) std::abort();
  }
};

std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  while (auto* e = ::readdir(d))
    if (e->d_name[0] != '.') out.push_back(dir + "/" + e->d_name);
  ::closedir(d);
  return out;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

class VirtualTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(VirtualTest);
  CPPUNIT_TEST(mailbox_paths);
  CPPUNIT_TEST(ids);
  CPPUNIT_TEST(owner_rules);
  CPPUNIT_TEST(unknown_user_and_loop);
  CPPUNIT_TEST(maildir_and_mbox_delivery);
  CPPUNIT_TEST(hostile_folders);
  CPPUNIT_TEST(agent_style_in_replies);
  CPPUNIT_TEST_SUITE_END();

 public:
  void mailbox_paths() {
    struct Row {
      const char* base;
      std::string value;
      const char* path;  // nullptr: refused
      const char* why;   // part of the reason when refused
      bool maildir;
      std::vector<std::string> parents;
    };
    const Row rows[] = {
        {"/srv/vmail", "example.test/alice/", "/srv/vmail/example.test/alice/", "", true, {"example.test"}},
        {"/srv/vmail/", "example.test/bob", "/srv/vmail/example.test/bob", "", false, {"example.test"}},
        {"/srv/vmail", "alice/", "/srv/vmail/alice/", "", true, {}},
        {"/srv/vmail", "a//b///c/", "/srv/vmail/a/b/c/", "", true, {"a", "b"}},
        {"/srv/vmail", "a/b.c/..d/mbox", "/srv/vmail/a/b.c/..d/mbox", "", false, {"a", "b.c", "..d"}},
        {"/", "x/", "/x/", "", true, {}},
        {"", "alice/", nullptr, "virtual_mailbox_base is not set", false, {}},
        {"srv/vmail", "alice/", nullptr, "not an absolute path", false, {}},
        {"/srv/vmail", "", nullptr, "empty mailbox path", false, {}},
        {"/srv/vmail", "/", nullptr, "absolute", false, {}},
        {"/srv/vmail", "//", nullptr, "absolute", false, {}},
        {"/srv/vmail", "/etc/passwd", nullptr, "absolute", false, {}},
        {"/srv/vmail", "../x/", nullptr, "\"..\"", false, {}},
        {"/srv/vmail", "a/../../x", nullptr, "\"..\"", false, {}},
        {"/srv/vmail", "a/..", nullptr, "\"..\"", false, {}},
        {"/srv/vmail", "..", nullptr, "\"..\"", false, {}},
        {"/srv/vmail", "./x/", nullptr, "\".\"", false, {}},
        {"/srv/vmail", "a/./b", nullptr, "\".\"", false, {}},
        {"/srv/vmail", std::string("a\0b/", 4), nullptr, "control character", false, {}},
        {"/srv/vmail", "a\nb/", nullptr, "control character", false, {}},
        {"/srv/vmail", "a\rb", nullptr, "control character", false, {}},
        {"/srv/vmail", "a\x7f/", nullptr, "control character", false, {}},
        {"/srv/vmail", std::string(local::kMaxMailboxValue + 1, 'a'), nullptr, "too long", false, {}},
        {"/srv/vmail", std::string(local::kMaxMailboxValue, 'a'), "", "", false, {}},
    };
    for (const auto& r : rows) {
      auto m = local::virtual_mailbox(r.base, r.value);
      std::string name = std::string(r.base) + " + " + r.value.substr(0, 40);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(name, r.path != nullptr, bool(m));
      if (!m) {
        CPPUNIT_ASSERT_MESSAGE(name + ": " + m.error().str(), contains(m.error().str(), r.why));
        CPPUNIT_ASSERT_MESSAGE(name, !m.error().temporary());
        continue;
      }
      if (*r.path) CPPUNIT_ASSERT_EQUAL_MESSAGE(name, std::string(r.path), m->path);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(name, r.maildir, m->maildir);
      CPPUNIT_ASSERT_MESSAGE(name, r.parents == m->parents);
    }
  }

  void ids() {
    struct Row {
      const char* value;
      bool ok;
      uint32_t id;
    };
    const Row rows[] = {
        {"1000", true, 1000},  {" 5000\t", true, 5000}, {"0", true, 0},          {"4294967294", true, 4294967294u},
        {"4294967295", false, 0}, {"99999999999", false, 0}, {"", false, 0},      {" ", false, 0},
        {"-1", false, 0},      {"+5", false, 0},       {"12a", false, 0},        {"1 2", false, 0},
        {"0x10", false, 0},    {"static:5", false, 0}, {"5\n6", false, 0},
    };
    for (const auto& r : rows) {
      auto id = local::parse_virtual_id(r.value);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.value, r.ok, bool(id));
      if (id) CPPUNIT_ASSERT_EQUAL_MESSAGE(r.value, r.id, *id);
    }
  }

  // The uid/gid rules, before any write: each row either defers with its reason or gets
  // as far as delivering (into a real base).
  void owner_rules() {
    Base base;
    auto env = make_env();
    std::string me = std::to_string(owner_uid()), my_gid = std::to_string(owner_gid());
    struct Row {
      const char* name;
      Table uids, gids;
      uint64_t minimum;
      Outcome::Kind kind;
      const char* text;  // part of the outcome text
    };
    const std::vector<Row> rows = {
        {"address entry", {{"ann@virt.test", me}}, {{"ann@virt.test", my_gid}}, 1, Outcome::Kind::Sent, "maildir"},
        {"@domain entry", {{"@virt.test", me}}, {{"@virt.test", my_gid}}, 1, Outcome::Kind::Sent, "maildir"},
        {"address beats @domain", {{"ann@virt.test", me}, {"@virt.test", "nonsense"}}, {{"@virt.test", my_gid}}, 1,
         Outcome::Kind::Sent, "maildir"},
        {"no uid entry", {{"bob@virt.test", me}}, {{"@virt.test", my_gid}}, 1, Outcome::Kind::Defer,
         "no virtual_uid_maps entry for ann@virt.test"},
        {"no gid entry", {{"@virt.test", me}}, {}, 1, Outcome::Kind::Defer, "no virtual_gid_maps entry"},
        {"bad uid", {{"@virt.test", "vmail"}}, {{"@virt.test", my_gid}}, 1, Outcome::Kind::Defer,
         "virtual_uid_maps value for ann@virt.test: not a number"},
        {"bad gid", {{"@virt.test", me}}, {{"@virt.test", "-1"}}, 1, Outcome::Kind::Defer, "virtual_gid_maps value"},
        {"uid 0", {{"@virt.test", "0"}}, {{"@virt.test", my_gid}}, 0, Outcome::Kind::Defer,
         "mail system configuration error: uid 0 of ann@virt.test is below virtual_minimum_uid"},
        {"below minimum", {{"@virt.test", me}}, {{"@virt.test", my_gid}}, uint64_t(owner_uid()) + 1,
         Outcome::Kind::Defer, "is below virtual_minimum_uid"},
        {"gid 0", {{"@virt.test", me}}, {{"@virt.test", "0"}}, 1, Outcome::Kind::Defer, "gid 0 for ann@virt.test"},
    };
    for (const auto& r : rows) {
      local::VirtualSettings s{base.path, r.minimum, "+"};
      local::VirtualTables t{table({{"ann@virt.test", "virt.test/ann/"}}), table(r.uids), table(r.gids)};
      std::vector<std::string> warnings;
      local::Delivery d{"QID", "from@example.org", "ann@virt.test", "Subject: x\n\nbody\n"};
      Outcome o = local::deliver_virtual(s, t, env, d, &warnings);
      CPPUNIT_ASSERT_MESSAGE(std::string(r.name) + ": " + o.text, r.kind == o.kind);
      CPPUNIT_ASSERT_MESSAGE(std::string(r.name) + ": " + o.text, contains(o.text, r.text));
      if (o.kind == Outcome::Kind::Defer) {
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.name, std::string("4.3.5"), o.dsn);
        CPPUNIT_ASSERT_MESSAGE(r.name, warnings.size() == 1 && warnings[0] == o.text);
      }
    }
    // A table that cannot be read defers (never bounces).
    local::VirtualSettings s{base.path, 1, "+"};
    local::Delivery d{"QID", "from@example.org", "ann@virt.test", "Subject: x\n\nbody\n"};
    for (int broken = 0; broken < 3; ++broken) {
      local::VirtualTables t{table({{"ann@virt.test", "virt.test/ann/"}}), table({{"@virt.test", me}}),
                             table({{"@virt.test", my_gid}})};
      (broken == 0 ? t.mailbox : broken == 1 ? t.uid : t.gid) = failing();
      Outcome o = local::deliver_virtual(s, t, env, d);
      CPPUNIT_ASSERT_MESSAGE(o.text, o.kind == Outcome::Kind::Defer && contains(o.text, "lookup failed: db broken"));
    }
    if (!root()) {
      // Not root: only this process's own uid can be written as.
      local::VirtualTables t{table({{"ann@virt.test", "virt.test/ann/"}}),
                             table({{"@virt.test", std::to_string(owner_uid() + 1)}}), table({{"@virt.test", my_gid}})};
      Outcome o = local::deliver_virtual(s, t, env, d);
      CPPUNIT_ASSERT_MESSAGE(o.text, o.kind == Outcome::Kind::Defer && contains(o.text, "without root privileges"));
    }
  }

  void unknown_user_and_loop() {
    Base base;
    auto env = make_env();
    std::string me = std::to_string(owner_uid()), my_gid = std::to_string(owner_gid());
    local::VirtualSettings s{base.path, 1, "+"};
    local::VirtualTables t{table({{"ann@virt.test", "virt.test/ann/"}, {"@catch.test", "catch/"}}),
                           table({{"@virt.test", me}, {"@catch.test", me}}),
                           table({{"@virt.test", my_gid}, {"@catch.test", my_gid}})};
    struct Row {
      const char* rcpt;
      const char* content;
      Outcome::Kind kind;
      const char* dsn;
      const char* text;
    };
    const Row rows[] = {
        {"nobody@virt.test", "Subject: x\n\nbody\n", Outcome::Kind::Bounce, "5.1.1", "user unknown in virtual mailbox table"},
        {"ann@other.test", "Subject: x\n\nbody\n", Outcome::Kind::Bounce, "5.1.1", "user unknown"},
        {"ann", "Subject: x\n\nbody\n", Outcome::Kind::Bounce, "5.1.3", "bad address syntax"},
        {"ann@virt.test", "Delivered-To: ANN@virt.test\nSubject: x\n\nbody\n", Outcome::Kind::Bounce, "5.4.6",
         "mail forwarding loop for ann@virt.test"},
        {"ann@VIRT.test", "Delivered-To: ann@virt.test\nSubject: x\n\nbody\n", Outcome::Kind::Bounce, "5.4.6",
         "mail forwarding loop"},
        // A Delivered-To in the body is not a loop.
        {"ann@virt.test", "Subject: x\n\nDelivered-To: ann@virt.test\n", Outcome::Kind::Sent, "2.0.0", "maildir"},
        {"anyone+x@catch.test", "Subject: x\n\nbody\n", Outcome::Kind::Sent, "2.0.0", "maildir"},
    };
    for (const auto& r : rows) {
      local::Delivery d{"QID", "from@example.org", r.rcpt, r.content};
      Outcome o = local::deliver_virtual(s, t, env, d);
      CPPUNIT_ASSERT_MESSAGE(std::string(r.rcpt) + ": " + o.text, r.kind == o.kind);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.rcpt, std::string(r.dsn), o.dsn);
      CPPUNIT_ASSERT_MESSAGE(std::string(r.rcpt) + ": " + o.text, contains(o.text, r.text));
    }
    CPPUNIT_ASSERT_EQUAL(size_t(1), files_in(base.path + "/catch/new").size());
  }

  void maildir_and_mbox_delivery() {
    Base base;
    auto env = make_env(2000);
    std::string me = std::to_string(owner_uid()), my_gid = std::to_string(owner_gid());
    local::VirtualSettings s{base.path, 1, "+"};
    local::VirtualTables t{table({{"ann@virt.test", "virt.test/ann/"}, {"bob@virt.test", "virt.test/deep/er/bob"}}),
                           table({{"@virt.test", me}}), table({{"@virt.test", my_gid}})};
    local::Delivery d{"QID", "from@example.org", "Ann@Virt.Test", "Subject: hi\r\n\r\nFrom here\r\n"};
    Outcome o = local::deliver_virtual(s, t, env, d);
    CPPUNIT_ASSERT_MESSAGE(o.text, o.kind == Outcome::Kind::Sent);
    CPPUNIT_ASSERT_EQUAL(std::string("delivered to maildir"), o.text);
    auto msgs = files_in(base.path + "/virt.test/ann/new");
    CPPUNIT_ASSERT_EQUAL(size_t(1), msgs.size());
    CPPUNIT_ASSERT_EQUAL(std::string("Return-Path: <from@example.org>\nDelivered-To: Ann@virt.test\n"
                                     "Subject: hi\n\nFrom here\n"),
                         *file::read_file(msgs[0]));
    struct stat st;
    for (const char* p : {"/virt.test", "/virt.test/ann", "/virt.test/ann/new"}) {
      CPPUNIT_ASSERT_EQUAL(0, ::lstat((base.path + p).c_str(), &st));
      CPPUNIT_ASSERT_EQUAL_MESSAGE(p, owner_uid(), st.st_uid);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(p, owner_gid(), st.st_gid);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(p, 0700u, unsigned(st.st_mode & 07777));
    }
    CPPUNIT_ASSERT_EQUAL(owner_uid(), (::lstat(msgs[0].c_str(), &st), st.st_uid));

    d.recipient = "bob@virt.test";
    o = local::deliver_virtual(s, t, env, d);
    CPPUNIT_ASSERT_MESSAGE(o.text, o.kind == Outcome::Kind::Sent);
    CPPUNIT_ASSERT_EQUAL(std::string("delivered to mailbox"), o.text);
    o = local::deliver_virtual(s, t, env, d);
    CPPUNIT_ASSERT_MESSAGE(o.text, o.kind == Outcome::Kind::Sent);
    std::string mbox = *file::read_file(base.path + "/virt.test/deep/er/bob");
    CPPUNIT_ASSERT(mbox.starts_with("From from@example.org "));
    CPPUNIT_ASSERT(contains(mbox, "\nReturn-Path: <from@example.org>\nDelivered-To: bob@virt.test\nSubject: hi\n\n>From here\n\nFrom "));
    CPPUNIT_ASSERT_EQUAL(0, ::lstat((base.path + "/virt.test/deep/er/bob").c_str(), &st));
    CPPUNIT_ASSERT_EQUAL(owner_uid(), st.st_uid);
    // virtual_mailbox_limit (2000 bytes here): the mbox is full, bounced 5.2.2.
    // Delivery::content views the text: the string must outlive the delivery.
    const std::string big = "Subject: big\n\n" + std::string(3000, 'x') + "\n";
    d.content = big;
    o = local::deliver_virtual(s, t, env, d);
    CPPUNIT_ASSERT_MESSAGE(o.text, o.kind == Outcome::Kind::Bounce && o.dsn == "5.2.2" && contains(o.text, "virtual_mailbox_limit"));
    CPPUNIT_ASSERT_EQUAL(mbox, *file::read_file(base.path + "/virt.test/deep/er/bob"));
  }

  // Folders that are links or someone else's, and a refused map value: defer, no write.
  void hostile_folders() {
    Base base;
    testing::TempDir elsewhere;
    ::chmod(elsewhere.path().c_str(), 0777);
    auto env = make_env();
    std::string me = std::to_string(owner_uid()), my_gid = std::to_string(owner_gid());
    local::VirtualSettings s{base.path, 1, "+"};
    CPPUNIT_ASSERT_EQUAL(0, ::symlink(elsewhere.path().c_str(), (base.path + "/link").c_str()));
    CPPUNIT_ASSERT_EQUAL(0, ::symlink(elsewhere.file("mbox").c_str(), (base.path + "/linkbox").c_str()));
    struct Row {
      const char* value;
      const char* text;
    };
    const Row rows[] = {
        {"link/ann/", "not a directory"},
        {"link/", "cannot write maildir"},
        {"linkbox", "cannot write mailbox"},
        {"../x/", "mail system configuration error: virtual_mailbox_maps value \"../x/\" for ann@virt.test: \"..\" in mailbox path"},
        {"/tmp/x/", "absolute mailbox path"},
    };
    for (const auto& r : rows) {
      local::VirtualTables t{table({{"ann@virt.test", r.value}}), table({{"@virt.test", me}}),
                             table({{"@virt.test", my_gid}})};
      std::vector<std::string> warnings;
      local::Delivery d{"QID", "from@example.org", "ann@virt.test", "Subject: x\n\nbody\n"};
      Outcome o = local::deliver_virtual(s, t, env, d, &warnings);
      CPPUNIT_ASSERT_MESSAGE(std::string(r.value) + ": " + o.text, o.kind == Outcome::Kind::Defer);
      CPPUNIT_ASSERT_MESSAGE(std::string(r.value) + ": " + o.text, contains(o.text, r.text));
    }
    CPPUNIT_ASSERT(files_in(elsewhere.path()).empty());
    // An empty base is refused as well.
    local::VirtualSettings none{"", 1, "+"};
    local::VirtualTables t{table({{"ann@virt.test", "ann/"}}), table({{"@virt.test", me}}), table({{"@virt.test", my_gid}})};
    local::Delivery d{"QID", "", "ann@virt.test", "Subject: x\n\nbody\n"};
    Outcome o = local::deliver_virtual(none, t, env, d);
    CPPUNIT_ASSERT_MESSAGE(o.text, o.kind == Outcome::Kind::Defer && contains(o.text, "virtual_mailbox_base is not set"));
  }

  // virtual(8) answers as relay=virtual and says logged=yes before the first recipient
  // (where qmgr reads it), also when the queue file cannot be read; its log lines then
  // carry every recipient.
  void agent_style_in_replies() {
    testing::TempDir spool;
    ipc::Message req;
    std::string id = "06616733DE7440bbctex";
    req.set("cmd", "deliver").set("id", id).set("file", "active/" + id).set("sender", "a@b");
    for (const char* r : {"ann@virt.test", "bob@virt.test"})
      req.set("rcpt", r).set("orcpt", std::string("rfc822;") + r).set("offset", int64_t(10));
    int called = 0;
    auto one = [&](const local::Delivery&, std::vector<std::string>*, std::vector<local::Expanded>*) {
      ++called;
      return Outcome::sent("x");
    };
    struct Row {
      local::AgentStyle style;
      bool logged;
    };
    for (const auto& r : {Row{{"virtual", true}, true}, Row{{}, false}}) {
      std::vector<local::DeliveryLog> lines;
      ipc::Message reply = local::serve_deliveries(req, spool.path(), r.style, one, &lines);
      const auto& a = reply.attrs();
      CPPUNIT_ASSERT(a.size() >= 2);
      CPPUNIT_ASSERT_EQUAL(std::string("status"), a[0].first);
      CPPUNIT_ASSERT_EQUAL(std::string("ok"), a[0].second);
      CPPUNIT_ASSERT_EQUAL(r.logged, a[1].first == "logged" && a[1].second == "yes");
      CPPUNIT_ASSERT_EQUAL(std::string("rcpt"), a[r.logged ? 2 : 1].first);
      CPPUNIT_ASSERT_EQUAL(r.style.relay, reply.get_or("relay", ""));
      CPPUNIT_ASSERT_EQUAL(std::string("defer"), reply.get_or("result", ""));
      CPPUNIT_ASSERT(contains(reply.get_or("text", ""), "cannot open queue file"));
      CPPUNIT_ASSERT_EQUAL(size_t(2), reply.get_all("rcpt").size());
      CPPUNIT_ASSERT_EQUAL(size_t(2), lines.size());
      CPPUNIT_ASSERT_EQUAL(std::string("bob@virt.test"), lines[1].recipient);
      CPPUNIT_ASSERT_EQUAL(std::string("bob@virt.test"), lines[1].orig_recipient);  // the ORCPT's address
      CPPUNIT_ASSERT_EQUAL(std::string("deferred"), lines[1].status);
    }
    CPPUNIT_ASSERT_EQUAL(0, called);
    // A request that makes no sense is an error reply, whatever the style.
    ipc::Message bad = req;
    bad.set("rcpt", "carol@virt.test");
    ipc::Message reply = local::serve_deliveries(bad, spool.path(), {"virtual", true}, one);
    CPPUNIT_ASSERT_EQUAL(std::string("error"), reply.get_or("status", ""));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(VirtualTest);
