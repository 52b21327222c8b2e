// smtpd/milter_stages.cc - where a session meets its mail filters (smtpd_milters): the
// stage waits, the macros filters read, the verdict at the end of the message, and the
// queue file rebuilt with the filters' edits before the client hears 250, so the
// message acknowledged is the message kept.
#include <sys/socket.h>

#include <cstring>

#include "lib/base/strings.h"
#include "lib/ipc/metrics.h"
#include "lib/log/log.h"
#include "lib/queue/spool.h"
#include "smtpd/server.h"
#include "smtpd/session.h"

namespace postilion::smtpd {

using smtp::Reply;
using smtp::reply;

namespace {

bool same_address(const std::string& a, const std::string& b) { return str::lower(a) == str::lower(b); }

// {mail_mailer}/{rcpt_mailer} and {mail_host}/{rcpt_host} of an address, as the address
// class decides them here (no transport map is asked): the delivery agent's name, and the
// domain where mail goes out by SMTP.
std::optional<std::string> mailer_macro(const Policy& p, const std::string& addr, bool host) {
  size_t at = addr.rfind('@');
  if (addr.empty() || at == std::string::npos) return host ? std::nullopt : std::optional<std::string>("local");
  std::string domain = str::lower(addr.substr(at + 1));
  switch (p.classify(domain)) {
    case DomainClass::Local:
      return host ? std::nullopt : std::optional<std::string>("local");
    case DomainClass::VirtualAlias:
    case DomainClass::VirtualMailbox:
      return host ? std::nullopt : std::optional<std::string>("virtual");
    case DomainClass::Relay:
    case DomainClass::Other:
      break;
  }
  return host ? domain : std::string("smtp");
}

}  // namespace

MilterConfig milter_config(const Settings& s, const std::vector<std::string>& filters) {
  MilterConfig c;
  c.filters = filters;
  c.protocol = static_cast<uint32_t>(s.milter_protocol);
  c.default_action = s.milter_default_action;
  c.connect_timeout_ms = s.milter_connect_timeout_ms;
  c.command_timeout_ms = s.milter_command_timeout_ms;
  c.content_timeout_ms = s.milter_content_timeout_ms;
  for (uint32_t i = 0; i < milter::kStages; ++i) c.macros[i] = s.milter_macros[i];
  c.max_body = s.message_size_limit ? s.message_size_limit : milter::kMaxPacket * 64ULL;
  return c;
}

bool Session::milter_map_filters(std::vector<std::string>* filters) {
  maps::MapList& table = server_.policy().milter_maps();
  if (table.empty()) return true;
  auto found = table.lookup(facts_.ip);
  if (!found) {
    log::warn("smtpd_milter_maps: lookup of %s failed: %s; mail from %s is tempfailed", facts_.ip.c_str(),
              found.error().c_str(), facts_.label().c_str());
    return false;
  }
  if (!found.value()) return true;  // not listed: smtpd_milters
  auto list = milter::parse_milter_list(**found);
  if (!list) {
    log::warn("smtpd_milter_maps: bad value \"%s\" for %s: %s; mail from %s is tempfailed",
              str::printable(**found, 200).c_str(), facts_.ip.c_str(), list.error().c_str(), facts_.label().c_str());
    return false;
  }
  *filters = std::move(list.value());
  return true;
}

void Session::milter_stage(std::function<void(MilterSession::Done)> start,
                           std::function<void(const MilterVerdict&)> then) {
  milter_then_ = std::move(then);
  milter_inline_ = true;
  milter_answered_inline_ = false;
  State before = state_;
  state_ = State::Milter;
  Server* server = &server_;
  uint64_t id = id_;
  start([server, id](const MilterVerdict& v) {
    if (Session* s = server->find(id)) s->milter_answered(v);
  });
  milter_inline_ = false;
  if (milter_answered_inline_) {
    state_ = before == State::Milter ? State::Ready : before;
    auto then_now = std::move(milter_then_);
    milter_then_ = nullptr;
    then_now(milter_verdict_);
    return;
  }
  suspend();
}

void Session::milter_answered(const MilterVerdict& v) {
  milter_verdict_ = v;
  if (milter_inline_) {  // milter_stage() goes on when start() returns
    milter_answered_inline_ = true;
    return;
  }
  if (state_ != State::Milter || !milter_then_) return;  // the session ended its wait
  state_ = State::Ready;
  auto then = std::move(milter_then_);
  milter_then_ = nullptr;
  then(v);
  if (!suspended()) resume();
  else flush();
}

// A filter's refusal; 421 ends the session, as it does in Postfix.
void Session::milter_refuse(const Reply& r) {
  if (r.code == 421) return close_after_reply(r);
  send(r);
}

// The macros Postfix gives filters; what is not known here is left out.
std::optional<std::string> Session::milter_macro(std::string_view name) const {
  const Settings& s = server_.settings();
  if (name == "j") return s.myhostname;
  if (name == "daemon_name") return s.milter_daemon_name;
  if (name == "v") return s.milter_macro_v;
  if (name == "_") return facts_.name + " [" + facts_.ip + "]";
  if (name == "client_addr") return facts_.ip;
  if (name == "client_name" || name == "client_ptr") return facts_.name;
  if (name == "client_port" && client_port_) return std::to_string(client_port_);
  if (name == "daemon_addr" && !local_ip_.empty()) return local_ip_;
  if (name == "daemon_port" && local_port_) return std::to_string(local_port_);
  if (name == "i" && writer_) return const_cast<queue::QueueWriter&>(*writer_).reserve_id();
  if (tls_ && tls_info_.active()) {
    if (name == "tls_version") return tls_info_.version;
    if (name == "cipher") return tls_info_.cipher;
    if (name == "cipher_bits") return std::to_string(tls_info_.bits);
  }
  if (facts_.authenticated) {
    if (name == "auth_type") return sasl_method_;
    if (name == "auth_authen") return sasl_user_;
  }
  if (name == "auth_author" && mail_ && !mail_->auth.empty() && (facts_.authenticated || facts_.in_mynetworks))
    return mail_->auth;
  if (name == "mail_addr" && mail_) return mail_->path.address;
  if ((name == "mail_mailer" || name == "mail_host") && mail_)
    return mailer_macro(server_.policy(), mail_->path.address, name == "mail_host");
  if (name == "rcpt_addr" && !milter_rcpt_addr_.empty()) return milter_rcpt_addr_;
  if ((name == "rcpt_mailer" || name == "rcpt_host") && !milter_rcpt_addr_.empty())
    return mailer_macro(server_.policy(), milter_rcpt_addr_, name == "rcpt_host");
  return std::nullopt;
}

// "4F3A2B1C9D: milter-reject: END-OF-MESSAGE from host[1.2.3.4]: 5.7.1 Command rejected;
// from=<a@b> to=<c@d> proto=ESMTP helo=<h>", Postfix's shape (NOQUEUE before DATA).
void Session::milter_log(const char* action, const char* stage, const std::string& text, const std::string& to) {
  std::string id = writer_ ? writer_->reserve_id() : "NOQUEUE";
  std::string line = id + ": milter-" + action + ": " + stage + " from " + facts_.label() + ": " + text + ";";
  if (mail_) line += " from=<" + mail_->path.address + ">";
  if (!to.empty()) line += " to=<" + to + ">";
  else if (rcpts_.size() == 1) line += " to=<" + rcpts_.front().address + ">";
  line += " proto=" + std::string(esmtp_ ? "ESMTP" : "SMTP");
  if (!facts_.helo.empty()) line += " helo=<" + facts_.helo + ">";
  log::info("%s", str::printable(line, 1000).c_str());
  // A refusal's text is its reply ("451 4.7.1 ..."): a tempfail starts with 4.
  if (std::string_view(action) == "reject")
    ipc::metric("postilion_smtpd_rejects_total", {{"service", server_.service_name()}, {"stage", "milter"},
                                                  {"code", !text.empty() && text[0] == '4' ? "4xx" : "5xx"}});
}

// End of DATA (or of the last BDAT chunk): the filters read the prepared queue file.
void Session::milter_message() {
  milter_msg_ = std::make_unique<MilterMessage>();
  milter_msg_->fd = writer_->fd();
  milter_msg_->offset = writer_->content_offset();
  milter_msg_->length = writer_->content_bytes();
  std::string why;
  if (!milter_msg_->load(&why)) {
    log::warn("%s: %s", writer_->reserve_id().c_str(), why.c_str());
    MilterVerdict v;
    v.kind = MilterVerdict::Kind::Tempfail;
    v.reply = reply(451, "4.3.0", "Error: queue file read error");
    return milter_message_done(v);
  }
  auto run_message = [this] {
    milter_stage([this](MilterSession::Done done) { milters_->message(milter_msg_.get(), std::move(done)); },
                 [this](const MilterVerdict& v) { milter_message_done(v); });
  };
  if (milter_data_done_) return run_message();
  // BDAT: the DATA stage comes now, before the content.
  milter_stage([this](MilterSession::Done done) { milters_->data(std::move(done)); },
               [this, run_message](const MilterVerdict& v) {
                 if (v.kind == MilterVerdict::Kind::Reject || v.kind == MilterVerdict::Kind::Tempfail)
                   return milter_message_done(v);
                 milter_data_done_ = true;
                 run_message();
               });
}

void Session::milter_message_done(const MilterVerdict& v) {
  if (!writer_) return;
  const char* stage = "END-OF-MESSAGE";
  if (v.kind == MilterVerdict::Kind::Reject || v.kind == MilterVerdict::Kind::Tempfail) {
    milter_log("reject", stage, v.why.empty() ? v.reply.summary() : v.why);
    milter_msg_.reset();
    reset_transaction();
    return milter_refuse(v.reply);
  }
  std::string id = writer_->reserve_id();
  if (v.kind == MilterVerdict::Kind::Discard) {
    milter_log("discard", stage, "milter triggers DISCARD action");
    milter_msg_.reset();
    reset_transaction();
    // As Postfix: the client is told the message was taken.
    return send(reply(250, "2.0.0", "Ok: queued as " + id));
  }
  bool hold = milter_msg_->quarantine.has_value() || milters_->quarantine_by_default() ||
              (inspector_ && inspector_->held());  // HOLD from header/body checks too
  if (milter_msg_->changed() || hold) {
    Reply r = rebuild_queue_file(hold);
    if (!r.empty()) {
      milter_msg_.reset();
      reset_transaction();
      return send(r);
    }
    if (!writer_) {  // every recipient removed: nothing to deliver
      milter_msg_.reset();
      reset_transaction();
      return send(reply(250, "2.0.0", "Ok: queued as " + id));
    }
    if (hold)
      milter_log("hold", stage,
                 "milter triggers HOLD action" +
                     (milter_msg_->quarantine ? " (" + *milter_msg_->quarantine + ")" : std::string()));
  }
  milter_msg_.reset();
  commit_queue_file();
}

Reply Session::rebuild_queue_file(bool hold) {
  MilterMessage& m = *milter_msg_;
  std::string id = writer_->reserve_id();
  std::string dir = hold ? queue::Spool(server_.settings().queue_directory).dir(queue::Folder::Hold)
                         : server_.incoming_dir();
  auto w = queue::QueueWriter::create(dir, queue::system_ops(), 0, hold ? nullptr : server_.spares());
  if (!w) {
    log::warn("%s: queue file create in %s: %s", id.c_str(), dir.c_str(), w.error().c_str());
    return reply(451, "4.3.0", "Error: queue file write error");
  }
  queue::QueueWriter& nw = **w;
  nw.adopt_id(id);
  // The envelope as the filters left it.
  if (m.sender) mail_->path.address = *m.sender;
  for (const auto& d : m.deleted_rcpts)
    std::erase_if(rcpts_, [&](const Rcpt& r) { return same_address(r.address, d); });
  for (const auto& a : m.added_rcpts) {
    std::string addr = a.find('@') == std::string::npos ? a + "@" + server_.settings().myhostname : a;
    bool have = false;
    for (const auto& r : rcpts_) have = have || same_address(r.address, addr);
    if (!have && !addr.empty()) rcpts_.push_back(Rcpt{addr, "", 0});
  }
  if (rcpts_.empty()) {
    milter_log("discard", "END-OF-MESSAGE", "milter removed every recipient");
    nw.abort();
    writer_->abort();
    writer_.reset();
    return Reply{};
  }
  Status st = write_envelope(nw);
  // The content: the fields (edited or as received), the empty line, the body.
  if (st) st = milter::write_edited_content(m, [&nw](std::string_view d) { return nw.append_content(d); });
  if (st) st = nw.prepare_commit();
  if (!st) {
    log::warn("%s: queue file %s: %s", id.c_str(), nw.temp_path().c_str(), st.error().c_str());
    nw.abort();
    return st.error().temporary() ? reply(451, "4.3.0", "Error: queue file write error")
                                  : reply(554, "5.7.1", "Error: invalid message change by mail filter");
  }
  writer_->abort();
  writer_ = std::move(w.value());
  commit_to_hold_ = hold;
  message_size_ = writer_->content_bytes();
  return Reply{};
}

}  // namespace postilion::smtpd
