// lib/queue/delivery_request_test.cc - qmgr's delivery request as the agents read it:
// well-formed requests, malformed and hostile ones, and the record each recipient names
// (by offset, also when qmgr routed the address elsewhere).
#include "lib/queue/delivery_request.h"

#include <cppunit/extensions/HelperMacros.h>

#include "lib/queue/queue_id.h"

namespace postilion::queue {
namespace {

ipc::Message request(const std::string& id) {
  ipc::Message m;
  m.set("cmd", "deliver").set("id", id).set("file", "active/" + id).set("sender", "a@b.test");
  m.set("nexthop", "[127.0.0.1]:25").set("report", "expanded");
  m.set("rcpt", "x@y.test").set("orcpt", "rfc822;X@Y.test").set("offset", int64_t(120));
  m.set("rcpt", "target@remote.test").set("orcpt", "").set("offset", int64_t(160));
  return m;
}

}  // namespace

class DeliveryRequestTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(DeliveryRequestTest);
  CPPUNIT_TEST(well_formed);
  CPPUNIT_TEST(malformed);
  CPPUNIT_TEST(records_and_original_recipients);
  CPPUNIT_TEST(encoder_round_trip);
  CPPUNIT_TEST_SUITE_END();

  std::string id_ = make_id(1700000000000000, 42);

 public:
  void well_formed() {
    auto r = parse_delivery_request(request(id_));
    CPPUNIT_ASSERT_MESSAGE(r ? "" : r.error().str(), r.ok());
    CPPUNIT_ASSERT_EQUAL(id_, r->id);
    CPPUNIT_ASSERT_EQUAL("active/" + id_, r->file);
    CPPUNIT_ASSERT_EQUAL(std::string("a@b.test"), r->sender);
    CPPUNIT_ASSERT_EQUAL(std::string("[127.0.0.1]:25"), r->nexthop);
    CPPUNIT_ASSERT(r->report_expanded);
    CPPUNIT_ASSERT_EQUAL(size_t(2), r->rcpts.size());
    CPPUNIT_ASSERT_EQUAL(std::string("x@y.test"), r->rcpts[0].address);
    CPPUNIT_ASSERT_EQUAL(std::string("rfc822;X@Y.test"), r->rcpts[0].orcpt);
    CPPUNIT_ASSERT(r->rcpts[0].offset && *r->rcpts[0].offset == 120);
    CPPUNIT_ASSERT(r->rcpts[1].offset && *r->rcpts[1].offset == 160);
    // An empty sender and no report= are fine.
    ipc::Message m;
    m.set("cmd", "deliver").set("id", id_).set("file", "active/" + id_).set("sender", "");
    m.set("rcpt", "x@y.test").set("orcpt", "").set("offset", int64_t(1));
    r = parse_delivery_request(m);
    CPPUNIT_ASSERT(r.ok());
    CPPUNIT_ASSERT(!r->report_expanded);
    CPPUNIT_ASSERT_EQUAL(std::string(""), r->sender);
  }

  void malformed() {
    struct Case {
      const char* what;
      ipc::Message m;
      const char* error;
    };
    auto with = [&](auto change) {
      ipc::Message m = request(id_);
      change(m);
      return m;
    };
    auto bare = [&](const std::string& id, const std::string& file) {
      ipc::Message m;
      m.set("cmd", "deliver").set("id", id).set("file", file);
      m.set("rcpt", "x@y.test").set("orcpt", "").set("offset", int64_t(1));
      return m;
    };
    ipc::Message no_rcpt;
    no_rcpt.set("cmd", "deliver").set("id", id_).set("file", "active/" + id_);
    ipc::Message short_lists = bare(id_, "active/" + id_);
    short_lists.set("rcpt", "second@y.test").set("offset", int64_t(2));  // no second orcpt
    ipc::Message other_cmd = request(id_);
    other_cmd.set("cmd", "deliver");  // a second cmd: the first counts
    Case cases[] = {
        {"another command", with([](ipc::Message& m) { m = ipc::Message(); m.set("cmd", "flush"); }), "unknown command"},
        {"no command", ipc::Message(), "unknown command"},
        {"a bad id", bare("../../etc/passwd", "active/../../etc/passwd"), "bad id or file"},
        {"another folder", bare(id_, "deferred/" + id_), "bad id or file"},
        {"another file", bare(id_, "active/" + make_id(1700000000000001, 43)), "bad id or file"},
        {"a path", bare(id_, "/var/spool/postilion/active/" + id_), "bad id or file"},
        {"no recipients", no_rcpt, "recipients, orcpts and offsets do not match"},
        {"lists of different lengths", short_lists, "recipients, orcpts and offsets do not match"},
    };
    for (auto& c : cases) {
      auto r = parse_delivery_request(c.m);
      CPPUNIT_ASSERT_MESSAGE(c.what, !r.ok());
      CPPUNIT_ASSERT_EQUAL_MESSAGE(c.what, std::string(c.error), r.error().str());
    }
    CPPUNIT_ASSERT(parse_delivery_request(other_cmd).ok());
    // A malformed offset is that recipient's problem alone: it names no record.
    for (const char* off : {"", "-1", "12x", "99999999999999999999999", " 5"}) {
      ipc::Message m;
      m.set("cmd", "deliver").set("id", id_).set("file", "active/" + id_);
      m.set("rcpt", "x@y.test").set("orcpt", "").set("offset", off);
      auto r = parse_delivery_request(m);
      CPPUNIT_ASSERT_MESSAGE(off, r.ok());
      CPPUNIT_ASSERT_MESSAGE(off, !r->rcpts[0].offset.has_value());
      QueueFile f;
      f.recipients.push_back({"x@y.test", "", 0, RcptStatus::Pending, 0});
      CPPUNIT_ASSERT_MESSAGE(off, record_for(f, r->rcpts[0]) == nullptr);
    }
  }

  void records_and_original_recipients() {
    QueueFile f;
    f.recipients.push_back({"x@y.test", "rfc822;X@Y.test", 0, RcptStatus::Pending, 120});
    f.recipients.push_back({"info@alias.test", "", 0, RcptStatus::Pending, 160});
    auto r = parse_delivery_request(request(id_));
    CPPUNIT_ASSERT(r.ok());
    const Recipient* a = record_for(f, r->rcpts[0]);
    const Recipient* b = record_for(f, r->rcpts[1]);
    CPPUNIT_ASSERT(a == &f.recipients[0]);
    // qmgr routed info@alias.test to its virtual alias target: the offset decides.
    CPPUNIT_ASSERT(b == &f.recipients[1]);
    CPPUNIT_ASSERT_EQUAL(std::string("X@Y.test"), original_recipient(r->rcpts[0], a));  // the ORCPT
    CPPUNIT_ASSERT_EQUAL(std::string("info@alias.test"), original_recipient(r->rcpts[1], b));
    CPPUNIT_ASSERT_EQUAL(std::string("target@remote.test"), original_recipient(r->rcpts[1], nullptr));
    // An offset between records, or past them, names nothing.
    DeliveryRequest::Rcpt stray{"x@y.test", "", 125};
    CPPUNIT_ASSERT(record_for(f, stray) == nullptr);
    stray.offset = 100000;
    CPPUNIT_ASSERT(record_for(f, stray) == nullptr);
  }

  // What qmgr writes, every agent reads back unchanged: the same attributes in the
  // protocol's order, hostile bytes in addresses included, an unset offset as malformed.
  void encoder_round_trip() {
    CPPUNIT_ASSERT(encode_delivery_request(*parse_delivery_request(request(id_))).attrs() == request(id_).attrs());
    DeliveryRequest r;
    r.id = id_;
    r.file = "active/" + id_;
    r.sender = "";
    r.nexthop = "";
    r.rcpts.push_back({"a\r\n.\r\nRSET@x.test", "rfc822;A@X.test", 7});
    r.rcpts.push_back({std::string("nul\0byte@x.test", 15), "", std::nullopt});
    r.rcpts.push_back({std::string(5000, 'l') + "@x.test", "", 18446744073709551615ull});
    ipc::Message m = encode_delivery_request(r);
    CPPUNIT_ASSERT(!m.has("report"));
    auto back = parse_delivery_request(m);
    CPPUNIT_ASSERT_MESSAGE(back ? "" : back.error().str(), back.ok());
    CPPUNIT_ASSERT_EQUAL(r.id, back->id);
    CPPUNIT_ASSERT_EQUAL(r.file, back->file);
    CPPUNIT_ASSERT(!back->report_expanded);
    CPPUNIT_ASSERT_EQUAL(r.rcpts.size(), back->rcpts.size());
    for (size_t i = 0; i < r.rcpts.size(); ++i) {
      CPPUNIT_ASSERT_EQUAL(r.rcpts[i].address, back->rcpts[i].address);
      CPPUNIT_ASSERT_EQUAL(r.rcpts[i].orcpt, back->rcpts[i].orcpt);
      CPPUNIT_ASSERT(r.rcpts[i].offset == back->rcpts[i].offset);
    }
    r.report_expanded = true;
    CPPUNIT_ASSERT_EQUAL(std::string("expanded"), encode_delivery_request(r).get_or("report", ""));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(DeliveryRequestTest);

}  // namespace postilion::queue
