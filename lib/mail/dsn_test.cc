// lib/mail/dsn_test.cc - NOTIFY/RET/xtext parsing and the DSN checked part by part.
#include "lib/mail/dsn.h"

#include <cppunit/extensions/HelperMacros.h>

#include "lib/base/strings.h"
#include "lib/mail/header.h"

using namespace postilion;

namespace {

// Splits a multipart body on its boundary: the parts between "--b" lines.
std::vector<std::string> split_parts(const std::string& msg, const std::string& b) {
  std::vector<std::string> parts;
  std::string delim = "\n--" + b;
  size_t pos = msg.find(delim);
  while (pos != std::string::npos) {
    size_t start = pos + delim.size();
    if (msg.compare(start, 2, "--") == 0) break;
    start = msg.find('\n', start) + 1;
    size_t next = msg.find(delim, start);
    if (next == std::string::npos) break;
    parts.push_back(msg.substr(start, next - start));
    pos = next;
  }
  return parts;
}

mail::DsnRequest request() {
  mail::DsnRequest r;
  r.reporting_mta = "mx.example.org";
  r.queue_id = "4F3A2B1C9D";
  r.sender = "alice@example.org";
  r.from = "MAILER-DAEMON@mx.example.org";
  r.boundary = "4F3A2B1C9D.1700000000/mx.example.org";
  r.message_id = "<20231114.4F3A2B1C9D@mx.example.org>";
  r.arrival_time = 1700000000;
  r.now = 1700000100;
  return r;
}

const std::string kOriginal = "From: alice@example.org\r\nTo: bob@example.org\r\nSubject: hi\r\n\r\nsecret body\r\n";

}  // namespace

class DsnTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(DsnTest);
  CPPUNIT_TEST(notify_and_ret);
  CPPUNIT_TEST(xtext);
  CPPUNIT_TEST(orcpt_addresses);
  CPPUNIT_TEST(status_codes);
  CPPUNIT_TEST(failure_report_parts);
  CPPUNIT_TEST(headers_only_and_delay);
  CPPUNIT_TEST(success_report_and_hostile_text);
  CPPUNIT_TEST_SUITE_END();

 public:
  void notify_and_ret() {
    struct Row { const char* in; bool ok; unsigned bits; } rows[] = {
        {"NEVER", true, mail::kNotifyNever},
        {"success,Delay", true, mail::kNotifySuccess | mail::kNotifyDelay},
        {"FAILURE", true, mail::kNotifyFailure},
        {"NEVER,SUCCESS", false, 0}, {"", false, 0}, {"SOMETIMES", false, 0}, {",,", false, 0},
    };
    for (auto& r : rows) {
      auto n = mail::parse_notify(r.in);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.ok, n.has_value());
      if (r.ok) CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.bits, *n);
    }
    CPPUNIT_ASSERT(mail::wants_failure(mail::kNotifyDefault));
    CPPUNIT_ASSERT(mail::wants_delay(mail::kNotifyDefault));
    CPPUNIT_ASSERT(!mail::wants_success(mail::kNotifyDefault));
    CPPUNIT_ASSERT(!mail::wants_failure(mail::kNotifyNever));
    CPPUNIT_ASSERT(!mail::wants_failure(mail::kNotifySuccess));
    CPPUNIT_ASSERT_EQUAL(std::string("SUCCESS,DELAY"),
                         mail::notify_string(mail::kNotifySuccess | mail::kNotifyDelay));
    CPPUNIT_ASSERT(mail::parse_ret("full") == mail::Ret::Full);
    CPPUNIT_ASSERT(mail::parse_ret("HDRS") == mail::Ret::Headers);
    CPPUNIT_ASSERT(!mail::parse_ret("BOTH"));
  }

  void orcpt_addresses() {
    CPPUNIT_ASSERT_EQUAL(std::string("a@b"), mail::orcpt_address("rfc822;a@b"));
    CPPUNIT_ASSERT_EQUAL(std::string("a@b"), mail::orcpt_address("RFC822; a@b "));
    CPPUNIT_ASSERT_EQUAL(std::string(""), mail::orcpt_address("rfc822;"));
    CPPUNIT_ASSERT_EQUAL(std::string(""), mail::orcpt_address(""));
    CPPUNIT_ASSERT_EQUAL(std::string("a@b"), mail::orcpt_address("a@b"));  // no type: as stored by qmgr
    CPPUNIT_ASSERT_EQUAL(std::string("utf-8;a@b"), mail::orcpt_address("utf-8;a@b"));
  }

  void xtext() {
    CPPUNIT_ASSERT_EQUAL(std::string("a+b=c"), *mail::xtext_decode("a+2Bb+3Dc"));
    CPPUNIT_ASSERT(!mail::xtext_decode("a+2b"));   // lower-case hex
    CPPUNIT_ASSERT(!mail::xtext_decode("a+2"));    // truncated
    CPPUNIT_ASSERT(!mail::xtext_decode("a b"));    // space
    CPPUNIT_ASSERT(!mail::xtext_decode("a=b"));
    CPPUNIT_ASSERT_EQUAL(std::string("a+2Bb+20c"), mail::xtext_encode("a+b c"));
  }

  void status_codes() {
    const char* good[] = {"2.0.0", "4.4.1", "5.1.1", "5.999.999"};
    const char* bad[] = {"3.0.0", "5.1", "5.1.1.1", "5..1", "5.1.x", "5.1000.1", ""};
    for (auto g : good) CPPUNIT_ASSERT_MESSAGE(g, mail::valid_status_code(g));
    for (auto b : bad) CPPUNIT_ASSERT_MESSAGE(b, !mail::valid_status_code(b));
  }

  void failure_report_parts() {
    auto r = request();
    r.recipients.push_back({"bob@example.org", "Bob@Example.org", mail::DsnAction::Failed, "5.1.1",
                            "", "unknown user: \"bob\"", 1700000090, 0});
    std::string m = mail::compose_dsn(r, kOriginal);
    auto h = mail::parse_headers(m);
    CPPUNIT_ASSERT(h.complete);
    CPPUNIT_ASSERT_EQUAL(std::string("alice@example.org"), *h.get("To"));
    CPPUNIT_ASSERT_EQUAL(std::string("Undelivered Mail Returned to Sender"), *h.get("Subject"));
    CPPUNIT_ASSERT_EQUAL(std::string("auto-replied"), *h.get("Auto-Submitted"));
    CPPUNIT_ASSERT(h.get("Content-Type")->find("multipart/report; report-type=delivery-status") == 0);
    auto parts = split_parts(m, r.boundary);
    CPPUNIT_ASSERT_EQUAL(size_t(3), parts.size());
    // Part 1: readable notice naming the recipient and the reason.
    CPPUNIT_ASSERT(parts[0].find("Content-Type: text/plain") != std::string::npos);
    CPPUNIT_ASSERT(parts[0].find("<bob@example.org>: unknown user: \"bob\"") != std::string::npos);
    // Part 2: per-message fields, a blank line, per-recipient fields.
    auto p2 = mail::parse_headers(parts[1]);
    CPPUNIT_ASSERT_EQUAL(std::string("message/delivery-status"), *p2.get("Content-Type"));
    std::string status = parts[1].substr(p2.body_offset);
    auto msg_fields = mail::parse_headers(status);
    CPPUNIT_ASSERT_EQUAL(std::string("dns; mx.example.org"), *msg_fields.get("Reporting-MTA"));
    CPPUNIT_ASSERT(msg_fields.has("Arrival-Date"));
    auto rcpt_fields = mail::parse_headers(status.substr(msg_fields.body_offset));
    CPPUNIT_ASSERT_EQUAL(std::string("rfc822; bob@example.org"), *rcpt_fields.get("Final-Recipient"));
    CPPUNIT_ASSERT_EQUAL(std::string("rfc822; Bob@Example.org"), *rcpt_fields.get("Original-Recipient"));
    CPPUNIT_ASSERT_EQUAL(std::string("failed"), *rcpt_fields.get("Action"));
    CPPUNIT_ASSERT_EQUAL(std::string("5.1.1"), *rcpt_fields.get("Status"));
    CPPUNIT_ASSERT(rcpt_fields.has("Last-Attempt-Date"));
    CPPUNIT_ASSERT(!rcpt_fields.has("Will-Retry-Until"));
    // Part 3: without RET a failure returns the whole message.
    CPPUNIT_ASSERT(parts[2].find("Content-Type: message/rfc822") != std::string::npos);
    CPPUNIT_ASSERT(parts[2].find("secret body") != std::string::npos);
    CPPUNIT_ASSERT(m.find('\r') == std::string::npos);
    CPPUNIT_ASSERT(m.size() > 2 && m.substr(m.size() - r.boundary.size() - 5) == "--" + r.boundary + "--\n");
  }

  void headers_only_and_delay() {
    auto r = request();
    r.ret = mail::Ret::Headers;
    r.recipients.push_back({"bob@example.org", "", mail::DsnAction::Failed, "bogus", "", "x", 0, 0});
    std::string m = mail::compose_dsn(r, kOriginal);
    auto parts = split_parts(m, r.boundary);
    CPPUNIT_ASSERT_EQUAL(size_t(3), parts.size());
    CPPUNIT_ASSERT(parts[2].find("text/rfc822-headers") != std::string::npos);
    CPPUNIT_ASSERT(parts[2].find("Subject: hi") != std::string::npos);
    CPPUNIT_ASSERT(parts[2].find("secret body") == std::string::npos);
    CPPUNIT_ASSERT(parts[1].find("Status: 5.0.0") != std::string::npos);  // invalid code replaced

    auto d = request();
    d.recipients.push_back({"c@d", "", mail::DsnAction::Delayed, "4.4.1", "mx.d", "connection refused",
                            1700000090, 1700432000});
    std::string dm = mail::compose_dsn(d, kOriginal);
    CPPUNIT_ASSERT_EQUAL(std::string("Delayed Mail (still being retried)"), *mail::parse_headers(dm).get("Subject"));
    auto dp = split_parts(dm, d.boundary);
    CPPUNIT_ASSERT(dp[1].find("Will-Retry-Until: ") != std::string::npos);
    CPPUNIT_ASSERT(dp[1].find("Remote-MTA: dns; mx.d") != std::string::npos);
    CPPUNIT_ASSERT(dp[2].find("secret body") == std::string::npos);  // delay: headers only
    // Oversized originals are cut to their headers even with RET=FULL.
    auto big = request();
    big.ret = mail::Ret::Full;
    big.max_returned_size = 10;
    big.recipients = d.recipients;
    CPPUNIT_ASSERT(mail::compose_dsn(big, kOriginal).find("secret body") == std::string::npos);
  }

  void success_report_and_hostile_text() {
    auto r = request();
    r.sender = "";
    r.recipients.push_back({"e@f", "", mail::DsnAction::Delivered, "2.0.0", "",
                            "delivered\r\nInjected: header", 0, 0});
    std::string m = mail::compose_dsn(r, kOriginal);
    auto h = mail::parse_headers(m);
    CPPUNIT_ASSERT_EQUAL(std::string("Successful Mail Delivery Report"), *h.get("Subject"));
    CPPUNIT_ASSERT_EQUAL(std::string("postmaster"), *h.get("To"));
    CPPUNIT_ASSERT(m.find("\nInjected: header") == std::string::npos);
    auto parts = split_parts(m, r.boundary);
    CPPUNIT_ASSERT(parts[2].find("text/rfc822-headers") != std::string::npos);
    CPPUNIT_ASSERT_EQUAL(std::string("Sun, 29 Nov 2026 04:01:17 +0000"), mail::rfc5322_date(1795924877));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(DsnTest);
