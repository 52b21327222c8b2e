// local/agent.cc - the delivery agents' side of the delivery protocol (local, virtual).
#include "local/agent.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/queue/delivery_reply.h"
#include "lib/queue/delivery_request.h"
#include "lib/queue/queue_file.h"

namespace postilion::local {
namespace {

queue::Fate fate_of(const Outcome& o) {
  switch (o.kind) {
    case Outcome::Kind::Sent: return queue::Fate::Sent;
    case Outcome::Kind::Bounce: return queue::Fate::Bounced;
    case Outcome::Kind::Defer: break;
  }
  return queue::Fate::Deferred;
}

// The message once, read from the file (pread: the fd stays usable for updates).
Status read_content(int fd, const queue::QueueFile& qf, std::string* content) {
  content->assign(qf.content_length, '\0');
  for (size_t got = 0; got < content->size();) {
    ssize_t n = ::pread(fd, content->data() + got, content->size() - got, static_cast<off_t>(qf.content_offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Error("cannot read queue file: " + std::string(std::strerror(errno)));
    got += n;
  }
  return {};
}

// One request's queue file, opened and read, as the recipients are delivered from it.
struct OpenMessage {
  const queue::DeliveryRequest& request;
  const queue::QueueFile& file;
  int fd;
  const std::string& content;
};

// Delivers one recipient with deliver_one, and records a final outcome in its status
// byte. Its offset must name a recipient record (rec) of this file, still pending:
// never deliver or mark anything qmgr did not hand over.
Outcome deliver_recipient(const OpenMessage& m, const queue::DeliveryRequest::Rcpt& rc, const queue::Recipient* rec,
                          const RecipientDelivery& deliver_one, std::vector<std::string>* warnings,
                          std::vector<Expanded>* bounced) {
  if (!rec) return Outcome::defer("4.3.0", "offset does not name a recipient record");
  if (queue::is_final(rec->status)) return Outcome::sent("already delivered");  // a repeated request
  Delivery d{m.request.id, m.request.sender, rc.address, m.content};
  // The DSN ORCPT's address, else the address before a virtual alias.
  d.original_recipient = queue::original_recipient(rc, rec);
  d.file = &m.file;
  Outcome o = deliver_one(d, warnings, m.request.report_expanded ? bounced : nullptr);
  // The mailbox is durable now (each writer fsyncs before returning): only now is
  // the outcome recorded. A crash before this line repeats the delivery. An expansion
  // with destinations that bounced is left for qmgr to record once their report is
  // queued: a crash in between repeats the delivery rather than losing the report.
  bool qmgr_records = o.kind == Outcome::Kind::Sent && !bounced->empty();
  if (o.kind != Outcome::Kind::Defer && !qmgr_records) {
    auto status = o.kind == Outcome::Kind::Sent ? queue::RcptStatus::Delivered : queue::RcptStatus::Bounced;
    auto st = queue::write_status(m.fd, rec->offset, status);
    if (!st) o = Outcome::defer("4.3.0", "cannot record outcome: " + st.error().str());
  }
  return o;
}

}  // namespace

ipc::Message serve_request(const ipc::Message& req, const std::string& queue_directory,
                           const Settings& settings, Environment& env, std::vector<DeliveryLog>* log_lines) {
  auto one = [&](const Delivery& d, std::vector<std::string>* warnings, std::vector<Expanded>* bounced) {
    return deliver(settings, env, d, warnings, bounced);
  };
  return serve_deliveries(req, queue_directory, AgentStyle{}, one, log_lines);
}

ipc::Message serve_deliveries(const ipc::Message& req, const std::string& queue_directory,
                              const AgentStyle& style, const RecipientDelivery& deliver_one,
                              std::vector<DeliveryLog>* log_lines) {
  int64_t start_us = file::now_us();
  auto parsed = queue::parse_delivery_request(req);
  if (!parsed) return queue::delivery_error_reply(parsed.error().str());
  const queue::DeliveryRequest& dr = *parsed;
  const std::string& id = dr.id;
  // The agent knows neither when qmgr took the message nor a session: delays= splits
  // the time before the request from the time here.
  queue::DeliveryTimes times{start_us, start_us, start_us, 0, 0};
  std::vector<DeliveryLog> unused;
  std::vector<DeliveryLog>& lines = log_lines ? *log_lines : unused;

  auto opened = queue::read_queue_file(file::join(queue_directory, dr.file), true);
  queue::DeliveryReplyBuilder reply(style.logs_outcomes);
  auto all = [&](const std::string& dsn, const std::string& text) {
    for (const auto& rc : dr.rcpts) {
      reply.add(rc.address, queue::Fate::Deferred, dsn, text, style.relay);
      lines.push_back({id, rc.address, queue::original_recipient(rc, nullptr), "deferred", dsn, text, times});
    }
    return reply.message();
  };
  if (!opened) return all("4.3.0", "cannot open queue file: " + opened.error().str());
  if (opened->parsed.status != queue::Parse::Complete)
    return all("4.3.0", "queue file unusable: " + opened->parsed.error);
  const queue::QueueFile& qf = opened->parsed.file;
  std::string content;
  if (Status st = read_content(opened->fd.get(), qf, &content); !st) return all("4.3.0", st.error().str());
  if (dr.sender != qf.sender) return queue::delivery_error_reply("sender does not match the queue file");

  times.arrival_us = qf.arrival_us;
  OpenMessage msg{dr, qf, opened->fd.get(), content};
  for (const auto& rc : dr.rcpts) {
    std::vector<std::string> warnings;
    std::vector<Expanded> bounced;
    const queue::Recipient* rec = queue::record_for(qf, rc);
    Outcome o = deliver_recipient(msg, rc, rec, deliver_one, &warnings, &bounced);
    for (auto& w : warnings) lines.push_back({id, rc.address, "", "warning", "", w, times});
    times.done_us = file::now_us();
    reply.add(rc.address, fate_of(o), o.dsn, o.text, style.relay);
    if (o.kind != Outcome::Kind::Sent) bounced.clear();  // the status byte was not written as sent
    for (const auto& x : bounced) {
      reply.add_expanded({x.address, x.outcome.dsn, x.outcome.text});
      lines.push_back({id, x.address, rc.address, "bounced", x.outcome.dsn, x.outcome.text, times, true});
    }
    lines.push_back(
        {id, rc.address, queue::original_recipient(rc, rec), queue::log_status(fate_of(o)), o.dsn, o.text, times});
  }
  return reply.message();
}

}  // namespace postilion::local
