// smtp/agent_test.cc - the agent side of the delivery protocol without a network: a
// table Dns answers, requests are checked against the queue file, and final outcomes
// (bounces from DNS) land in the recipients' status bytes while temporary ones do not.
#include "smtp/agent.h"

#include <cppunit/extensions/HelperMacros.h>

#include "lib/base/file.h"
#include "lib/queue/queue_file.h"
#include "lib/queue/queue_writer.h"
#include "lib/testing/temp_dir.h"

using namespace postilion;
using namespace postilion::smtp_client;

namespace {

class TableDns : public Dns {
 public:
  resolver::Plan plan;
  int calls = 0;
  resolver::Plan nexthops(const std::string&, bool) override {
    ++calls;
    return plan;
  }
  std::optional<resolver::proto::QueryReply> query(const std::string&, resolver::RrType) override {
    return std::nullopt;
  }
};

struct Queued {
  std::string id;
  std::vector<queue::Recipient> rcpts;
};

Queued make_file(const std::string& qdir, const std::vector<std::string>& rcpts) {
  (void)file::make_dirs(qdir + "/active", 0700);
  auto w = queue::QueueWriter::create(qdir + "/active");
  CPPUNIT_ASSERT(w.ok());
  CPPUNIT_ASSERT((*w)->sender("a@examplea.tst").ok());
  for (auto& r : rcpts) CPPUNIT_ASSERT((*w)->recipient(r).ok());
  CPPUNIT_ASSERT((*w)->append_content("Subject: x\r\n\r\nbody\r\n").ok());
  auto id = (*w)->commit();
  CPPUNIT_ASSERT(id.ok());
  auto f = queue::read_queue_file(qdir + "/active/" + *id);
  CPPUNIT_ASSERT(f.ok());
  return {*id, f->parsed.file.recipients};
}

ipc::Message request(const Queued& q, const std::string& nexthop, const std::string& sender = "a@examplea.tst") {
  ipc::Message m;
  m.set("cmd", "deliver").set("id", q.id).set("file", "active/" + q.id).set("sender", sender).set("nexthop", nexthop);
  for (auto& r : q.rcpts) m.set("rcpt", r.address).set("orcpt", "").set("offset", int64_t(r.offset));
  return m;
}

std::vector<queue::RcptStatus> statuses(const std::string& qdir, const std::string& id) {
  std::vector<queue::RcptStatus> out;
  auto f = queue::read_queue_file(qdir + "/active/" + id);
  for (auto& r : f->parsed.file.recipients) out.push_back(r.status);
  return out;
}

}  // namespace

class AgentTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(AgentTest);
  CPPUNIT_TEST(bad_requests);
  CPPUNIT_TEST(dns_outcomes);
  CPPUNIT_TEST(offsets_checked);
  CPPUNIT_TEST(routed_address_uses_its_record);
  CPPUNIT_TEST_SUITE_END();

 public:
  void bad_requests() {
    testing::TempDir dir;
    TableDns dns;
    AgentSettings s;
    s.queue_directory = dir.path();
    Agent agent(s, dns, nullptr, nullptr, nullptr);
    Queued q = make_file(dir.path(), {"u@b.tst"});
    struct Row {
      const char* what;
      ipc::Message m;
    };
    std::vector<Row> rows;
    rows.push_back({"no cmd", ipc::Message()});
    {
      auto m = request(q, "b.tst");
      m.replace("cmd", "explode");
      rows.push_back({"unknown cmd", m});
    }
    {
      auto m = request(q, "b.tst");
      m.replace("file", "active/../../etc/passwd");
      rows.push_back({"file outside", m});
    }
    {
      auto m = request(q, "b.tst");
      m.replace("id", "../x");
      rows.push_back({"bad id", m});
    }
    {
      ipc::Message m;
      m.set("cmd", "deliver").set("id", q.id).set("file", "active/" + q.id).set("sender", "a@examplea.tst");
      m.set("rcpt", "u@b.tst").set("offset", "10");  // no orcpt
      rows.push_back({"attributes do not pair", m});
    }
    rows.push_back({"sender differs", request(q, "b.tst", "evil@x.tst")});
    for (auto& r : rows) {
      auto reply = agent.serve(r.m);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.what, std::string("error"), reply.get_or("status", ""));
    }
    CPPUNIT_ASSERT_EQUAL(0, dns.calls);  // nothing was looked up for garbage
    CPPUNIT_ASSERT(statuses(dir.path(), q.id)[0] == queue::RcptStatus::Pending);
  }

  void dns_outcomes() {
    struct Row {
      resolver::PlanStatus st;
      const char* dsn;
      const char* result;
      queue::RcptStatus file;
    } rows[] = {
        {resolver::PlanStatus::Perm, "5.1.10", "bounce", queue::RcptStatus::Bounced},
        {resolver::PlanStatus::Temp, "4.4.3", "defer", queue::RcptStatus::Pending},
    };
    for (auto& row : rows) {
      testing::TempDir dir;
      TableDns dns;
      dns.plan.status = row.st;
      dns.plan.dsn = row.dsn;
      dns.plan.text = "because";
      AgentSettings s;
      s.queue_directory = dir.path();
      Agent agent(s, dns, nullptr, nullptr, nullptr);
      Queued q = make_file(dir.path(), {"u1@b.tst", "u2@b.tst"});
      auto reply = agent.serve(request(q, "b.tst"));
      CPPUNIT_ASSERT_EQUAL(std::string("ok"), reply.get_or("status", ""));
      auto results = reply.get_all("result");
      CPPUNIT_ASSERT_EQUAL(size_t(2), results.size());
      for (auto r : results) CPPUNIT_ASSERT_EQUAL(std::string(row.result), std::string(r));
      CPPUNIT_ASSERT_EQUAL(std::string(row.dsn), std::string(reply.get_all("dsn")[0]));
      for (auto st : statuses(dir.path(), q.id)) CPPUNIT_ASSERT(st == row.file);
      CPPUNIT_ASSERT_EQUAL(1, dns.calls);
    }
    // A bad next hop defers without asking DNS; a literal never asks DNS.
    testing::TempDir dir;
    TableDns dns;
    AgentSettings s;
    s.queue_directory = dir.path();
    s.session.connect_timeout_ms = 1000;
    s.default_port = 1;  // nothing listens on 127.0.0.1:1
    Agent agent(s, dns, nullptr, nullptr, nullptr);
    Queued q = make_file(dir.path(), {"u@b.tst"});
    auto reply = agent.serve(request(q, "[b.tst"));
    CPPUNIT_ASSERT_EQUAL(std::string("defer"), std::string(reply.get_all("result")[0]));
    reply = agent.serve(request(q, "[127.0.0.1]"));
    CPPUNIT_ASSERT_EQUAL(std::string("defer"), std::string(reply.get_all("result")[0]));
    CPPUNIT_ASSERT(std::string(reply.get_all("text")[0]).find("Connection refused") != std::string::npos);
    CPPUNIT_ASSERT_EQUAL(0, dns.calls);
  }

  // A resolver that knows no domain: every delivery it is asked about bounces.
  static TableDns no_such_domain() {
    TableDns dns;
    dns.plan.status = resolver::PlanStatus::Perm;
    dns.plan.dsn = "5.4.4";
    dns.plan.text = "no such domain";
    return dns;
  }

  void offsets_checked() {
    testing::TempDir dir;
    TableDns dns = no_such_domain();
    AgentSettings s;
    s.queue_directory = dir.path();
    Agent agent(s, dns, nullptr, nullptr, nullptr);
    Queued q = make_file(dir.path(), {"u1@b.tst", "u2@b.tst"});
    // Offsets that name no recipient record (inside one, past the end, malformed):
    // those recipients are deferred and nothing may be marked.
    ipc::Message m;
    m.set("cmd", "deliver").set("id", q.id).set("file", "active/" + q.id).set("sender", "a@examplea.tst");
    m.set("nexthop", "b.tst");
    m.set("rcpt", "u1@b.tst").set("orcpt", "").set("offset", int64_t(q.rcpts[0].offset + 1));
    m.set("rcpt", "u2@b.tst").set("orcpt", "").set("offset", int64_t(1 << 20));
    m.set("rcpt", "u2@b.tst").set("orcpt", "").set("offset", "12x");
    auto reply = agent.serve(m);
    CPPUNIT_ASSERT_EQUAL(std::string("ok"), reply.get_or("status", ""));
    CPPUNIT_ASSERT_EQUAL(size_t(3), reply.get_all("result").size());
    for (auto r : reply.get_all("result")) CPPUNIT_ASSERT_EQUAL(std::string("defer"), std::string(r));
    for (auto t : reply.get_all("text"))
      CPPUNIT_ASSERT_EQUAL(std::string("offset does not name a recipient record"), std::string(t));
    for (auto st : statuses(dir.path(), q.id)) CPPUNIT_ASSERT(st == queue::RcptStatus::Pending);
    CPPUNIT_ASSERT_EQUAL(0, dns.calls);  // nothing left to send: no lookup
    // A recipient already final is not delivered again.
    auto f = queue::read_queue_file(dir.path() + "/active/" + q.id, true);
    CPPUNIT_ASSERT(queue::write_status(f->fd.get(), q.rcpts[0].offset, queue::RcptStatus::Delivered).ok());
    reply = agent.serve(request(q, "b.tst"));
    auto results = reply.get_all("result");
    CPPUNIT_ASSERT_EQUAL(std::string("sent"), std::string(results[0]));
    CPPUNIT_ASSERT_EQUAL(std::string("bounce"), std::string(results[1]));
    auto st = statuses(dir.path(), q.id);
    CPPUNIT_ASSERT(st[0] == queue::RcptStatus::Delivered && st[1] == queue::RcptStatus::Bounced);
  }

  void routed_address_uses_its_record() {
    // qmgr hands over the address it routed - a virtual alias's target - with the offset
    // of the record that holds the alias: the offset decides, the outcome is recorded
    // there, and the reply names the address as requested.
    testing::TempDir dir;
    TableDns dns = no_such_domain();
    AgentSettings s;
    s.queue_directory = dir.path();
    Agent agent(s, dns, nullptr, nullptr, nullptr);
    Queued q = make_file(dir.path(), {"info@alias.tst"});
    ipc::Message m;
    m.set("cmd", "deliver").set("id", q.id).set("file", "active/" + q.id).set("sender", "a@examplea.tst");
    m.set("nexthop", "remote.tst");
    m.set("rcpt", "someone@remote.tst").set("orcpt", "").set("offset", int64_t(q.rcpts[0].offset));
    auto reply = agent.serve(m);
    CPPUNIT_ASSERT_EQUAL(std::string("ok"), reply.get_or("status", ""));
    CPPUNIT_ASSERT_EQUAL(std::string("someone@remote.tst"), reply.get_or("rcpt", ""));
    CPPUNIT_ASSERT_EQUAL(std::string("bounce"), reply.get_or("result", ""));
    CPPUNIT_ASSERT_EQUAL(1, dns.calls);
    CPPUNIT_ASSERT(statuses(dir.path(), q.id)[0] == queue::RcptStatus::Bounced);
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(AgentTest);
