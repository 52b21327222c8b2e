// qmgr/manager_test.cc - the queue manager against an in-memory spool and fake agents:
// delivery, deferral and backoff, expiry, bounces (and bounces of bounces), restarts,
// maildrop pickup of good and bad files, virtual alias fan-out, concurrency.
#include "qmgr/manager.h"
#include "qmgr/pickup_milters.h"

#include <cppunit/extensions/HelperMacros.h>

#include <deque>

#include "lib/mail/header.h"

using namespace postilion;
using namespace postilion::qmgr;

namespace {

struct FakeFile {
  StoredMessage msg;
  std::string content;
  bool corrupt = false;
  std::map<uint64_t, int> status;  // offset -> 0 pending, 1 sent, 2 bounced
  int64_t mtime = 0;
};

class FakeStore : public Store {
 public:
  std::map<std::string, std::map<std::string, FakeFile>> queues;  // queue -> id -> file
  std::map<std::string, DeferInfo> defer;
  int next_id = 1;
  bool fail_inject = false;
  int injects_left = -1;  // >= 0: that many more injects succeed, then they fail
  int lists = 0, defer_reads = 0, defer_drops = 0;

  std::string add(const std::string& queue, const std::string& sender, std::vector<std::string> rcpts,
                  int64_t arrival, unsigned notify = mail::kNotifyDefault, std::string content = "Subject: hi\n\nbody\n") {
    NewMessage m;
    m.sender = sender;
    for (auto& r : rcpts) m.recipients.push_back({r, "", notify, 0, false});
    m.arrival = arrival;
    m.content = content;
    std::string id = make(m);
    if (queue != "incoming") {
      queues[queue][id] = queues["incoming"][id];
      queues["incoming"].erase(id);
    }
    return id;
  }
  std::string make(const NewMessage& m) {
    char buf[16];
    snprintf(buf, sizeof buf, "Q%04d", next_id++);
    FakeFile f;
    f.msg.id = buf;
    f.msg.sender = m.sender;
    f.msg.arrival = m.arrival ? m.arrival : 1000;
    f.msg.size = m.content.size();
    f.msg.envid = m.envid;
    f.msg.ret = m.ret;
    f.msg.content_filter = m.content_filter;
    f.msg.milter_reject = m.milter_reject;
    uint64_t off = 100;
    for (auto r : m.recipients) {
      r.offset = off;
      r.done = false;
      f.status[off] = 0;
      f.msg.recipients.push_back(r);
      off += 50;
    }
    f.content = m.content;
    queues["incoming"][buf] = f;
    return buf;
  }
  // Queued notices (sender <>) in incoming/ and active/ whose text holds `subject`.
  size_t notices(const std::string& subject) {
    size_t n = 0;
    for (const char* q : {"incoming", "active"})
      for (auto& [qid, f] : queues[q])
        if (f.msg.sender.empty() && f.content.find(subject) != std::string::npos) ++n;
    return n;
  }
  FakeFile* find(const std::string& q, const std::string& id) {
    auto it = queues[q].find(id);
    return it == queues[q].end() ? nullptr : &it->second;
  }
  std::vector<std::string> list(const std::string& q) override {
    ++lists;
    std::vector<std::string> v;
    for (auto& [id, f] : queues[q]) v.push_back(id);
    return v;
  }
  Result<StoredMessage> load(const std::string& q, const std::string& id, bool* corrupt) override {
    auto* f = find(q, id);
    if (!f) return Error("no such file", ENOENT);
    if (f->corrupt) {
      *corrupt = true;
      return Error("missing END record").set_permanent();
    }
    StoredMessage m = f->msg;
    for (auto& r : m.recipients) r.done = f->status[r.offset] != 0;
    return m;
  }
  Result<std::string> content(const std::string& q, const std::string& id) override {
    auto* f = find(q, id);
    if (!f) return Error("no such file", ENOENT);
    return f->content;
  }
  Result<bool> is_done(const std::string& q, const std::string& id, uint64_t off) override {
    auto* f = find(q, id);
    if (!f) return Error("no such file", ENOENT);
    return f->status[off] != 0;
  }
  Status mark_done(const std::string& q, const std::string& id, uint64_t off, bool bounced) override {
    auto* f = find(q, id);
    if (!f) return Error("no such file", ENOENT);
    f->status[off] = bounced ? 2 : 1;
    return {};
  }
  Status move(const std::string& id, const std::string& from, const std::string& to) override {
    auto* f = find(from, id);
    if (!f) return Error("no such file", ENOENT);
    queues[to][id] = *f;
    queues[from].erase(id);
    return {};
  }
  Status remove(const std::string& q, const std::string& id) override {
    if (!queues[q].erase(id)) return Error("no such file", ENOENT);
    return {};
  }
  Result<std::string> inject(const NewMessage& m) override {
    if (fail_inject || injects_left == 0) return Error("disk full", ENOSPC);
    if (injects_left > 0) --injects_left;
    return make(m);
  }
  Result<int64_t> next_try(const std::string& id) override {
    auto* f = find("deferred", id);
    if (!f) return Error("no such file", ENOENT);
    return f->mtime;
  }
  Status set_next_try(const std::string& id, int64_t when) override {
    auto* f = find("deferred", id);
    if (!f) return Error("no such file", ENOENT);
    f->mtime = when;
    return {};
  }
  DeferInfo defer_info(const std::string& id) override {
    ++defer_reads;
    return defer[id];
  }
  Status set_defer_info(const std::string& id, const DeferInfo& i) override {
    defer[id] = i;
    return {};
  }
  void drop_defer_info(const std::string& id) override {
    ++defer_drops;
    defer.erase(id);
  }
};

struct Request {
  uint64_t token;
  std::string transport;
  ipc::Message msg;
};

class FakeAgents : public Agents {
 public:
  std::deque<Request> requests;
  void start(uint64_t token, const std::string& transport, const ipc::Message& m) override {
    requests.push_back({token, transport, m});
  }
};

ManagerConfig config() {
  ManagerConfig c;
  c.route.myhostname = "mx.example.org";
  c.route.mydestination = {"mx.example.org", "example.org"};
  c.route.virtual_alias_domains = {"virt.test"};
  c.route.virtual_alias_map = [](std::string_view k) -> std::optional<std::string> {
    if (k == "team@virt.test") return std::string("bob@example.org, carol@example.org");
    if (k == "mixed@virt.test") return std::string("bob@example.org, nobody@virt.test, ghost@virt.test");
    return std::nullopt;
  };
  c.notice.myhostname = "mx.example.org";
  c.limits["local"] = {2, 2};
  c.recipient_limits["local"] = 1;
  return c;
}

// The agent's side: for each recipient of the request, a result (recorded in the file
// first, as the protocol says, unless record is false).
AgentResult reply(FakeStore& store, const Request& req, const std::string& result, bool record = true,
                  const std::string& text = "delivered to maildir") {
  AgentResult r;
  r.ok = true;
  std::string id(*req.msg.get("id"));
  auto rcpts = req.msg.get_all("rcpt");
  auto offsets = req.msg.get_all("offset");
  for (size_t i = 0; i < rcpts.size(); ++i) {
    if (record && result != "defer")
      (void)store.mark_done("active", id, std::stoull(std::string(offsets[i])), result == "bounce");
    r.rcpts.push_back({std::string(rcpts[i]), result, result == "sent" ? "2.0.0" : result == "defer" ? "4.2.0" : "5.1.1",
                       text, "local"});
  }
  return r;
}

}  // namespace

class ManagerTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(ManagerTest);
  CPPUNIT_TEST(delivers_and_removes);
  CPPUNIT_TEST(defers_with_backoff_then_delivers);
  CPPUNIT_TEST(expiry_bounces_with_dsn);
  CPPUNIT_TEST(bounce_of_bounce_goes_to_postmaster_once);
  CPPUNIT_TEST(restart_resumes_only_pending);
  CPPUNIT_TEST(maildrop_pickup);
  CPPUNIT_TEST(named_new_mail_is_admitted_without_a_scan);
  CPPUNIT_TEST(agent_garbage_and_unrecorded_outcomes);
  CPPUNIT_TEST(virtual_alias_fan_out);
  CPPUNIT_TEST(virtual_alias_partial_bounce);
  CPPUNIT_TEST(concurrency_limits);
  CPPUNIT_TEST(local_limit_is_per_recipient);
  CPPUNIT_TEST(relay_domain_routing);
  CPPUNIT_TEST(dead_destination_defers_without_trying);
  CPPUNIT_TEST(rate_delay_spaces_deliveries);
  CPPUNIT_TEST(delay_warning_once);
  CPPUNIT_TEST(bounce_recorded_only_after_report);
  CPPUNIT_TEST(partial_expansion_recorded_only_after_report);
  CPPUNIT_TEST(content_filter_takes_every_recipient);
  CPPUNIT_TEST(pickup_records_content_filter);
  CPPUNIT_TEST(pickup_filter_verdicts);
  CPPUNIT_TEST(milter_verdicts_for_pickup);
  CPPUNIT_TEST_SUITE_END();

 public:
  void delivers_and_removes() {
    FakeStore s;
    FakeAgents a;
    Manager m(config(), s, a);
    std::string id = s.add("incoming", "alice@remote.test", {"bob@example.org"}, 1000);
    m.start(1000);
    m.pump(1000);
    CPPUNIT_ASSERT(s.find("active", id));
    CPPUNIT_ASSERT_EQUAL(size_t(1), a.requests.size());
    auto& req = a.requests.front();
    CPPUNIT_ASSERT_EQUAL(std::string("local"), req.transport);
    CPPUNIT_ASSERT_EQUAL(std::string("deliver"), std::string(*req.msg.get("cmd")));
    CPPUNIT_ASSERT_EQUAL(std::string("active/" + id), std::string(*req.msg.get("file")));
    CPPUNIT_ASSERT_EQUAL(std::string("alice@remote.test"), std::string(*req.msg.get("sender")));
    CPPUNIT_ASSERT_EQUAL(std::string("100"), std::string(*req.msg.get("offset")));
    m.complete(req.token, reply(s, req, "sent"), 1001);
    CPPUNIT_ASSERT(!s.find("active", id));
    CPPUNIT_ASSERT_EQUAL(size_t(0), m.messages_in_flight());
    CPPUNIT_ASSERT(s.queues["incoming"].empty());  // no report was due
  }

  void defers_with_backoff_then_delivers() {
    FakeStore s;
    FakeAgents a;
    Manager m(config(), s, a);
    std::string id = s.add("incoming", "alice@remote.test", {"bob@example.org"}, 1000);
    m.start(1000);
    m.pump(1000);
    auto req = a.requests.front();
    a.requests.pop_front();
    m.complete(req.token, reply(s, req, "defer", true, "mailbox is not writable"), 1010);
    FakeFile* f = s.find("deferred", id);
    CPPUNIT_ASSERT(f);
    CPPUNIT_ASSERT_EQUAL(int64_t(1010 + 300), f->mtime);  // age 10 < minimal_backoff_time
    CPPUNIT_ASSERT_EQUAL(std::string("mailbox is not writable"), s.defer[id].reasons["bob@example.org"]);
    m.scan_deferred(1200, false);
    m.pump(1200);
    CPPUNIT_ASSERT(a.requests.empty());  // not yet
    m.scan_deferred(1310, false);
    m.pump(1310);
    CPPUNIT_ASSERT_EQUAL(size_t(1), a.requests.size());
    req = a.requests.front();
    a.requests.pop_front();
    m.complete(req.token, reply(s, req, "defer"), 1320);
    CPPUNIT_ASSERT_EQUAL(int64_t(1320 + 320), s.find("deferred", id)->mtime);  // age 320: doubling
    m.scan_deferred(1330, true);  // flush: now, whatever the time
    m.pump(1330);
    req = a.requests.front();
    a.requests.pop_front();
    m.complete(req.token, reply(s, req, "sent"), 1331);
    CPPUNIT_ASSERT(!s.find("deferred", id) && !s.find("active", id));
    CPPUNIT_ASSERT(!s.defer.count(id));
  }

  void expiry_bounces_with_dsn() {
    FakeStore s;
    FakeAgents a;
    auto cfg = config();
    cfg.maximal_queue_lifetime = 3600;
    Manager m(cfg, s, a);
    std::string id = s.add("deferred", "alice@example.org", {"bob@example.org", "carol@example.org"}, 1000);
    m.start(5000);
    m.pump(5000);
    CPPUNIT_ASSERT_EQUAL(size_t(2), a.requests.size());
    auto r1 = a.requests[0], r2 = a.requests[1];
    a.requests.clear();
    m.complete(r1.token, reply(s, r1, "sent"), 5001);
    m.complete(r2.token, reply(s, r2, "defer", true, "quota exceeded"), 5002);
    // Expired: carol bounces; the report goes to alice, naming carol only.
    CPPUNIT_ASSERT(!s.find("active", id) && !s.find("deferred", id));
    CPPUNIT_ASSERT_EQUAL(size_t(1), s.queues["incoming"].size() + s.queues["active"].size());
    m.pump(5003);
    auto& dsn_req = a.requests.front();
    std::string dsn_id(*dsn_req.msg.get("id"));
    FakeFile* dsn = s.find("active", dsn_id);
    CPPUNIT_ASSERT(dsn);
    CPPUNIT_ASSERT_EQUAL(std::string(""), dsn->msg.sender);
    CPPUNIT_ASSERT_EQUAL(std::string("alice@example.org"), dsn->msg.recipients[0].address);
    auto h = mail::parse_headers(dsn->content);
    CPPUNIT_ASSERT_EQUAL(std::string("Undelivered Mail Returned to Sender"), *h.get("Subject"));
    CPPUNIT_ASSERT(dsn->content.find("Final-Recipient: rfc822; carol@example.org") != std::string::npos);
    CPPUNIT_ASSERT(dsn->content.find("quota exceeded") != std::string::npos);
    CPPUNIT_ASSERT(dsn->content.find("Final-Recipient: rfc822; bob@example.org") == std::string::npos);
  }

  void bounce_of_bounce_goes_to_postmaster_once() {
    FakeStore s;
    FakeAgents a;
    Manager m(config(), s, a);
    // A bounce (sender <>) to an unknown virtual address fails at routing.
    std::string id = s.add("incoming", "", {"nobody@virt.test"}, 1000);
    m.start(1000);
    m.pump(1000);
    CPPUNIT_ASSERT(!s.find("active", id));
    CPPUNIT_ASSERT_EQUAL(size_t(1), a.requests.size());  // the report to postmaster, via local
    auto req = a.requests.front();
    a.requests.pop_front();
    std::string pm_id(*req.msg.get("id"));
    CPPUNIT_ASSERT_EQUAL(std::string("postmaster@mx.example.org"), std::string(*req.msg.get("rcpt")));
    CPPUNIT_ASSERT_EQUAL(std::string("double-bounce@mx.example.org"), std::string(*req.msg.get("sender")));
    // Postmaster's delivery fails too: nothing more is queued.
    m.complete(req.token, reply(s, req, "bounce"), 1001);
    m.pump(1002);
    CPPUNIT_ASSERT(a.requests.empty());
    CPPUNIT_ASSERT(s.queues["incoming"].empty() && s.queues["active"].empty());
  }

  void restart_resumes_only_pending() {
    FakeStore s;
    FakeAgents a;
    std::string id = s.add("active", "alice@example.org", {"bob@example.org", "carol@example.org"}, 1000);
    s.find("active", id)->status[100] = 1;  // bob was delivered before the crash
    Manager m(config(), s, a);
    m.start(1100);
    m.pump(1100);
    CPPUNIT_ASSERT_EQUAL(size_t(1), a.requests.size());
    CPPUNIT_ASSERT_EQUAL(std::string("carol@example.org"), std::string(*a.requests[0].msg.get("rcpt")));
    // A deferred message keeps its time across the restart.
    FakeStore s2;
    FakeAgents a2;
    std::string d = s2.add("deferred", "alice@example.org", {"bob@example.org"}, 1000);
    s2.find("deferred", d)->mtime = 2000;
    Manager m2(config(), s2, a2);
    m2.start(1500);
    m2.pump(1500);
    CPPUNIT_ASSERT(a2.requests.empty());
    m2.scan_deferred(2000, false);
    m2.pump(2000);
    CPPUNIT_ASSERT_EQUAL(size_t(1), a2.requests.size());
  }

  // A message that names a content filter goes, all of it, to the filter: local, alias
  // and remote recipients alike, unexpanded, in one request; a filter that is down
  // defers it, and the next pass tries the filter again.
  void content_filter_takes_every_recipient() {
    FakeStore s;
    FakeAgents a;
    Manager m(config(), s, a);
    std::string id = s.add("incoming", "alice@remote.test", {"bob@example.org", "team@virt.test", "x@remote.test"}, 1000);
    s.find("incoming", id)->msg.content_filter = "smtp:[127.0.0.1]:10025";
    m.start(1000);
    m.pump(1000);
    CPPUNIT_ASSERT_EQUAL(size_t(1), a.requests.size());
    auto req = a.requests.front();
    a.requests.pop_front();
    CPPUNIT_ASSERT_EQUAL(std::string("smtp"), req.transport);
    CPPUNIT_ASSERT_EQUAL(std::string("[127.0.0.1]:10025"), std::string(*req.msg.get("nexthop")));
    auto rcpts = req.msg.get_all("rcpt");
    CPPUNIT_ASSERT_EQUAL(size_t(3), rcpts.size());
    CPPUNIT_ASSERT_EQUAL(std::string("team@virt.test"), std::string(rcpts[1]));
    CPPUNIT_ASSERT(s.queues["incoming"].empty());  // no alias expansion queued
    m.complete(req.token, reply(s, req, "defer", true, "connect to 127.0.0.1[127.0.0.1]:10025: Connection refused"), 1001);
    CPPUNIT_ASSERT(s.find("deferred", id));
    m.scan_deferred(1002, true);
    m.pump(1002);
    CPPUNIT_ASSERT_EQUAL(size_t(1), a.requests.size());
    req = a.requests.front();
    a.requests.pop_front();
    CPPUNIT_ASSERT_EQUAL(std::string("[127.0.0.1]:10025"), std::string(*req.msg.get("nexthop")));
    m.complete(req.token, reply(s, req, "sent"), 1003);
    CPPUNIT_ASSERT(!s.find("active", id) && !s.find("deferred", id));
    // A filter value that does not parse defers the message; it never goes round it.
    std::string bad = s.add("incoming", "alice@remote.test", {"bob@example.org"}, 1000);
    s.find("incoming", bad)->msg.content_filter = "nonsense";
    m.scan_new(1004);
    m.pump(1004);
    CPPUNIT_ASSERT(a.requests.empty());
    CPPUNIT_ASSERT(s.find("deferred", bad));
  }

  // Mail from sendmail/postdrop gets qmgr's content_filter in its new queue file;
  // whatever the maildrop file said is not taken.
  void pickup_records_content_filter() {
    FakeStore s;
    FakeAgents a;
    ManagerConfig c = config();
    c.content_filter = "scan:[127.0.0.1]:10025";
    std::string mine = s.add("maildrop", "user@mx.example.org", {"bob@example.org"}, 1000);
    Manager m(c, s, a);
    m.start(1000);
    m.pump(1000);
    CPPUNIT_ASSERT_EQUAL(size_t(1), a.requests.size());
    CPPUNIT_ASSERT_EQUAL(std::string("scan"), a.requests.front().transport);
    CPPUNIT_ASSERT(std::string(*a.requests.front().msg.get("id")) != mine);
    FakeStore s2;
    FakeAgents a2;
    std::string sneaky = s2.add("maildrop", "user@mx.example.org", {"bob@example.org"}, 1000);
    s2.find("maildrop", sneaky)->msg.content_filter = "smtp:[192.0.2.1]:25";
    Manager m2(config(), s2, a2);
    m2.start(1000);
    m2.pump(1000);
    CPPUNIT_ASSERT_EQUAL(size_t(1), a2.requests.size());
    CPPUNIT_ASSERT_EQUAL(std::string("local"), a2.requests.front().transport);
  }

  // non_smtpd_milters: maildrop files wait for the filters' verdict; accept queues
  // the edited message, reject bounces it to the sender without a delivery, discard
  // drops it, tempfail leaves it for a later scan, quarantine puts it on hold.
  void pickup_filter_verdicts() {
    struct Filter : PickupFilter {
      std::vector<std::pair<std::string, NewMessage>> started;
      void start(const std::string& id, const NewMessage& m) override { started.emplace_back(id, m); }
    } filter;
    FakeStore s;
    FakeAgents a;
    Manager m(config(), s, a);
    m.set_pickup_filter(&filter);
    std::string ok = s.add("maildrop", "user@mx.example.org", {"bob@example.org"}, 1000, mail::kNotifyDefault,
                           "Subject: hi\n\nbody\n");
    std::string rej = s.add("maildrop", "user@mx.example.org", {"carol@example.org"}, 1000);
    std::string gone = s.add("maildrop", "user@mx.example.org", {"dave@example.org"}, 1000);
    std::string later = s.add("maildrop", "user@mx.example.org", {"erin@example.org"}, 1000);
    std::string held = s.add("maildrop", "user@mx.example.org", {"fay@example.org"}, 1000);
    m.start(1000);
    m.pump(1000);
    CPPUNIT_ASSERT_EQUAL(size_t(5), filter.started.size());
    CPPUNIT_ASSERT(a.requests.empty());
    CPPUNIT_ASSERT_EQUAL(size_t(5), s.queues["maildrop"].size());
    m.scan_new(1001);  // a scan meanwhile starts none of them again
    CPPUNIT_ASSERT_EQUAL(size_t(5), filter.started.size());

    PickupVerdict accept;
    accept.content = "X-Filtered: yes\nSubject: hi\n\nbody\n";
    accept.added_rcpts = {"ann"};
    accept.deleted_rcpts = {"BOB@example.org"};
    m.pickup_inspected(ok, accept, 1002);
    m.pump(1002);
    CPPUNIT_ASSERT(!s.find("maildrop", ok));
    CPPUNIT_ASSERT_EQUAL(size_t(1), a.requests.size());
    auto rcpts = a.requests.front().msg.get_all("rcpt");
    CPPUNIT_ASSERT_EQUAL(size_t(1), rcpts.size());
    CPPUNIT_ASSERT_EQUAL(std::string("ann@mx.example.org"), std::string(rcpts[0]));
    std::string qid(*a.requests.front().msg.get("id"));
    CPPUNIT_ASSERT_EQUAL(*accept.content, s.find("active", qid)->content);
    a.requests.clear();

    PickupVerdict reject;
    reject.kind = PickupVerdict::Kind::Reject;
    reject.reply = "5.7.1 Rejected by policy";
    m.pickup_inspected(rej, reject, 1003);
    m.pump(1003);
    CPPUNIT_ASSERT(!s.find("maildrop", rej));
    CPPUNIT_ASSERT(a.requests.empty() || a.requests.front().transport == "local");
    for (auto& r : a.requests) {  // only the report to the sender is delivered
      auto to = r.msg.get_all("rcpt");
      CPPUNIT_ASSERT_EQUAL(std::string("user@mx.example.org"), std::string(to[0]));
    }
    CPPUNIT_ASSERT_EQUAL(size_t(1), s.notices("Rejected by policy"));
    a.requests.clear();

    PickupVerdict discard;
    discard.kind = PickupVerdict::Kind::Discard;
    m.pickup_inspected(gone, discard, 1004);
    CPPUNIT_ASSERT(!s.find("maildrop", gone));

    PickupVerdict tempfail;
    tempfail.kind = PickupVerdict::Kind::Tempfail;
    tempfail.reply = "4.7.1 try later";
    m.pickup_inspected(later, tempfail, 1005);
    CPPUNIT_ASSERT(s.find("maildrop", later));
    m.scan_new(1006);  // the next scan asks the filters again
    CPPUNIT_ASSERT_EQUAL(later, filter.started.back().first);

    PickupVerdict hold;
    hold.hold = true;
    m.pickup_inspected(held, hold, 1007);
    m.pump(1007);
    CPPUNIT_ASSERT(!s.find("maildrop", held));
    CPPUNIT_ASSERT_EQUAL(size_t(1), s.queues["hold"].size());
    CPPUNIT_ASSERT(a.requests.empty());
    // A verdict for a file nobody asked about is ignored.
    m.pickup_inspected("NOSUCH", accept, 1008);
  }

  // What PickupMilters makes of each milter verdict: the filter's reply with its
  // enhanced code (a 5xx one without a code gets 5.7.1), quarantine by default.
  void milter_verdicts_for_pickup() {
    using milter::MilterVerdict;
    MilterVerdict r;
    r.kind = MilterVerdict::Kind::Reject;
    r.reply = smtp::reply(554, "5.7.1", "Rejected by the filter");
    auto v = PickupMilters::verdict(r, nullptr, false);
    CPPUNIT_ASSERT(v.kind == PickupVerdict::Kind::Reject);
    CPPUNIT_ASSERT_EQUAL(std::string("5.7.1 Rejected by the filter"), v.reply);
    r.reply = smtp::reply(550, "", "no code");
    CPPUNIT_ASSERT_EQUAL(std::string("5.7.1 no code"), PickupMilters::verdict(r, nullptr, false).reply);
    MilterVerdict t;
    t.kind = MilterVerdict::Kind::Tempfail;
    t.reply = smtp::reply(451, "4.7.1", "later");
    v = PickupMilters::verdict(t, nullptr, false);
    CPPUNIT_ASSERT(v.kind == PickupVerdict::Kind::Tempfail);
    CPPUNIT_ASSERT_EQUAL(std::string("4.7.1 later"), v.reply);
    MilterVerdict d;
    d.kind = MilterVerdict::Kind::Discard;
    CPPUNIT_ASSERT(PickupMilters::verdict(d, nullptr, false).kind == PickupVerdict::Kind::Discard);
    MilterVerdict c;
    v = PickupMilters::verdict(c, nullptr, true);
    CPPUNIT_ASSERT(v.kind == PickupVerdict::Kind::Accept && v.hold && !v.content);
    CPPUNIT_ASSERT(!PickupMilters::verdict(c, nullptr, false).hold);
  }

  void maildrop_pickup() {
    FakeStore s;
    FakeAgents a;
    std::string good = s.add("maildrop", "user@mx.example.org", {"bob@example.org"}, 1000);
    std::string bad = s.add("maildrop", "user@mx.example.org", {"bob@example.org"}, 1000);
    s.find("maildrop", bad)->corrupt = true;
    std::string empty = s.add("maildrop", "user@mx.example.org", {}, 1000);
    std::string evil = s.add("maildrop", "a\r\nb", {"bob@example.org"}, 1000);
    Manager m(config(), s, a);
    m.start(1000);
    m.pump(1000);
    CPPUNIT_ASSERT(s.queues["maildrop"].empty());
    CPPUNIT_ASSERT(s.find("corrupt", bad) && s.find("corrupt", empty) && s.find("corrupt", evil));
    CPPUNIT_ASSERT(!s.find("corrupt", good));
    CPPUNIT_ASSERT_EQUAL(size_t(1), a.requests.size());  // the good one, re-queued under a new id
    CPPUNIT_ASSERT(std::string(*a.requests[0].msg.get("id")) != good);
    // A queue that cannot be written leaves the maildrop file for the next scan.
    std::string later = s.add("maildrop", "user@mx.example.org", {"bob@example.org"}, 1000);
    s.fail_inject = true;
    m.scan_new(1001);
    CPPUNIT_ASSERT(s.find("maildrop", later));
  }

  void named_new_mail_is_admitted_without_a_scan() {
    FakeStore s;
    FakeAgents a;
    ManagerConfig c = config();
    c.message_active_limit = 2;
    Manager m(c, s, a);
    m.start(1000);
    int lists = s.lists;
    std::string id = s.add("incoming", "alice@example.org", {"bob@example.org"}, 1000);
    std::string other = s.add("incoming", "alice@example.org", {"carol@example.org"}, 1000);
    CPPUNIT_ASSERT(m.admit_new("incoming", id, 1000));
    m.pump(1000);
    CPPUNIT_ASSERT_EQUAL(lists, s.lists);  // no folder listed
    CPPUNIT_ASSERT(s.find("active", id));
    CPPUNIT_ASSERT(s.find("incoming", other));  // not named: left for a scan
    CPPUNIT_ASSERT_EQUAL(size_t(1), a.requests.size());
    // New mail has no deferral notes: none read, none removed when it is done.
    auto req = a.requests.front();
    a.requests.pop_front();
    m.complete(req.token, reply(s, req, "sent"), 1000);
    CPPUNIT_ASSERT(!s.find("active", id));
    CPPUNIT_ASSERT_EQUAL(0, s.defer_reads);
    CPPUNIT_ASSERT_EQUAL(0, s.defer_drops);
    // Named twice, or taken by a scan before its wake-up came: nothing happens.
    CPPUNIT_ASSERT(m.admit_new("incoming", id, 1000));
    CPPUNIT_ASSERT(m.admit_new("maildrop", id, 1000));
    CPPUNIT_ASSERT(m.admit_new("deferred", other, 1000));  // not a folder of new mail
    CPPUNIT_ASSERT(s.find("incoming", other));
    CPPUNIT_ASSERT_EQUAL(size_t(0), a.requests.size());
    // A pass that deferred wrote notes: those go when the message is done.
    CPPUNIT_ASSERT(m.admit_new("incoming", other, 1000));
    m.pump(1000);
    req = a.requests.front();
    a.requests.pop_front();
    m.complete(req.token, reply(s, req, "defer"), 1000);
    CPPUNIT_ASSERT(s.find("deferred", other));
    CPPUNIT_ASSERT_EQUAL(size_t(1), s.defer.count(other));
    m.scan_deferred(1000, true);
    m.pump(1000);
    CPPUNIT_ASSERT_EQUAL(1, s.defer_reads);  // a deferred message's notes are read
    req = a.requests.front();
    a.requests.pop_front();
    m.complete(req.token, reply(s, req, "sent"), 1001);
    CPPUNIT_ASSERT_EQUAL(size_t(0), s.defer.count(other));
    // The active limit: a named message waits, and says so.
    std::string x = s.add("incoming", "alice@example.org", {"x@example.org"}, 1000);
    std::string y = s.add("incoming", "alice@example.org", {"y@example.org"}, 1000);
    std::string z = s.add("incoming", "alice@example.org", {"z@example.org"}, 1000);
    CPPUNIT_ASSERT(m.admit_new("incoming", x, 1002));
    CPPUNIT_ASSERT(m.admit_new("incoming", y, 1002));
    CPPUNIT_ASSERT(!m.admit_new("incoming", z, 1002));
    CPPUNIT_ASSERT(s.find("incoming", z));
    CPPUNIT_ASSERT(!m.scan_new(1002));
    CPPUNIT_ASSERT(s.find("incoming", z));
  }

  void agent_garbage_and_unrecorded_outcomes() {
    FakeStore s;
    FakeAgents a;
    Manager m(config(), s, a);
    std::string id = s.add("incoming", "alice@example.org", {"bob@example.org"}, 1000);
    m.start(1000);
    m.pump(1000);
    auto req = a.requests.front();
    a.requests.pop_front();
    AgentResult dead;
    dead.error = "agent died";
    m.complete(req.token, dead, 1001);
    CPPUNIT_ASSERT(s.find("deferred", id));
    CPPUNIT_ASSERT_EQUAL(std::string("agent died"), s.defer[id].reasons["bob@example.org"]);
    m.scan_deferred(1001, true);
    m.pump(1001);
    req = a.requests.front();
    a.requests.pop_front();
    // An agent that says "sent" but forgot the status byte: qmgr records it.
    m.complete(req.token, reply(s, req, "sent", false), 1002);
    CPPUNIT_ASSERT(!s.find("active", id) && !s.find("deferred", id));
    // A reply for the wrong recipient is a defer, not a delivery.
    std::string id2 = s.add("incoming", "alice@example.org", {"carol@example.org"}, 1000);
    m.scan_new(1003);
    m.pump(1003);
    req = a.requests.front();
    a.requests.pop_front();
    AgentResult wrong;
    wrong.ok = true;
    wrong.rcpts.push_back({"mallory@example.org", "sent", "2.0.0", "ok", "local"});
    m.complete(req.token, wrong, 1004);
    CPPUNIT_ASSERT(s.find("deferred", id2));
  }

  void virtual_alias_fan_out() {
    FakeStore s;
    FakeAgents a;
    Manager m(config(), s, a);
    std::string id = s.add("incoming", "alice@remote.test", {"team@virt.test"}, 1000);
    m.start(1000);
    m.pump(1000);
    CPPUNIT_ASSERT(!s.find("active", id));  // done: expanded into a new message
    CPPUNIT_ASSERT_EQUAL(size_t(2), a.requests.size());
    std::set<std::string> rcpts;
    for (auto& r : a.requests) rcpts.insert(std::string(*r.msg.get("rcpt")));
    CPPUNIT_ASSERT(rcpts.count("bob@example.org") && rcpts.count("carol@example.org"));
    FakeFile* n = s.find("active", std::string(*a.requests[0].msg.get("id")));
    CPPUNIT_ASSERT_EQUAL(std::string("team@virt.test"), n->msg.recipients[0].orcpt);
    CPPUNIT_ASSERT_EQUAL(std::string("alice@remote.test"), n->msg.sender);
  }

  void virtual_alias_partial_bounce() {
    FakeStore s;
    FakeAgents a;
    Manager m(config(), s, a);
    // Two of the three targets are unknown virtual mailboxes: bob gets the message, the
    // sender a report naming each failed target, with the alias as original recipient.
    std::string id = s.add("incoming", "alice@remote.test", {"mixed@virt.test"}, 1000);
    m.start(1000);
    m.pump(1000);
    CPPUNIT_ASSERT(!s.find("active", id));
    CPPUNIT_ASSERT_EQUAL(size_t(2), a.requests.size());  // bob's copy and the report
    std::string report;
    std::set<std::string> rcpts;
    for (auto& r : a.requests) {
      rcpts.insert(std::string(*r.msg.get("rcpt")));
      FakeFile* f = s.find("active", std::string(*r.msg.get("id")));
      CPPUNIT_ASSERT(f);
      if (f->msg.sender.empty()) report = f->content;
    }
    CPPUNIT_ASSERT(rcpts.count("bob@example.org") && rcpts.count("alice@remote.test"));
    CPPUNIT_ASSERT(!report.empty());
    CPPUNIT_ASSERT(report.find("Undelivered Mail Returned to Sender") != std::string::npos);
    for (const char* target : {"nobody@virt.test", "ghost@virt.test"}) {
      CPPUNIT_ASSERT_MESSAGE(target, report.find(std::string("Final-Recipient: rfc822; ") + target) != std::string::npos);
    }
    size_t orig = 0;
    for (size_t at = 0; (at = report.find("Original-Recipient: rfc822; mixed@virt.test", at)) != std::string::npos; ++at)
      ++orig;
    CPPUNIT_ASSERT_EQUAL(size_t(2), orig);
    CPPUNIT_ASSERT(report.find("Action: failed") != std::string::npos);
    CPPUNIT_ASSERT(report.find("Final-Recipient: rfc822; bob@example.org") == std::string::npos);
  }

  void concurrency_limits() {
    FakeStore s;
    FakeAgents a;
    Manager m(config(), s, a);  // local: 2 at once
    for (int i = 0; i < 5; ++i) s.add("incoming", "alice@example.org", {"bob@example.org"}, 1000);
    m.start(1000);
    m.pump(1000);
    CPPUNIT_ASSERT_EQUAL(size_t(2), a.requests.size());
    int delivered = 0;
    while (!a.requests.empty()) {
      auto req = a.requests.front();
      a.requests.pop_front();
      m.complete(req.token, reply(s, req, "sent"), 1001);
      ++delivered;
      m.pump(1001);
      CPPUNIT_ASSERT(m.jobs_running() <= 2);
    }
    CPPUNIT_ASSERT_EQUAL(5, delivered);
    CPPUNIT_ASSERT(s.queues["active"].empty());
  }

  void local_limit_is_per_recipient() {
    FakeStore s;
    FakeAgents a;
    ManagerConfig c = config();
    c.limits["local"] = {100, 2};  // 2 at once per recipient, 100 in all
    Manager m(c, s, a);
    for (int i = 0; i < 3; ++i) s.add("incoming", "alice@example.org", {"bob@example.org"}, 1000);
    for (int i = 0; i < 3; ++i) s.add("incoming", "alice@example.org", {"carol@example.org"}, 1000);
    m.start(1000);
    m.pump(1000);
    CPPUNIT_ASSERT_EQUAL(size_t(4), a.requests.size());
  }

  void relay_domain_routing() {
    FakeStore s;
    FakeAgents a;
    ManagerConfig c = config();
    c.route.relay_domains = {"relayed.test"};
    Manager m(c, s, a);
    s.add("incoming", "alice@example.org", {"x@relayed.test", "y@other.test"}, 1000);
    m.start(1000);
    m.pump(1000);
    CPPUNIT_ASSERT_EQUAL(size_t(2), a.requests.size());
    std::map<std::string, std::string> hop;
    for (auto& r : a.requests) hop[r.transport] = std::string(*r.msg.get("nexthop"));
    CPPUNIT_ASSERT_EQUAL(std::string("relayed.test"), hop["relay"]);
    CPPUNIT_ASSERT_EQUAL(std::string("other.test"), hop["smtp"]);
  }

  // The smtp agent's answer when no server of the destination could be reached.
  static AgentResult site_failure(const Request& req) {
    AgentResult r;
    r.ok = true;
    for (auto rc : req.msg.get_all("rcpt"))
      r.rcpts.push_back({std::string(rc), "defer", "4.4.1", "connect to 127.0.0.1[127.0.0.1]:1: Connection refused",
                         "127.0.0.1[127.0.0.1]:1"});
    return r;
  }

  void dead_destination_defers_without_trying() {
    FakeStore s;
    FakeAgents a;
    ManagerConfig c = config();
    c.route.relay_domains = {"relayed.test"};
    c.limits["relay"] = {100, 20, 1, 1, 0};  // one at a time, one failed cohort kills
    c.minimal_backoff_time = 60;
    int64_t clock = 1000000;
    c.clock_ms = [&clock] { return clock; };
    Manager m(c, s, a);
    std::vector<std::string> ids;
    for (int i = 0; i < 4; ++i) ids.push_back(s.add("incoming", "alice@example.org", {"x@relayed.test"}, 1000));
    std::string other = s.add("incoming", "alice@example.org", {"y@else.test"}, 1000);
    m.start(1000);
    m.pump(1000);
    CPPUNIT_ASSERT_EQUAL(size_t(2), a.requests.size());  // relayed.test: window 1; else.test
    auto take = [&a](const char* transport) {
      for (auto it = a.requests.begin(); it != a.requests.end(); ++it)
        if (it->transport == transport) {
          Request r = *it;
          a.requests.erase(it);
          return r;
        }
      CPPUNIT_FAIL(std::string("no request for ") + transport);
      return Request{};
    };
    // A recipient-level deferral (4.2.0) is no site failure: the destination reached
    // its server, so the window opens to 2.
    Request first = take("relay");
    m.complete(first.token, reply(s, first, "defer", true, "mailbox full"), 1001);
    m.pump(1001);
    CPPUNIT_ASSERT_EQUAL(size_t(3), a.requests.size());
    Request second = take("relay"), third = take("relay");
    // Two site failures at window 2: 1/2 + 1/1 failed cohorts, dead.
    m.complete(second.token, site_failure(second), 1002);
    m.pump(1002);
    CPPUNIT_ASSERT_EQUAL(size_t(1), a.requests.size());  // window 1, third still running
    m.complete(third.token, site_failure(third), 1002);
    // Dead: the fourth message is deferred without a request.
    m.pump(1002);
    CPPUNIT_ASSERT_EQUAL(size_t(1), a.requests.size());  // only else.test's
    for (const auto& id : ids) CPPUNIT_ASSERT_MESSAGE(id, s.find("deferred", id));
    CPPUNIT_ASSERT_EQUAL(std::string("delivery temporarily suspended: connect to 127.0.0.1[127.0.0.1]:1: Connection refused"),
                         s.defer[ids[3]].reasons["x@relayed.test"]);
    CPPUNIT_ASSERT_EQUAL(std::string("connect to 127.0.0.1[127.0.0.1]:1: Connection refused"),
                         s.defer[ids[2]].reasons["x@relayed.test"]);
    // Mail that arrives for the dead destination is deferred too; others are not held up.
    std::string late = s.add("incoming", "alice@example.org", {"z@relayed.test"}, 1003);
    m.scan_new(1003);
    m.pump(1003);
    CPPUNIT_ASSERT(s.find("deferred", late));
    CPPUNIT_ASSERT_EQUAL(size_t(1), a.requests.size());
    m.complete(a.requests.front().token, reply(s, a.requests.front(), "sent"), 1004);
    a.requests.pop_front();
    CPPUNIT_ASSERT(!s.find("active", other) && !s.find("deferred", other));
    // After minimal_backoff_time the destination is tried again.
    clock += 60000;
    m.scan_deferred(1100, true);
    m.pump(1100);
    CPPUNIT_ASSERT_EQUAL(size_t(1), a.requests.size());  // window 1 again
    CPPUNIT_ASSERT_EQUAL(std::string("relay"), a.requests.front().transport);
    // Dead again; a deferred scan leaves it suspended, a flush (postilionctl flush: the
    // next hop is back) tries it at once, before minimal_backoff_time is over.
    Request again = a.requests.front();
    a.requests.pop_front();
    m.complete(again.token, site_failure(again), 1101);
    m.pump(1101);
    CPPUNIT_ASSERT(a.requests.empty());
    m.scan_deferred(99999, false);
    m.pump(99999);
    CPPUNIT_ASSERT(a.requests.empty());
    m.scan_deferred(1102, true);
    m.pump(1102);
    CPPUNIT_ASSERT(!a.requests.empty());
    CPPUNIT_ASSERT_EQUAL(std::string("relay"), a.requests.front().transport);
  }

  void rate_delay_spaces_deliveries() {
    FakeStore s;
    FakeAgents a;
    ManagerConfig c = config();
    c.route.relay_domains = {"relayed.test"};
    c.limits["relay"] = {100, 20, 5, 1, 1000};
    int64_t clock = 5000;
    c.clock_ms = [&clock] { return clock; };
    Manager m(c, s, a);
    for (int i = 0; i < 3; ++i) s.add("incoming", "alice@example.org", {"x@relayed.test"}, 1000);
    m.start(1000);
    m.pump(1000);
    std::vector<int64_t> starts;
    for (int round = 0; round < 20 && starts.size() < 3; ++round) {
      m.pump(1000);
      if (a.requests.empty()) {
        auto at = m.next_wakeup_ms();
        CPPUNIT_ASSERT(at);
        clock = *at;
        continue;
      }
      CPPUNIT_ASSERT_EQUAL(size_t(1), a.requests.size());  // one at a time
      starts.push_back(clock);
      clock += 250;  // the delivery takes 250 ms
      m.complete(a.requests.front().token, reply(s, a.requests.front(), "sent"), 1000);
      a.requests.pop_front();
    }
    CPPUNIT_ASSERT_EQUAL(size_t(3), starts.size());
    CPPUNIT_ASSERT_EQUAL(int64_t(5000), starts[0]);
    CPPUNIT_ASSERT_EQUAL(int64_t(6250), starts[1]);  // ended at 5250, + 1000
    CPPUNIT_ASSERT_EQUAL(int64_t(7500), starts[2]);
    CPPUNIT_ASSERT(!m.next_wakeup_ms());
  }

  void delay_warning_once() {
    FakeStore s;
    FakeAgents a;
    auto cfg = config();
    cfg.delay_warning_time = 3600;
    Manager m(cfg, s, a);
    std::string id = s.add("deferred", "alice@example.org", {"bob@example.org"}, 1000);
    for (int64_t t : {2000, 5000, 6000}) {  // the second and third passes are past 1h
      m.scan_deferred(t, true);
      m.pump(t);
      auto req = a.requests.front();
      a.requests.clear();
      m.complete(req.token, reply(s, req, "defer", true, "mailbox locked"), t);
    }
    m.pump(6001);
    // One warning went out (to alice), not two; bob is still queued.
    CPPUNIT_ASSERT_EQUAL(size_t(1), s.notices("Delayed Mail (still being retried)"));
    CPPUNIT_ASSERT(s.find("deferred", id));
    CPPUNIT_ASSERT(s.defer[id].warned);
  }

  void bounce_recorded_only_after_report() {
    FakeStore s;
    FakeAgents a;
    Manager m(config(), s, a);
    std::string id = s.add("incoming", "alice@example.org", {"nobody@virt.test"}, 1000);
    s.fail_inject = true;  // the report cannot be queued: the bounce is not recorded
    m.start(1000);
    m.pump(1000);
    FakeFile* f = s.find("deferred", id);
    CPPUNIT_ASSERT(f);
    CPPUNIT_ASSERT_EQUAL(0, f->status[100]);
    s.fail_inject = false;
    m.scan_deferred(1000, true);
    m.pump(1000);
    CPPUNIT_ASSERT(!s.find("deferred", id) && !s.find("active", id));
    CPPUNIT_ASSERT_EQUAL(size_t(1), a.requests.size());  // the report, to alice
    CPPUNIT_ASSERT_EQUAL(std::string("alice@example.org"), std::string(*a.requests[0].msg.get("rcpt")));
  }

  // An expansion with targets that bounced is recorded once the report on them is
  // queued - qmgr's own (virtual alias) and local's (report=expanded) alike. When the
  // report cannot be queued the recipient stays pending and is tried again: a second
  // copy for the targets delivered, never a lost report.
  void partial_expansion_recorded_only_after_report() {
    for (bool by_local : {false, true}) {
      FakeStore s;
      FakeAgents a;
      Manager m(config(), s, a);
      std::string id = s.add("incoming", "alice@remote.test", {by_local ? "team@example.org" : "mixed@virt.test"}, 1000);
      // qmgr's expansion: the new message for bob is queued, the report is not.
      s.injects_left = by_local ? 0 : 1;
      m.start(1000);
      m.pump(1000);
      if (by_local) {
        CPPUNIT_ASSERT_EQUAL(size_t(1), a.requests.size());
        AgentResult r = reply(s, a.requests[0], "sent", false);
        r.rcpts[0].expanded.push_back({"ghost@example.org", "5.1.1", "unknown user: \"ghost\""});
        m.complete(a.requests[0].token, r, 1000);
      }
      FakeFile* f = s.find("deferred", id);
      CPPUNIT_ASSERT_MESSAGE(by_local ? "local" : "virtual", f);
      CPPUNIT_ASSERT_EQUAL(0, f->status[100]);
      a.requests.clear();
      s.injects_left = -1;
      m.scan_deferred(1000, true);
      m.pump(1000);
      if (by_local) {
        CPPUNIT_ASSERT_EQUAL(size_t(1), a.requests.size());  // the alias again
        AgentResult r = reply(s, a.requests[0], "sent", false);
        r.rcpts[0].expanded.push_back({"ghost@example.org", "5.1.1", "unknown user: \"ghost\""});
        m.complete(a.requests[0].token, r, 1000);
        CPPUNIT_ASSERT(!s.find("active", id));
      }
      CPPUNIT_ASSERT(!s.find("deferred", id) && !s.find("active", id));
      CPPUNIT_ASSERT_EQUAL(size_t(1), s.notices("Undelivered Mail Returned to Sender"));
    }
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ManagerTest);
