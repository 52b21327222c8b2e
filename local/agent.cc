// local/agent.cc - the delivery agents' side of the delivery protocol (local, virtual).
#include "local/agent.h"

#include <unistd.h>

#include <cstring>

#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/queue/delivery_request.h"
#include "lib/queue/queue_file.h"

namespace postilion::local {
namespace {

ipc::Message error_reply(const std::string& why) {
  ipc::Message m;
  m.set("status", "error");
  m.set("text", why);
  return m;
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
  auto parsed = queue::parse_delivery_request(req);
  if (!parsed) return error_reply(parsed.error().str());
  const queue::DeliveryRequest& dr = *parsed;
  const std::string& id = dr.id;

  std::string path = file::join(queue_directory, dr.file);
  auto opened = queue::read_queue_file(path, true);
  ipc::Message reply;
  reply.set("status", "ok");
  // An agent that logs its outcomes says so before the first recipient (qmgr reads
  // per-request attributes there).
  if (style.logs_outcomes) reply.set("logged", "yes");
  auto all = [&](const char* result, const std::string& dsn, const std::string& text) {
    for (const auto& rc : dr.rcpts) {
      reply.set("rcpt", rc.address).set("result", result).set("dsn", dsn).set("text", text).set("relay", style.relay);
      if (log_lines)
        log_lines->push_back({id, rc.address, queue::original_recipient(rc, nullptr), "deferred", dsn, text, 0});
    }
    return reply;
  };
  if (!opened) return all("defer", "4.3.0", "cannot open queue file: " + opened.error().str());
  if (opened->parsed.status != queue::Parse::Complete)
    return all("defer", "4.3.0", "queue file unusable: " + opened->parsed.error);
  const queue::QueueFile& qf = opened->parsed.file;
  // The message once, read from the file (pread: the fd stays usable for updates).
  std::string content(qf.content_length, '\0');
  for (size_t got = 0; got < content.size();) {
    ssize_t n = ::pread(opened->fd.get(), content.data() + got, content.size() - got,
                        static_cast<off_t>(qf.content_offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return all("defer", "4.3.0", "cannot read queue file: " + std::string(std::strerror(errno)));
    got += n;
  }
  const std::string& sender = dr.sender;
  if (sender != qf.sender) return error_reply("sender does not match the queue file");

  bool report_expanded = dr.report_expanded;
  int64_t arrival = qf.arrival_us;
  for (const auto& rc : dr.rcpts) {
    const std::string& rcpt = rc.address;
    // The offset must name a recipient record of this file, still pending: never
    // deliver or mark anything qmgr did not hand over.
    const queue::Recipient* rec = queue::record_for(qf, rc);
    std::string original = queue::original_recipient(rc, rec);
    Outcome o;
    std::vector<Expanded> bounced;
    if (!rec) {
      o = Outcome::defer("4.3.0", "offset does not name a recipient record");
    } else if (queue::is_final(rec->status)) {
      o = Outcome::sent("already delivered");  // a repeated request: nothing to do twice
    } else {
      Delivery d{id, sender, rcpt, content};
      // The DSN ORCPT's address, else the address before a virtual alias.
      d.original_recipient = original;
      d.file = &qf;
      std::vector<std::string> warnings;
      o = deliver_one(d, &warnings, report_expanded ? &bounced : nullptr);
      // The mailbox is durable now (each writer fsyncs before returning): only now is
      // the outcome recorded. A crash before this line repeats the delivery. An expansion
      // with destinations that bounced is left for qmgr to record once their report is
      // queued: a crash in between repeats the delivery rather than losing the report.
      bool qmgr_records = o.kind == Outcome::Kind::Sent && !bounced.empty();
      if (o.kind != Outcome::Kind::Defer && !qmgr_records) {
        auto st = queue::write_status(opened->fd.get(), rec->offset,
                                       o.kind == Outcome::Kind::Sent ? queue::RcptStatus::Delivered
                                                                     : queue::RcptStatus::Bounced);
        if (!st) o = Outcome::defer("4.3.0", "cannot record outcome: " + st.error().str());
      }
      if (log_lines)
        for (auto& w : warnings) log_lines->push_back({id, rcpt, "", "warning", "", w, 0});
    }
    const char* result = o.kind == Outcome::Kind::Sent ? "sent" : o.kind == Outcome::Kind::Bounce ? "bounce" : "defer";
    reply.set("rcpt", rcpt).set("result", result).set("dsn", o.dsn).set("text", o.text).set("relay", style.relay);
    if (o.kind != Outcome::Kind::Sent) bounced.clear();  // the status byte was not written as sent
    for (const auto& x : bounced) {
      reply.set("expanded", x.address).set("expanded_dsn", x.outcome.dsn).set("expanded_text", x.outcome.text);
      if (log_lines)
        log_lines->push_back({id, x.address, rcpt, "bounced", x.outcome.dsn, x.outcome.text,
                              static_cast<double>(file::now_us() - arrival) / 1e6, true});
    }
    if (log_lines) {
      const char* status = o.kind == Outcome::Kind::Sent ? "sent" : o.kind == Outcome::Kind::Bounce ? "bounced" : "deferred";
      log_lines->push_back({id, rcpt, original, status, o.dsn, o.text,
                            static_cast<double>(file::now_us() - arrival) / 1e6});
    }
  }
  return reply;
}

}  // namespace postilion::local
