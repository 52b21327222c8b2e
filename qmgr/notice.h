// qmgr/notice.h - which delivery status notifications a message's outcomes call for,
// and to whom: failures to the sender (or, for mail from the null sender, once to
// postmaster), success reports where NOTIFY=SUCCESS asked, delay warnings where DELAY
// allows. Never a bounce of a bounce. Pure: returns finished report texts.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lib/mail/dsn.h"

namespace postilion::qmgr {

struct Outcome {
  std::string recipient;
  std::string orcpt;
  unsigned notify = mail::kNotifyDefault;
  mail::DsnAction action = mail::DsnAction::Failed;  // Failed, Delayed or Delivered
  std::string dsn;      // X.Y.Z
  std::string text;     // reason
  std::string relay;    // e.g. "mx.example[127.0.0.5]:25" or "local"
};

struct MessageInfo {
  std::string queue_id;
  std::string sender;        // envelope sender, "" = null sender
  std::string envid;
  mail::Ret ret = mail::Ret::Default;
  int64_t arrival_time = 0;
  int64_t now = 0;
  int64_t retry_until = 0;   // arrival + maximal_queue_lifetime (delay warnings)
};

struct NoticeConfig {
  std::string myhostname = "localhost";
  std::string mail_daemon = "MAILER-DAEMON";     // From: local part of reports
  std::string double_bounce_sender = "double-bounce";  // envelope sender to postmaster
  std::string postmaster = "postmaster";
};

struct Notice {
  std::string envelope_sender;  // "" for reports to senders; double-bounce to postmaster
  std::string recipient;
  std::string text;             // the whole report message (LF line ends)
};

// Reports due for these outcomes. original is the message as queued (for the returned
// part). Outcomes of other actions than the one asked for are ignored by each kind.
std::vector<Notice> plan_notices(const NoticeConfig& cfg, const MessageInfo& msg,
                                 const std::vector<Outcome>& outcomes, std::string_view original);

// True for mail whose failure must not be reported at all (a report to postmaster
// about a report that failed): the sender is the double-bounce address.
bool is_double_bounce(const NoticeConfig& cfg, std::string_view sender);

}  // namespace postilion::qmgr
