// qmgr/pickup_milters.cc - non_smtpd_milters for mail from sendmail/postdrop.
#include "qmgr/pickup_milters.h"

#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/log/log.h"

namespace postilion::qmgr {

using milter::MilterVerdict;

struct PickupMilters::Job {
  std::string id;
  std::string sender;
  std::vector<std::string> rcpts;
  size_t next_rcpt = 0;
  std::string rcpt_addr;  // {rcpt_addr} of the RCPT stage that runs
  bool looping = false;   // rcpts() is in its loop: an answer given inline lets it go on
  bool answered = false;
  bool ended = false;
  queue::OpenedQueueFile file;
  milter::MilterMessage msg;
  std::unique_ptr<milter::MilterSession> session;
};

PickupMilters::PickupMilters(event::EventBase& base, PickupMilterConfig cfg, Report report)
    : base_(base), cfg_(std::move(cfg)), report_(std::move(report)) {}

PickupMilters::~PickupMilters() = default;

PickupMilters::Job* PickupMilters::find(const std::string& id) {
  auto it = jobs_.find(id);
  return it == jobs_.end() || it->second->ended ? nullptr : it->second.get();
}

// The macros Postfix's cleanup gives filters for mail that did not come by SMTP.
std::optional<std::string> PickupMilters::macro(const std::string& id, std::string_view name) {
  Job* j = find(id);
  if (name == "j") return cfg_.myhostname;
  if (name == "daemon_name") return cfg_.daemon_name;
  if (name == "v") return cfg_.macro_v;
  if (name == "_") return std::string("localhost [127.0.0.1]");
  if (name == "client_addr") return std::string("127.0.0.1");
  if (name == "client_name" || name == "client_ptr") return std::string("localhost");
  if (name == "i") return id;
  if (!j) return std::nullopt;
  if (name == "mail_addr") return j->sender;
  if (name == "rcpt_addr" && !j->rcpt_addr.empty()) return j->rcpt_addr;
  return std::nullopt;
}

void PickupMilters::start(const std::string& id, const NewMessage& m) {
  if (jobs_.count(id)) return;
  auto job = std::make_unique<Job>();
  Job& j = *job;
  j.id = id;
  j.sender = m.sender;
  for (const auto& r : m.recipients) j.rcpts.push_back(r.address);
  jobs_[id] = std::move(job);
  auto f = queue::read_queue_file(file::join(cfg_.maildrop_dir, id));
  if (!f || f->parsed.status != queue::Parse::Complete) {
    log::warn("maildrop/%s: cannot read for the mail filters: %s", id.c_str(),
              !f ? f.error().c_str() : f->parsed.error.c_str());
    PickupVerdict v;
    v.kind = PickupVerdict::Kind::Tempfail;
    v.reply = "4.3.0 queue file read error";
    return finish(j, v);
  }
  j.file = std::move(*f);
  j.msg.fd = j.file.fd.get();
  j.msg.offset = j.file.parsed.file.content_offset;
  j.msg.length = j.file.parsed.file.content_length;
  j.session = std::make_unique<milter::MilterSession>(
      base_, cfg_.milters, [this, id](std::string_view name) { return macro(id, name); });
  j.session->connect("localhost", '4', 0, "127.0.0.1", [this, id](const MilterVerdict& v) {
    if (Job* j = find(id); j && stage_ok(*j, v)) helo(*j);
  });
}

bool PickupMilters::stage_ok(Job& j, const MilterVerdict& v) {
  if (v.kind == MilterVerdict::Kind::Continue) return true;
  finish(j, verdict(v, nullptr, false));
  return false;
}

void PickupMilters::helo(Job& j) {
  j.session->helo("localhost", [this, id = j.id](const MilterVerdict& v) {
    if (Job* j = find(id); j && stage_ok(*j, v)) mail(*j);
  });
}

void PickupMilters::mail(Job& j) {
  j.session->mail({"<" + j.sender + ">"}, [this, id = j.id](const MilterVerdict& v) {
    if (Job* j = find(id); j && stage_ok(*j, v)) rcpts(*j);
  });
}

// One RCPT stage per recipient; answers given inside the call continue this loop
// instead of recursing, so a long recipient list does not grow the stack.
void PickupMilters::rcpts(Job& j) {
  std::string id = j.id;
  while (j.next_rcpt < j.rcpts.size()) {
    j.rcpt_addr = j.rcpts[j.next_rcpt++];
    j.looping = true;
    j.answered = false;
    j.session->rcpt({"<" + j.rcpt_addr + ">"}, [this, id](const MilterVerdict& v) {
      Job* j = find(id);
      if (!j || !stage_ok(*j, v)) return;
      j->answered = true;
      if (!j->looping) rcpts(*j);
    });
    Job* still = find(id);
    if (!still) return;  // ended inside the call
    still->looping = false;
    if (!still->answered) return;  // the answer comes later and goes on from there
  }
  j.rcpt_addr.clear();
  data(j);
}

void PickupMilters::data(Job& j) {
  j.session->data([this, id = j.id](const MilterVerdict& v) {
    if (Job* j = find(id); j && stage_ok(*j, v)) message(*j);
  });
}

void PickupMilters::message(Job& j) {
  std::string why;
  if (!j.msg.load(&why)) {
    log::warn("maildrop/%s: %s", j.id.c_str(), why.c_str());
    PickupVerdict v;
    v.kind = PickupVerdict::Kind::Tempfail;
    v.reply = "4.3.0 queue file read error";
    return finish(j, v);
  }
  j.session->message(&j.msg, [this, id = j.id](const MilterVerdict& v) {
    Job* j = find(id);
    if (!j) return;
    finish(*j, verdict(v, &j->msg, j->session->quarantine_by_default()));
  });
}

PickupVerdict PickupMilters::verdict(const MilterVerdict& v, milter::MilterMessage* msg, bool quarantine_by_default) {
  PickupVerdict out;
  auto text = [&v] {
    std::string t = v.reply.status.empty() ? "" : v.reply.status + " ";
    return t + v.reply.text();
  };
  switch (v.kind) {
    case MilterVerdict::Kind::Reject:
      out.kind = PickupVerdict::Kind::Reject;
      out.reply = text();
      if (v.reply.status.empty() || v.reply.status[0] != '5') out.reply = "5.7.1 " + v.reply.text();
      return out;
    case MilterVerdict::Kind::Tempfail:
      out.kind = PickupVerdict::Kind::Tempfail;
      out.reply = text();
      return out;
    case MilterVerdict::Kind::Discard:
      out.kind = PickupVerdict::Kind::Discard;
      return out;
    case MilterVerdict::Kind::Continue:
      break;
  }
  out.hold = quarantine_by_default || (msg && msg->quarantine.has_value());
  if (!msg) return out;
  if (msg->headers_changed || msg->body) {
    std::string content;
    Status st = milter::write_edited_content(*msg, [&content](std::string_view d) -> Status {
      content += d;
      return {};
    });
    if (!st) {
      out.kind = PickupVerdict::Kind::Tempfail;
      out.reply = "4.3.0 queue file read error: " + st.error().str();
      return out;
    }
    out.content = std::move(content);
  }
  out.sender = msg->sender;
  out.added_rcpts = msg->added_rcpts;
  out.deleted_rcpts = msg->deleted_rcpts;
  return out;
}

// Ends a job: its verdict is reported, and the job (whose session may be the caller)
// is deleted from the loop, not here; the session's destructor says SMFIC_QUIT then.
void PickupMilters::finish(Job& j, const PickupVerdict& v) {
  if (j.ended) return;
  j.ended = true;
  auto it = jobs_.find(j.id);
  std::string id = j.id;
  std::unique_ptr<Job> doomed = std::move(it->second);
  jobs_.erase(it);
  base_.defer_delete(std::move(doomed));
  report_(id, v);
}

}  // namespace postilion::qmgr
