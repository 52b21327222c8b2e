// qmgr/notice_test.cc - who gets which report: NOTIFY, null senders, double bounces.
#include "qmgr/notice.h"

#include <cppunit/extensions/HelperMacros.h>

#include "lib/mail/header.h"

using namespace postilion;
using mail::DsnAction;

namespace {

qmgr::Outcome outcome(const char* rcpt, DsnAction a, unsigned notify = mail::kNotifyDefault) {
  qmgr::Outcome o;
  o.recipient = rcpt;
  o.action = a;
  o.notify = notify;
  o.dsn = a == DsnAction::Failed ? "5.1.1" : a == DsnAction::Delayed ? "4.4.1" : "2.0.0";
  o.text = "reason for " + std::string(rcpt);
  o.relay = "local";
  return o;
}

qmgr::MessageInfo info(const char* sender) {
  qmgr::MessageInfo m;
  m.queue_id = "ABCDEF1234";
  m.sender = sender;
  m.arrival_time = 1700000000;
  m.now = 1700000600;
  m.retry_until = 1700432000;
  return m;
}

const char* kOriginal = "From: x@y\nSubject: test\n\nbody\n";

}  // namespace

class NoticeTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(NoticeTest);
  CPPUNIT_TEST(failure_goes_to_sender);
  CPPUNIT_TEST(notify_is_honoured);
  CPPUNIT_TEST(never_bounce_a_bounce);
  CPPUNIT_TEST_SUITE_END();

 public:
  void failure_goes_to_sender() {
    qmgr::NoticeConfig cfg;
    cfg.myhostname = "mx.example.org";
    auto n = qmgr::plan_notices(cfg, info("alice@example.org"),
                                {outcome("bob@example.org", DsnAction::Failed),
                                 outcome("carol@example.org", DsnAction::Delivered)},
                                kOriginal);
    CPPUNIT_ASSERT_EQUAL(size_t(1), n.size());
    CPPUNIT_ASSERT_EQUAL(std::string(""), n[0].envelope_sender);
    CPPUNIT_ASSERT_EQUAL(std::string("alice@example.org"), n[0].recipient);
    auto h = mail::parse_headers(n[0].text);
    CPPUNIT_ASSERT_EQUAL(std::string("MAILER-DAEMON@mx.example.org (Mail Delivery System)"), *h.get("From"));
    CPPUNIT_ASSERT(n[0].text.find("Final-Recipient: rfc822; bob@example.org") != std::string::npos);
    CPPUNIT_ASSERT(n[0].text.find("carol@example.org") == std::string::npos);
  }

  void notify_is_honoured() {
    qmgr::NoticeConfig cfg;
    auto m = info("alice@example.org");
    using namespace mail;
    struct Row { DsnAction a; unsigned notify; size_t reports; } rows[] = {
        {DsnAction::Failed, kNotifyDefault, 1}, {DsnAction::Failed, kNotifyNever, 0},
        {DsnAction::Failed, kNotifySuccess, 0}, {DsnAction::Failed, kNotifyFailure, 1},
        {DsnAction::Delayed, kNotifyDefault, 1}, {DsnAction::Delayed, kNotifyFailure, 0},
        {DsnAction::Delivered, kNotifyDefault, 0}, {DsnAction::Delivered, kNotifySuccess, 1},
        {DsnAction::Delivered, kNotifySuccess | kNotifyFailure, 1}, {DsnAction::Delivered, kNotifyNever, 0},
    };
    for (auto& r : rows) {
      auto n = qmgr::plan_notices(cfg, m, {outcome("b@c", r.a, r.notify)}, kOriginal);
      CPPUNIT_ASSERT_EQUAL(r.reports, n.size());
    }
    auto s = qmgr::plan_notices(cfg, m, {outcome("b@c", DsnAction::Delivered, kNotifySuccess)}, kOriginal);
    CPPUNIT_ASSERT_EQUAL(std::string("Successful Mail Delivery Report"), *mail::parse_headers(s[0].text).get("Subject"));
    auto d = qmgr::plan_notices(cfg, m, {outcome("b@c", DsnAction::Delayed)}, kOriginal);
    CPPUNIT_ASSERT(d[0].text.find("Will-Retry-Until:") != std::string::npos);
  }

  void never_bounce_a_bounce() {
    qmgr::NoticeConfig cfg;
    cfg.myhostname = "mx.example.org";
    // A failed bounce (null sender): postmaster, once, from double-bounce.
    auto n = qmgr::plan_notices(cfg, info(""), {outcome("alice@example.org", DsnAction::Failed)}, kOriginal);
    CPPUNIT_ASSERT_EQUAL(size_t(1), n.size());
    CPPUNIT_ASSERT_EQUAL(std::string("postmaster@mx.example.org"), n[0].recipient);
    CPPUNIT_ASSERT_EQUAL(std::string("double-bounce@mx.example.org"), n[0].envelope_sender);
    // That report failing too: nothing at all.
    auto again = qmgr::plan_notices(cfg, info("double-bounce@mx.example.org"),
                                    {outcome("postmaster@mx.example.org", DsnAction::Failed)}, kOriginal);
    CPPUNIT_ASSERT(again.empty());
    // Null senders get no delay warnings or success reports.
    CPPUNIT_ASSERT(qmgr::plan_notices(cfg, info(""), {outcome("a@b", DsnAction::Delayed)}, kOriginal).empty());
    CPPUNIT_ASSERT(qmgr::plan_notices(cfg, info(""), {outcome("a@b", DsnAction::Delivered, mail::kNotifySuccess)}, kOriginal).empty());
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(NoticeTest);
