// smtpd/policy_service_test.cc - the policy delegation protocol: requests that cannot be
// split by what a client sent, replies read whole, byte by byte and truncated, hostile
// and oversized replies refused, and the actions as check_policy_service applies them.
#include "smtpd/policy_service.h"

#include <cppunit/extensions/HelperMacros.h>

#include "smtpd/policy.h"
#include "smtpd/restrictions.h"

using namespace postilion;
using namespace postilion::smtpd;

class PolicyServiceTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(PolicyServiceTest);
  CPPUNIT_TEST(request);
  CPPUNIT_TEST(replies);
  CPPUNIT_TEST(pieces_and_prefixes);
  CPPUNIT_TEST(actions);
  CPPUNIT_TEST_SUITE_END();

 public:
  void request() {
    CPPUNIT_ASSERT_EQUAL(std::string("request=smtpd_access_policy\nsender=a@b\n\n"),
                         policy_request({{"request", "smtpd_access_policy"}, {"sender", "a@b"}}));
    // A HELO name with a newline must not add an attribute or end the request.
    CPPUNIT_ASSERT_EQUAL(std::string("helo_name=x?action=OK??\n\n"),
                         policy_request({{"helo_name", "x\naction=OK\n\n"}}));
    CPPUNIT_ASSERT_EQUAL(kMaxPolicyValue + 4, policy_request({{"x", std::string(5000, 'a')}}).size());
    ClientFacts c{"192.0.2.7"};
    c.helo = "mx.example";
    c.protocol_state = "RCPT";
    c.recipient_count = 2;
    std::string from = "a@b.example";
    auto to = smtp::parse_path("<c@d.example>", smtp::PathKind::Recipient, true);
    std::string req = policy_request(policy_attributes(c, &from, &to.value()));
    for (const char* want : {"request=smtpd_access_policy\n", "protocol_state=RCPT\n", "client_address=192.0.2.7\n",
                             "client_name=unknown\n", "helo_name=mx.example\n", "sender=a@b.example\n",
                             "recipient=c@d.example\n", "recipient_count=2\n", "etrn_domain=\n"})
      CPPUNIT_ASSERT_MESSAGE(want, req.find(want) != std::string::npos);
    CPPUNIT_ASSERT(req.ends_with("\n\n") && req.find("\n\n") == req.size() - 2);
  }

  void replies() {
    struct Row {
      std::string text;
      bool ok;
      const char* want;  // the action or the error
    } rows[] = {
        {"action=DUNNO\n\n", true, "DUNNO"},
        {"action=OK\r\n\r\n", true, "OK"},
        {"foo=bar\naction= REJECT go away \nx=y\n\n", true, "REJECT go away"},
        {"action=DEFER_IF_PERMIT 4.2.0 Greylisted\n\n", true, "DEFER_IF_PERMIT 4.2.0 Greylisted"},
        {"action=OK\naction=REJECT\n\n", true, "REJECT"},
        {"\n", false, "reply without action="},
        {"x=1\n\n", false, "reply without action="},
        {"action=\n\n", false, "empty action="},
        {"no equals sign\n\n", false, "malformed reply line \"no equals sign\""},
        {"=OK\n\n", false, "malformed reply line \"=OK\""},
        {"action=OK\n", false, "reply without its empty last line"},
        {"action=OK\n\nmore", false, "text after the reply"},
        {std::string("action=OK\0\n\n", 12), false, "NUL in reply"},
        {"action=" + std::string(9000, 'a') + "\n\n", false, "reply longer than 8192 octets"},
        {std::string(20000, '\n'), false, "reply without action="},
    };
    for (const auto& r : rows) {
      auto p = parse_policy_reply(r.text);
      std::string msg = str_of(r.text);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(msg, r.ok, p.ok());
      CPPUNIT_ASSERT_EQUAL_MESSAGE(msg, std::string(r.want), p.ok() ? *p : p.error());
    }
  }

  void pieces_and_prefixes() {
    std::string good = "x=1\naction=DEFER_IF_PERMIT Greylisted\n\n";
    PolicyReplyReader r;
    size_t used = 0;
    for (size_t i = 0; i + 1 < good.size(); ++i) {
      CPPUNIT_ASSERT(r.feed(good.substr(i, 1), &used) == PolicyReplyReader::Status::NeedMore);
      CPPUNIT_ASSERT_EQUAL(size_t(1), used);
    }
    CPPUNIT_ASSERT(r.feed(good.substr(good.size() - 1), &used) == PolicyReplyReader::Status::Done);
    CPPUNIT_ASSERT_EQUAL(std::string("DEFER_IF_PERMIT Greylisted"), r.action());
    for (size_t n = 0; n < good.size(); ++n) CPPUNIT_ASSERT(!parse_policy_reply(good.substr(0, n)).ok());
    // An endless line is refused once it passes the limit, not read forever.
    PolicyReplyReader big;
    std::string chunk(1000, 'x');
    auto st = PolicyReplyReader::Status::NeedMore;
    int rounds = 0;
    while (st == PolicyReplyReader::Status::NeedMore && rounds++ < 100) st = big.feed(chunk, &used);
    CPPUNIT_ASSERT(st == PolicyReplyReader::Status::Bad);
    CPPUNIT_ASSERT(rounds <= 10);
  }

  // check_policy_service in a list: the action from the memo, as Postfix applies it.
  void actions() {
    auto steps = config::parse_restriction_list("check_policy_service inet:127.0.0.1:10023");
    CPPUNIT_ASSERT(steps.ok());
    ClientFacts c{"192.0.2.7"};
    c.in_mynetworks = true;
    std::string from = "a@b.example";
    auto to = smtp::parse_path("<root@ours.example>", smtp::PathKind::Recipient, true);
    ListsToRun lists;
    lists.recipient = &steps.value();
    lists.rcpt = &to.value();
    DnsMemo memo;
    CheckResult first = run_restriction_lists(lists, c, &from, memo);
    CPPUNIT_ASSERT(first.policy);
    CPPUNIT_ASSERT_EQUAL(std::string("inet:127.0.0.1:10023"), first.policy->server);
    CPPUNIT_ASSERT(first.policy->request.find("recipient=root@ours.example\n") != std::string::npos);
    struct Row {
      const char* action;
      const char* want;
    } rows[] = {
        {"OK", ""},
        {"dunno", ""},
        {"DEFER_IF_PERMIT 4.2.0 Greylisted, see http://x/", "450 4.2.0 <root@ours.example>: Recipient address rejected: Greylisted, see http://x/"},
        {"DEFER_IF_PERMIT Greylisted", "450 4.7.1 <root@ours.example>: Recipient address rejected: Greylisted"},
        {"REJECT", "554 5.7.1 <root@ours.example>: Recipient address rejected: Access denied"},
        {"REJECT 5.7.0 no", "554 5.7.0 <root@ours.example>: Recipient address rejected: no"},
        {"DEFER later", "450 4.7.1 <root@ours.example>: Recipient address rejected: later"},
        {"421 4.3.2 bye", "421 4.3.2 <root@ours.example>: Recipient address rejected: bye"},
        {"550 4.2.0 wrong class", "550 5.7.1 <root@ours.example>: Recipient address rejected: 4.2.0 wrong class"},
        {"WARN look", ""},
        {"PREPEND X-Greylist: delayed 5 seconds by postgrey", ""},
        {"451 4.3.5 Server configuration problem", "451 4.3.5 <root@ours.example>: Recipient address rejected: Server configuration problem"},
        {"FROBNICATE", "451 4.3.5 <root@ours.example>: Recipient address rejected: Server configuration problem"},
        {"200 fine", "451 4.3.5 <root@ours.example>: Recipient address rejected: Server configuration problem"},
    };
    for (const auto& r : rows) {
      DnsMemo m;
      m.put_policy(*first.policy, r.action);
      CheckResult res = run_restriction_lists(lists, c, &from, m);
      CPPUNIT_ASSERT_MESSAGE(r.action, !res.policy && !res.question);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.action, std::string(r.want), res.reply.empty() ? std::string() : res.reply.summary());
    }
    // OK ends the list as a permit: a reject after it is not reached.
    auto permit = config::parse_restriction_list("check_policy_service unix:/run/policy, reject");
    lists.recipient = &permit.value();
    DnsMemo m;
    CheckResult q = run_restriction_lists(lists, c, &from, m);
    m.put_policy(*q.policy, "OK");
    CPPUNIT_ASSERT(run_restriction_lists(lists, c, &from, m).reply.empty());
    m.clear_policy();
    CPPUNIT_ASSERT(run_restriction_lists(lists, c, &from, m).policy);
  }

 private:
  static std::string str_of(const std::string& s) { return s.substr(0, 60); }
};

CPPUNIT_TEST_SUITE_REGISTRATION(PolicyServiceTest);
