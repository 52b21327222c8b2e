// qmgr/notice.cc - DSN planning for the queue manager.
#include "qmgr/notice.h"

#include "lib/base/strings.h"
#include "lib/mail/address.h"

namespace postilion::qmgr {
namespace {

std::string at_host(const NoticeConfig& cfg, const std::string& local) {
  return local.find('@') == std::string::npos ? local + "@" + cfg.myhostname : local;
}

Notice make(const NoticeConfig& cfg, const MessageInfo& msg, std::vector<mail::DsnRecipient> rcpts,
            std::string to, std::string envelope_sender, const char* kind, std::string_view original) {
  mail::DsnRequest r;
  r.reporting_mta = cfg.myhostname;
  r.queue_id = msg.queue_id;
  r.envelope_id = msg.envid;
  r.sender = to;
  r.from = at_host(cfg, cfg.mail_daemon);
  r.boundary = str::format("%s.%lld.%s/%s", msg.queue_id.c_str(), static_cast<long long>(msg.now), kind,
                           cfg.myhostname.c_str());
  r.message_id = str::format("<%lld.%s.%s@%s>", static_cast<long long>(msg.now), kind,
                             msg.queue_id.c_str(), cfg.myhostname.c_str());
  r.arrival_time = msg.arrival_time;
  r.now = msg.now;
  r.ret = msg.ret;
  r.recipients = std::move(rcpts);
  return {std::move(envelope_sender), std::move(to), mail::compose_dsn(r, original)};
}

mail::DsnRecipient to_dsn(const Outcome& o, const MessageInfo& msg) {
  mail::DsnRecipient d;
  d.final_recipient = o.recipient;
  d.original_recipient = o.orcpt;
  d.action = o.action;
  d.status = o.dsn;
  if (o.relay != "local" && !o.relay.empty() && o.relay != "none") d.remote_mta = o.relay;
  d.diagnostic = o.text;
  d.last_attempt = msg.now;
  if (o.action == mail::DsnAction::Delayed) d.will_retry_until = msg.retry_until;
  return d;
}

}  // namespace

bool is_double_bounce(const NoticeConfig& cfg, std::string_view sender) {
  auto a = mail::parse_address(sender);
  return a && str::iequals(a->local, cfg.double_bounce_sender);
}

std::vector<Notice> plan_notices(const NoticeConfig& cfg, const MessageInfo& msg,
                                 const std::vector<Outcome>& outcomes, std::string_view original) {
  std::vector<Notice> out;
  std::vector<mail::DsnRecipient> failed, delayed, delivered;
  for (const auto& o : outcomes) {
    switch (o.action) {
      case mail::DsnAction::Failed:
        // NOTIFY=NEVER (or a list without FAILURE) silences the failure report.
        if (mail::wants_failure(o.notify)) failed.push_back(to_dsn(o, msg));
        break;
      case mail::DsnAction::Delayed:
        if (mail::wants_delay(o.notify)) delayed.push_back(to_dsn(o, msg));
        break;
      case mail::DsnAction::Delivered:
      case mail::DsnAction::Relayed:
      case mail::DsnAction::Expanded:
        if (mail::wants_success(o.notify)) delivered.push_back(to_dsn(o, msg));
        break;
    }
  }
  bool null_sender = msg.sender.empty();
  if (!failed.empty()) {
    if (!null_sender && !is_double_bounce(cfg, msg.sender)) {
      out.push_back(make(cfg, msg, std::move(failed), msg.sender, "", "failed", original));
    } else if (null_sender) {
      // A bounce that bounced: postmaster hears of it once, from the double-bounce
      // address, whose own failure (the case above) is dropped - no loop is possible.
      out.push_back(make(cfg, msg, std::move(failed), at_host(cfg, cfg.postmaster),
                         at_host(cfg, cfg.double_bounce_sender), "failed", original));
    }
  }
  // Delay warnings and success reports go only to real senders.
  if (!null_sender && !is_double_bounce(cfg, msg.sender)) {
    if (!delayed.empty()) out.push_back(make(cfg, msg, std::move(delayed), msg.sender, "", "delayed", original));
    if (!delivered.empty())
      out.push_back(make(cfg, msg, std::move(delivered), msg.sender, "", "delivered", original));
  }
  return out;
}

}  // namespace postilion::qmgr
