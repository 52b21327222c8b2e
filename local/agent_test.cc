// local/agent_test.cc - the delivery protocol as local(8) serves it: requests checked
// against the queue file, status bytes recorded only for final outcomes.
#include "local/agent.h"

#include <unistd.h>

#include <algorithm>
#include <map>

#include <cppunit/extensions/HelperMacros.h>

#include "lib/queue/queue_writer.h"
#include "lib/queue/spool.h"
#include "lib/testing/temp_dir.h"

using namespace postilion;
using local::Outcome;

namespace {

class Env : public local::Environment {
 public:
  int delivered = 0;
  bool defer_all = false;
  std::map<std::string, std::string> aliases;
  Result<std::optional<std::string>> alias(const std::string& name) override {
    auto it = aliases.find(name);
    if (it == aliases.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }
  std::optional<local::User> user(const std::string& n) override {
    if (n != "bob" && n != "carol") return std::nullopt;
    return local::User{n, 1000, 1000, "/home/" + n};
  }
  local::User privileged_default() override { return {"nobody", 65534, 65534, "/"}; }
  Result<std::optional<std::string>> read_owned(const std::string&, const local::User&) override { return std::optional<std::string>(); }
  Outcome maildir(const local::User&, const std::string&, const std::string& text) override {
    if (defer_all) return Outcome::defer("4.2.0", "mailbox not writable");
    CPPUNIT_ASSERT(text.find("hello") != std::string::npos);
    ++delivered;
    return Outcome::sent("delivered to maildir");
  }
  Outcome mbox(const local::User&, const std::string&, const std::string&) override { return Outcome::sent("mbox"); }
  Outcome command(const local::User&, const std::string&, const std::string&, const local::Delivery&) override {
    return Outcome::sent("cmd");
  }
  Outcome forward(const std::string&, const std::string&, const std::string&) override { return Outcome::sent("fwd"); }
};

}  // namespace

class AgentTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(AgentTest);
  CPPUNIT_TEST(delivers_and_records);
  CPPUNIT_TEST(refuses_mismatched_requests);
  CPPUNIT_TEST(partly_bounced_alias);
  CPPUNIT_TEST_SUITE_END();

  testing::TempDir dir_;
  std::string top_;
  std::string id_;
  std::vector<uint64_t> offsets_;

 public:
  void setUp() override {
    top_ = dir_.file("spool");
    queue::Spool spool(top_);
    CPPUNIT_ASSERT(spool.create({getuid(), getgid(), getgid()}).ok());
    auto w = queue::QueueWriter::create(spool.dir(queue::Folder::Active));
    CPPUNIT_ASSERT(w.ok());
    CPPUNIT_ASSERT((*w)->sender("alice@remote.test").ok());
    for (auto r : {"bob@example.org", "nobody@example.org", "carol@example.org", "team@example.org",
                   "team@example.org"})
      CPPUNIT_ASSERT((*w)->recipient(r).ok());
    CPPUNIT_ASSERT((*w)->append_content("Subject: x\r\n\r\nhello\r\n").ok());
    auto id = (*w)->commit();
    CPPUNIT_ASSERT_MESSAGE(id.ok() ? "" : id.error().str(), id.ok());
    id_ = *id;
    auto f = queue::read_queue_file(spool.path(queue::Folder::Active, id_));
    CPPUNIT_ASSERT_MESSAGE(f->parsed.error, f->parsed.status == queue::Parse::Complete);
    offsets_.clear();
    for (auto& r : f->parsed.file.recipients) offsets_.push_back(r.offset);
  }

  ipc::Message request(std::vector<std::pair<std::string, uint64_t>> rcpts, std::string sender = "alice@remote.test") {
    ipc::Message m;
    m.set("cmd", "deliver").set("id", id_).set("file", "active/" + id_).set("sender", sender).set("nexthop", "");
    for (auto& [a, off] : rcpts) m.set("rcpt", a).set("orcpt", "").set("offset", static_cast<int64_t>(off));
    return m;
  }

  std::vector<queue::RcptStatus> statuses() {
    queue::Spool spool(top_);
    auto f = queue::read_queue_file(spool.path(queue::Folder::Active, id_));
    std::vector<queue::RcptStatus> v;
    for (auto& r : f->parsed.file.recipients) v.push_back(r.status);
    return v;
  }

  void delivers_and_records() {
    Env env;
    local::Settings s;
    s.mydestination = {"example.org"};
    auto reply = local::serve_request(
        request({{"bob@example.org", offsets_[0]}, {"nobody@example.org", offsets_[1]}}), top_, s, env);
    CPPUNIT_ASSERT_EQUAL(std::string("ok"), reply.get_or("status", ""));
    auto results = reply.get_all("result");
    CPPUNIT_ASSERT_EQUAL(size_t(2), results.size());
    CPPUNIT_ASSERT_EQUAL(std::string("sent"), std::string(results[0]));
    CPPUNIT_ASSERT_EQUAL(std::string("bounce"), std::string(results[1]));
    auto st = statuses();
    CPPUNIT_ASSERT(st[0] == queue::RcptStatus::Delivered);
    CPPUNIT_ASSERT(st[1] == queue::RcptStatus::Bounced);
    CPPUNIT_ASSERT(st[2] == queue::RcptStatus::Pending);
    // A repeated request does not deliver twice.
    local::serve_request(request({{"bob@example.org", offsets_[0]}}), top_, s, env);
    CPPUNIT_ASSERT_EQUAL(1, env.delivered);
    // A deferral leaves the status byte alone.
    env.defer_all = true;
    auto d = local::serve_request(request({{"carol@example.org", offsets_[2]}}), top_, s, env);
    CPPUNIT_ASSERT_EQUAL(std::string("defer"), std::string(*d.get("result")));
    CPPUNIT_ASSERT(statuses()[2] == queue::RcptStatus::Pending);
  }

  // team: bob, ghost, carol, ghost2 (two unknown users). With report=expanded the alias is sent
  // (bob and carol have their copies) and ghost and the command are reported on their
  // own; without it (an older qmgr) the alias bounces as a whole, as before.
  void partly_bounced_alias() {
    for (bool expanded : {true, false}) {
      size_t k = expanded ? 3 : 4;  // one queue file, a recipient record per round
      Env env;
      env.aliases["team"] = "bob, ghost, carol, ghost2@example.org";
      local::Settings s;
      s.mydestination = {"example.org"};
      ipc::Message req = request({{"team@example.org", offsets_[k]}});
      if (expanded) req.set("report", "expanded");
      std::vector<local::DeliveryLog> log;
      auto reply = local::serve_request(req, top_, s, env, &log);
      CPPUNIT_ASSERT_EQUAL(std::string("ok"), reply.get_or("status", ""));
      CPPUNIT_ASSERT_EQUAL(2, env.delivered);
      auto x = reply.get_all("expanded");
      if (!expanded) {
        CPPUNIT_ASSERT_EQUAL(std::string("bounce"), reply.get_or("result", ""));
        CPPUNIT_ASSERT(x.empty());
        CPPUNIT_ASSERT(statuses()[k] == queue::RcptStatus::Bounced);
        continue;
      }
      CPPUNIT_ASSERT_EQUAL(std::string("sent"), reply.get_or("result", ""));
      // qmgr records it once the report on ghost and ghost2 is queued.
      CPPUNIT_ASSERT(statuses()[k] == queue::RcptStatus::Pending);
      CPPUNIT_ASSERT_EQUAL(size_t(2), x.size());
      CPPUNIT_ASSERT_EQUAL(std::string("ghost@example.org"), std::string(x[0]));
      CPPUNIT_ASSERT_EQUAL(std::string("ghost2@example.org"), std::string(x[1]));
      auto dsns = reply.get_all("expanded_dsn");
      CPPUNIT_ASSERT_EQUAL(size_t(2), dsns.size());
      CPPUNIT_ASSERT_EQUAL(std::string("5.1.1"), std::string(dsns[0]));
      CPPUNIT_ASSERT(std::string(reply.get_all("expanded_text")[0]).find("unknown user") != std::string::npos);
      // The groups follow their recipient: attribute order is the protocol.
      std::vector<std::string> names;
      for (const auto& [n, v] : reply.attrs()) names.push_back(n);
      auto rcpt_at = std::find(names.begin(), names.end(), "rcpt") - names.begin();
      auto first_x = std::find(names.begin(), names.end(), "expanded") - names.begin();
      CPPUNIT_ASSERT(rcpt_at < first_x);
      size_t logged = 0;
      for (const auto& l : log)
        if (l.expanded && l.orig_recipient == "team@example.org" && l.status == "bounced") ++logged;
      CPPUNIT_ASSERT_EQUAL(size_t(2), logged);
    }
  }

  void refuses_mismatched_requests() {
    Env env;
    local::Settings s;
    s.mydestination = {"example.org"};
    // Offset inside a record, wrong sender, path games, unknown command.
    auto r1 = local::serve_request(request({{"bob@example.org", offsets_[0] + 1}}), top_, s, env);
    CPPUNIT_ASSERT_EQUAL(std::string("defer"), std::string(*r1.get("result")));
    auto r2 = local::serve_request(request({{"bob@example.org", offsets_[0]}}, "mallory@x"), top_, s, env);
    CPPUNIT_ASSERT_EQUAL(std::string("error"), r2.get_or("status", ""));
    ipc::Message evil = request({{"bob@example.org", offsets_[0]}});
    evil.replace("file", "../../etc/passwd");
    CPPUNIT_ASSERT_EQUAL(std::string("error"), local::serve_request(evil, top_, s, env).get_or("status", ""));
    ipc::Message junk;
    junk.set("cmd", "explode");
    CPPUNIT_ASSERT_EQUAL(std::string("error"), local::serve_request(junk, top_, s, env).get_or("status", ""));
    ipc::Message uneven = request({{"bob@example.org", offsets_[0]}});
    uneven.set("rcpt", "x@y");
    CPPUNIT_ASSERT_EQUAL(std::string("error"), local::serve_request(uneven, top_, s, env).get_or("status", ""));
    CPPUNIT_ASSERT_EQUAL(0, env.delivered);
    CPPUNIT_ASSERT(statuses()[0] == queue::RcptStatus::Pending);
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(AgentTest);
