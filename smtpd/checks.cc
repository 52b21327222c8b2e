// smtpd/checks.cc - the session's part in the restriction lists: running them at
// HELO, MAIL or RCPT, and asking resolver(8) for the DNS answers they need without
// holding up the event loop (smtpd/restrictions.h has the lists themselves).
#include <cstdio>

#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/dns/protocol.h"
#include "lib/log/log.h"
#include "smtpd/server.h"
#include "smtpd/session.h"

namespace postilion::smtpd {

using smtp::Reply;

void Session::run_checks(CheckStage stage, std::optional<std::string> sender,
                         std::function<void(const Reply&)> then) {
  checks_stage_ = stage;
  checks_sender_ = std::move(sender);
  checks_rcpt_.reset();
  checks_then_ = std::move(then);
  checks_prepare();
  continue_checks();
}

void Session::run_rcpt_checks(const smtp::Path& rcpt, bool vrfy, std::function<void(const Reply&)> then) {
  checks_stage_ = CheckStage::Rcpt;
  checks_sender_ = mail_ && !vrfy ? mail_->path.address : std::string();
  checks_rcpt_ = rcpt;
  checks_vrfy_ = vrfy;
  checks_then_ = std::move(then);
  checks_prepare();
  continue_checks();
}

void Session::checks_prepare() {
  dns_memo_.clear_policy();
  facts_.protocol_state = last_command_;
  facts_.protocol_name = esmtp_ ? "ESMTP" : "SMTP";
  facts_.recipient_count = static_cast<int>(rcpts_.size());
  facts_.size = mail_ && mail_->size_given ? mail_->size : 0;
  facts_.sasl_method = sasl_method_;
  // One value per transaction (Postfix's instance): the session and its message count.
  auto mails = counts_.find("mail");  // not operator[]: the disconnect line lists what was used
  char buf[64];
  snprintf(buf, sizeof buf, "%llx.%x", static_cast<unsigned long long>(id_),
           static_cast<unsigned>(mails == counts_.end() ? 0 : mails->second));
  facts_.instance = buf;
}

void Session::ask_policy(const PolicyQuestion& q) {
  auto& client = policy_clients_[q.server];
  const Settings& s = server_.settings();
  if (!client) {
    // A relative unix: path is in the queue directory (unix:private/policy), as in Postfix.
    std::string spec = q.server;
    if (spec.starts_with("unix:") && spec.size() > 5 && spec[5] != '/')
      spec = "unix:" + file::join(s.queue_directory, spec.substr(5));
    client = std::make_unique<PolicyClient>(server_.base(), spec, s.policy_timeout_ms, s.policy_max_idle_ms);
  }
  Server* server = &server_;
  uint64_t id = id_;
  client->ask(q.request, [server, id, q](Result<std::string> action) {
    if (Session* s = server->find(id)) s->policy_answered(q, std::move(action));
  });
}

void Session::policy_answered(const PolicyQuestion& q, Result<std::string> action) {
  if (!action) {
    log::warn("%s: check_policy_service %s: %s (the default action is used)", facts_.label().c_str(),
              q.server.c_str(), action.error().c_str());
    dns_memo_.put_policy(q, server_.settings().policy_default_action);
  } else {
    dns_memo_.put_policy(q, std::move(action.value()));
  }
  if (state_ != State::Checks) return;  // the session ended its wait
  state_ = State::Ready;
  continue_checks();
  if (!suspended()) resume();
  else flush();
}

void Session::continue_checks() {
  // Bounded: each round adds one answer to dns_memo_, which answers everything once full.
  for (;;) {
    CheckResult r = checks_rcpt_ ? server_.policy().check_rcpt(facts_, checks_sender_.value_or(""), *checks_rcpt_,
                                                               dns_memo_, checks_vrfy_)
                                 : server_.policy().check_restrictions(checks_stage_, facts_,
                                                                       checks_sender_ ? &*checks_sender_ : nullptr,
                                                                       dns_memo_);
    if (r.policy) {
      // Asked from the loop: the answer (or the failure) always comes later.
      state_ = State::Checks;
      suspend();
      ask_policy(*r.policy);
      return;
    }
    if (!r.question) {
      auto then = std::move(checks_then_);
      checks_then_ = nullptr;
      then(r.reply);
      return;
    }
    if (ask_dns(*r.question)) {
      state_ = State::Checks;
      suspend();
      return;
    }
  }
}

bool Session::ask_dns(const DnsQuestion& q) {
  dns_link_ = server_.dns_link();
  Server* server = &server_;
  uint64_t id = id_;
  dns_inline_ = true;
  dns_answered_inline_ = false;
  dns_link_->call(dns::proto::query_request(q.name, q.type), [server, id, q](const ipc::Message* m) {
    if (Session* s = server->find(id)) s->dns_answered(q, m);
  });
  dns_inline_ = false;
  return !dns_answered_inline_;
}

void Session::dns_answered(const DnsQuestion& q, const ipc::Message* m) {
  // Not deleted here: this runs inside the link's own callback.
  if (dns_link_) server_.base().defer_delete(std::move(dns_link_));
  DnsResult r;
  if (!m) {
    r.text = "no answer from the resolver";
  } else {
    auto a = dns::proto::decode_query_reply(*m);
    if (!a) {
      log::warn("resolver: malformed reply for %s: %s", str::printable(q.name, 300).c_str(), a.error().c_str());
      r.text = "malformed reply from the resolver";
    } else {
      r.outcome = a->outcome;
      r.records = std::move(a->records);
      r.text = a->text.empty() ? "temporary failure" : a->text;
    }
  }
  // A DNS list that fails rejects nothing; an unknown sender domain is deferred.
  if (r.outcome == dns::Outcome::TempFail)
    log::warn("%s: DNS lookup of %s (%s) failed: %s", facts_.label().c_str(), str::printable(q.name, 300).c_str(),
              dns::rrtype_name(q.type), str::printable(r.text, 200).c_str());
  dns_memo_.put(q, std::move(r));
  if (dns_inline_) {
    dns_answered_inline_ = true;
    return;
  }
  if (state_ != State::Checks) return;  // the session ended its wait (timeout)
  state_ = State::Ready;
  continue_checks();
  // An error reply that waits (smtpd_error_sleep_time) resumes the session itself;
  // after DATA or BDAT checks the session reads the message (State::Data, Bdat).
  if (!suspended()) resume();
  else flush();
}

}  // namespace postilion::smtpd
