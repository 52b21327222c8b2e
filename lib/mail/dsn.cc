// lib/mail/dsn.cc - RFC 3464 delivery status notifications.
#include "lib/mail/dsn.h"

#include <ctime>

#include "lib/base/strings.h"
#include "lib/mail/header.h"

namespace postilion::mail {
namespace {

// Text from a peer or a queue file, made safe for a header line: no CR/LF or
// other control characters, bounded length.
std::string clean(std::string_view s, size_t max = 900) {
  std::string out;
  for (unsigned char c : s) {
    if (out.size() >= max) break;
    if (c == '\r' || c == '\n' || c == '\t') c = ' ';
    if (c < 0x20 || c == 0x7f) continue;
    out += static_cast<char>(c);
  }
  return out;
}

std::string default_status(DsnAction a) {
  switch (a) {
    case DsnAction::Failed: return "5.0.0";
    case DsnAction::Delayed: return "4.0.0";
    default: return "2.0.0";
  }
}

}  // namespace

std::string orcpt_address(std::string_view orcpt) {
  if (str::istarts_with(orcpt, "rfc822;")) return std::string(str::trim(orcpt.substr(7)));
  return std::string(orcpt);
}

std::optional<unsigned> parse_notify(std::string_view value) {
  unsigned bits = 0;
  auto words = str::split(value, ",");
  if (words.empty()) return std::nullopt;
  for (const auto& w : words) {
    if (str::iequals(w, "SUCCESS")) bits |= kNotifySuccess;
    else if (str::iequals(w, "FAILURE")) bits |= kNotifyFailure;
    else if (str::iequals(w, "DELAY")) bits |= kNotifyDelay;
    else if (str::iequals(w, "NEVER")) bits |= kNotifyNever;
    else return std::nullopt;
  }
  if ((bits & kNotifyNever) && bits != kNotifyNever) return std::nullopt;
  return bits;
}

std::string notify_string(unsigned bits) {
  if (bits & kNotifyNever) return "NEVER";
  std::vector<std::string> w;
  if (bits & kNotifySuccess) w.push_back("SUCCESS");
  if (bits & kNotifyFailure) w.push_back("FAILURE");
  if (bits & kNotifyDelay) w.push_back("DELAY");
  return str::join(w, ",");
}

bool wants_failure(unsigned bits) { return bits == kNotifyDefault || (bits & kNotifyFailure); }
bool wants_delay(unsigned bits) { return bits == kNotifyDefault || (bits & kNotifyDelay); }
bool wants_success(unsigned bits) { return (bits & kNotifySuccess) != 0; }

std::optional<Ret> parse_ret(std::string_view v) {
  if (str::iequals(v, "FULL")) return Ret::Full;
  if (str::iequals(v, "HDRS")) return Ret::Headers;
  return std::nullopt;
}

std::optional<std::string> xtext_decode(std::string_view in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    unsigned char c = in[i];
    if (c < 33 || c > 126 || c == '=') return std::nullopt;
    if (c != '+') {
      out += static_cast<char>(c);
      continue;
    }
    if (i + 2 >= in.size()) return std::nullopt;
    auto hex = [](char h) -> int {
      if (h >= '0' && h <= '9') return h - '0';
      if (h >= 'A' && h <= 'F') return h - 'A' + 10;
      return -1;  // RFC 3461: upper case hex only
    };
    int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

std::string xtext_encode(std::string_view in) {
  std::string out;
  for (unsigned char c : in) {
    if (c < 33 || c > 126 || c == '+' || c == '=') out += str::format("+%02X", c);
    else out += static_cast<char>(c);
  }
  return out;
}

const char* action_name(DsnAction a) {
  switch (a) {
    case DsnAction::Failed: return "failed";
    case DsnAction::Delayed: return "delayed";
    case DsnAction::Delivered: return "delivered";
    case DsnAction::Relayed: return "relayed";
    case DsnAction::Expanded: return "expanded";
  }
  return "failed";
}

bool valid_status_code(std::string_view code) {
  auto parts = str::split_exact(code, '.');
  if (parts.size() != 3) return false;
  if (parts[0] != "2" && parts[0] != "4" && parts[0] != "5") return false;
  for (int i = 1; i < 3; ++i) {
    if (parts[i].empty() || parts[i].size() > 3) return false;
    for (char c : parts[i])
      if (c < '0' || c > '9') return false;
  }
  return true;
}

std::string rfc5322_date(int64_t t) {
  time_t tt = static_cast<time_t>(t);
  struct tm tm;
  gmtime_r(&tt, &tm);
  char buf[64];
  strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return buf;
}

std::string compose_dsn(const DsnRequest& req, std::string_view original) {
  bool any_failed = false, any_delayed = false;
  for (const auto& r : req.recipients) {
    any_failed |= r.action == DsnAction::Failed;
    any_delayed |= r.action == DsnAction::Delayed;
  }
  const char* subject = any_failed    ? "Undelivered Mail Returned to Sender"
                        : any_delayed ? "Delayed Mail (still being retried)"
                                      : "Successful Mail Delivery Report";
  // RFC 3461 4.3: without RET, return the full message on failure, headers otherwise.
  bool full = req.ret == Ret::Full || (req.ret == Ret::Default && any_failed);
  if (original.size() > req.max_returned_size) full = false;
  std::string host = clean(req.reporting_mta, 255);
  std::string b = req.boundary;

  std::string m;
  m += "From: " + clean(req.from) + " (Mail Delivery System)\n";
  m += "To: " + (req.sender.empty() ? std::string("postmaster") : clean(req.sender)) + "\n";
  m += std::string("Subject: ") + subject + "\n";
  m += "Date: " + rfc5322_date(req.now) + "\n";
  m += "Message-ID: " + clean(req.message_id) + "\n";
  m += "Auto-Submitted: auto-replied\n";
  m += "MIME-Version: 1.0\n";
  m += "Content-Type: multipart/report; report-type=delivery-status;\n\tboundary=\"" + b + "\"\n";
  m += "Content-Transfer-Encoding: 8bit\n\n";
  m += "This is a MIME-encapsulated message.\n\n";

  // Part 1: for people.
  m += "--" + b + "\nContent-Description: Notification\nContent-Type: text/plain; charset=us-ascii\n\n";
  m += "This is the mail system at host " + host + ".\n\n";
  if (any_failed) {
    m += "I'm sorry to have to inform you that your message could not\n"
         "be delivered to one or more recipients. It's attached below.\n\n"
         "For further assistance, please send mail to postmaster.\n\n"
         "If you do so, please include this problem report. You can\n"
         "delete your own text from the attached returned message.\n\n";
  } else if (any_delayed) {
    m += "####################################################################\n"
         "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #\n"
         "####################################################################\n\n"
         "Your message could not be delivered for some time. The mail system\n"
         "will keep trying; the recipients are listed below.\n\n";
  } else {
    m += "Your message was successfully delivered to the destination(s)\n"
         "listed below.\n\n";
  }
  m += "                   The mail system\n\n";
  for (const auto& r : req.recipients) {
    m += "<" + clean(r.final_recipient) + ">: " + clean(r.diagnostic) + "\n";
  }
  m += "\n";

  // Part 2: for machines (RFC 3464 section 2).
  m += "--" + b + "\nContent-Description: Delivery report\nContent-Type: message/delivery-status\n\n";
  m += "Reporting-MTA: dns; " + host + "\n";
  m += "X-Postilion-Queue-ID: " + clean(req.queue_id, 64) + "\n";
  if (!req.envelope_id.empty()) m += "Original-Envelope-Id: " + clean(req.envelope_id, 100) + "\n";
  if (!req.sender.empty()) m += "X-Postilion-Sender: rfc822; " + clean(req.sender) + "\n";
  if (req.arrival_time) m += "Arrival-Date: " + rfc5322_date(req.arrival_time) + "\n";
  for (const auto& r : req.recipients) {
    m += "\nFinal-Recipient: rfc822; " + clean(r.final_recipient) + "\n";
    if (!r.original_recipient.empty())
      m += "Original-Recipient: rfc822; " + clean(r.original_recipient) + "\n";
    m += std::string("Action: ") + action_name(r.action) + "\n";
    std::string status = valid_status_code(r.status) ? r.status : default_status(r.action);
    m += "Status: " + status + "\n";
    if (!r.remote_mta.empty()) m += "Remote-MTA: dns; " + clean(r.remote_mta, 255) + "\n";
    if (!r.diagnostic.empty()) m += "Diagnostic-Code: X-Postilion; " + clean(r.diagnostic) + "\n";
    if (r.last_attempt) m += "Last-Attempt-Date: " + rfc5322_date(r.last_attempt) + "\n";
    if (r.action == DsnAction::Delayed && r.will_retry_until)
      m += "Will-Retry-Until: " + rfc5322_date(r.will_retry_until) + "\n";
  }
  m += "\n";

  // Part 3: the returned message or its headers.
  std::string lf = to_lf(original);
  if (full) {
    m += "--" + b + "\nContent-Description: Undelivered Message\nContent-Type: message/rfc822\n\n";
    m += lf;
  } else {
    Headers h = parse_headers(lf);
    m += "--" + b + "\nContent-Description: Message Headers\nContent-Type: text/rfc822-headers\n\n";
    m += lf.substr(0, h.body_offset);
  }
  if (!m.empty() && m.back() != '\n') m += "\n";
  m += "\n--" + b + "--\n";
  return m;
}

}  // namespace postilion::mail
