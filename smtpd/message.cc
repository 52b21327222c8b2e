// smtpd/message.cc - the message part of a session: DATA and BDAT, the queue file
// (envelope, Received: header, content streamed as it arrives), the commit off the
// event loop, and the replies and log lines that follow.
#include <random>

#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/ipc/metrics.h"
#include "lib/log/log.h"
#include "lib/mail/dsn.h"
#include "lib/mail/header.h"
#include "lib/queue/queue_file.h"
#include "smtpd/server.h"
#include "smtpd/session.h"

namespace postilion::smtpd {

using smtp::Reply;
using smtp::reply;

namespace {

// Content is handed to the queue writer in pieces of about this size.
constexpr size_t kContentFlush = 64 * 1024;
// Submission: how much of the header section we hold to look for Message-ID and Date.
constexpr size_t kMaxHeldHeaders = 256 * 1024;

uint8_t queue_notify(unsigned dsn_bits) {
  uint8_t out = 0;
  if (dsn_bits & mail::kNotifyNever) out |= queue::kNotifyNever;
  if (dsn_bits & mail::kNotifySuccess) out |= queue::kNotifySuccess;
  if (dsn_bits & mail::kNotifyFailure) out |= queue::kNotifyFailure;
  if (dsn_bits & mail::kNotifyDelay) out |= queue::kNotifyDelay;
  return out;
}

Reply write_error_reply() { return reply(452, "4.3.1", "Error: insufficient system storage"); }

}  // namespace

std::string Session::protocol() const {
  std::string p = !esmtp_ ? "SMTP" : (mail_ && mail_->smtputf8) ? "UTF8SMTP" : "ESMTP";
  if (!esmtp_) return p;
  if (tls_) p += "S";
  if (facts_.authenticated) p += "A";
  return p;
}

std::string Session::received_header() const {
  const Settings& s = server_.settings();
  std::string h = "Received: from " + (facts_.helo.empty() ? facts_.ip : facts_.helo) + " (" +
                  facts_.name + " [" + facts_.ip + "])\r\n";
  if (tls_ && tls_info_.active() && s.tls_received_header) h += "\t" + tls_info_.received_comment() + "\r\n";
  h += "\tby " + s.myhostname + " (Postilion) with " + protocol();
  if (rcpts_.size() == 1) h += "\r\n\tfor <" + rcpts_.front().address + ">";
  h += "; " + mail::rfc5322_date(file::now_us() / 1000000) + "\r\n";
  // Peer text (the HELO name) is printable already; no CR/LF can sneak in.
  return h;
}

Reply Session::transaction_check() const {
  if (!mail_) return reply(503, "5.5.1", "Error: need MAIL command");
  if (rcpts_.empty()) return reply(554, "5.5.1", "Error: no valid recipients");
  return Reply{};
}

// The envelope records: sender, client attributes, recipients.
Status Session::write_envelope(queue::QueueWriter& w) {
  Status first;
  auto check = [&first](Status st) {
    if (!st && first) first = st;
  };
  check(w.sender(mail_->path.address));
  check(w.attribute("client_address", facts_.ip));
  check(w.attribute("client_name", facts_.name));
  if (!facts_.helo.empty()) check(w.attribute("helo", facts_.helo));
  check(w.attribute("protocol", protocol()));
  if (facts_.authenticated) {
    check(w.attribute("sasl_method", sasl_method_));
    check(w.attribute("sasl_username", str::printable(sasl_user_, 255)));
  }
  if (!mail_->envid.empty()) check(w.attribute("envid", str::printable(mail_->envid, 100)));
  if (mail_->ret != smtp::Ret::Default) check(w.attribute("ret", mail_->ret == smtp::Ret::Full ? "FULL" : "HDRS"));
  if (mail_->size_given) check(w.attribute("size", std::to_string(mail_->size)));
  if (mail_->body != smtp::Body::Default)
    check(w.attribute("body", mail_->body == smtp::Body::EightBitMime ? "8BITMIME" : "7BIT"));
  if (mail_->smtputf8) check(w.attribute("smtputf8", "yes"));
  // RFC 4954 5: the AUTH= mailbox is kept only from a client trusted to assert it (an
  // authenticated one, or one in mynetworks); from anyone else it counts as AUTH=<>.
  if (!mail_->auth.empty()) {
    bool trusted = facts_.authenticated || facts_.in_mynetworks;
    check(w.attribute("auth", trusted ? str::printable(mail_->auth, 300) : "<>"));
  }
  // Recorded for qmgr, which then routes the whole message through the filter.
  if (!server_.settings().content_filter.empty()) check(w.attribute("content_filter", server_.settings().content_filter));
  for (const auto& r : rcpts_) check(w.recipient(r.address, r.orcpt, queue_notify(r.notify)));
  return first;
}

// Creates the queue file and writes the envelope and the Received: header.
Reply Session::open_queue_file() {
  auto w = queue::QueueWriter::create(server_.incoming_dir(), queue::system_ops(), 0, server_.spares());
  if (!w) {
    log::warn("queue file create in %s: %s", server_.incoming_dir().c_str(), w.error().c_str());
    return reply(451, "4.3.0", "Error: queue file write error");
  }
  writer_ = std::move(w.value());
  write_failed_ = false;
  write_error_.clear();
  message_size_ = 0;
  content_.clear();
  message_start_us_ = file::now_us();
  inspector_.reset();
  if (server_.policy().inspects_content())
    inspector_ = std::make_unique<ContentInspector>(server_.policy().content_tables());
  if (auto st = write_envelope(*writer_); !st && !write_failed_) {
    write_failed_ = true;
    write_error_ = st.error().str();
  }
  commit_to_hold_ = false;
  if (milters_) writer_->reserve_id();  // the filters' {i}
  auto check = [this](Status st) {
    if (!st && !write_failed_) {
      write_failed_ = true;
      write_error_ = st.error().str();
    }
  };
  if (inspector_) {
    // Our Received: header is the first one header_checks sees, as in Postfix.
    std::string out;
    inspector_->feed(received_header(), &out);
    log_inspection();
    if (!out.empty()) check(writer_->append_content(out));
  } else {
    check(writer_->append_content(received_header()));
  }
  // Submission clients (authenticated) get Message-ID and Date added when missing.
  headers_pending_ = facts_.authenticated &&
                     (server_.settings().submission_header_fixes || server_.settings().sasl_auth_required);
  if (write_failed_) log::warn("queue file %s: %s", writer_->temp_path().c_str(), write_error_.c_str());
  return Reply{};
}

void Session::content(std::string_view bytes) {
  if (!writer_ || write_failed_) return;
  if (auto st = writer_->append_content(bytes); !st) {
    write_failed_ = true;
    write_error_ = st.error().str();
    log::warn("queue file %s: %s", writer_->temp_path().c_str(), write_error_.c_str());
  }
}

void Session::flush_content(bool final) {
  if (headers_pending_) {
    size_t end = content_.find("\r\n\r\n");
    bool blank_first = content_.compare(0, 2, "\r\n") == 0;
    if (!final && end == std::string::npos && !blank_first && content_.size() < kMaxHeldHeaders) return;
    std::string_view head(content_.data(), end == std::string::npos ? content_.size() : end + 2);
    if (blank_first) head = {};
    mail::Headers h = mail::parse_headers(head);
    std::string add;
    if (!h.has("Message-ID")) {
      std::random_device rd;
      add += str::format("Message-ID: <%lld.%08x@%s>\r\n", static_cast<long long>(file::now_us()),
                         rd(), server_.settings().myhostname.c_str());
    }
    if (!h.has("Date")) add += "Date: " + mail::rfc5322_date(file::now_us() / 1000000) + "\r\n";
    headers_pending_ = false;
    if (!add.empty() && inspector_) {
      std::string out;
      inspector_->pass(add, &out);
      log_inspection();
      if (!inspector_->rejected() && !inspector_->discarded()) content(out);
    } else if (!add.empty()) {
      content(add);
    }
  }
  if (final || content_.size() >= kContentFlush) {
    inspect(content_, final);
    content_.clear();
  }
}

void Session::inspect(std::string_view bytes, bool final) {
  if (!inspector_) return content(bytes);
  std::string out;
  inspector_->feed(bytes, &out);
  if (final) inspector_->finish(&out);
  log_inspection();
  // A rejected or discarded message's file is removed at the end: no use writing more.
  if (!inspector_->rejected() && !inspector_->discarded()) content(out);
}

// Postfix's cleanup lines: "ID: reject: header Subject: x from host[addr]; from=<s>
// to=<r> proto=ESMTP helo=<h>: 5.7.1 text".
void Session::log_inspection() {
  for (const std::string& w : inspector_->take_warnings()) log::warn("%s", w.c_str());
  auto events = inspector_->take_events();
  if (events.empty()) return;
  const std::string& id = writer_->reserve_id();
  for (const ContentEvent& e : events) {
    std::string line = str::format("%s: %s: %s %s from %s; from=<%s> to=<%s> proto=%s helo=<%s>", id.c_str(),
                                   e.action.c_str(), e.where.c_str(), e.line.c_str(), facts_.label().c_str(),
                                   str::printable(mail_->path.address).c_str(),
                                   rcpts_.empty() ? "" : str::printable(rcpts_.front().address).c_str(),
                                   esmtp_ ? "ESMTP" : "SMTP", str::printable(facts_.helo, 200).c_str());
    if (!e.text.empty()) line += ": " + str::printable(e.text, 400);
    log::info("%s", line.c_str());
  }
}

bool Session::inspection_verdict() {
  if (!inspector_) return false;
  if (inspector_->rejected()) {
    const std::string& t = inspector_->reject_text();  // "5.7.1 text"
    size_t sp = t.find(' ');
    Reply r = reply(inspector_->reject_status(), t.substr(0, sp), sp == std::string::npos ? "" : t.substr(sp + 1));
    count_reject("content", r);
    reset_transaction();  // removes the queue file
    send(r);
    return true;
  }
  if (inspector_->discarded()) {
    // Acknowledged as delivered, as Postfix does, with the ID its log lines carry.
    std::string id = writer_->reserve_id();
    reset_transaction();
    send(reply(250, "2.0.0", "Ok: queued as " + id));
    return true;
  }
  if (!inspector_->redirect().empty()) {
    if (Status st = redirect_to(inspector_->redirect()); !st) {
      log::warn("%s: redirect to %s: %s", writer_ ? writer_->reserve_id().c_str() : "NOQUEUE",
                str::printable(inspector_->redirect(), 300).c_str(), st.error().c_str());
      bool bad_address = !st.error().temporary();
      reset_transaction();
      send(bad_address ? reply(550, "5.7.1", "Error: bad REDIRECT address in content checks")
                       : write_error_reply());
      return true;
    }
  }
  if (inspector_->held()) writer_->set_final_dir(server_.hold_dir());
  return false;
}

// The recipients come before the content in a queue file, and the content is on disk
// by now: a second file gets the envelope with the new recipient and the content copied
// from the first (read back with pread, 64 KiB at a time - a REDIRECT is rare), then
// the first is removed. Postfix likewise replaces every recipient.
Status Session::redirect_to(const std::string& to) {
  if (to.empty() || to.size() > 998 || to.find_first_of(" \t<>") != std::string::npos)
    return Error("not an address", EINVAL).set_permanent();
  if (write_failed_) return Error(write_error_);
  if (Status st = writer_->prepare_commit(); !st) return st;
  auto old = queue::read_queue_file(writer_->temp_path());
  if (!old) return old.error();
  if (old->parsed.status != queue::Parse::Complete) return Error("queue file reread: " + old->parsed.error, EIO);
  const queue::QueueFile& f = old->parsed.file;
  auto w = queue::QueueWriter::create(server_.incoming_dir(), queue::system_ops(), f.arrival_us, server_.spares());
  if (!w) return w.error();
  queue::QueueWriter& nw = **w;
  Status st = nw.sender(f.sender);
  for (const auto& [name, value] : f.attributes)
    if (st) st = nw.attribute(name, value);
  if (st) st = nw.recipient(to, "", 0);
  if (st)
    st = queue::stream_content(old->fd.get(), f, [&nw](std::string_view piece) { return nw.append_content(piece); });
  if (!st) return st;
  nw.adopt_id(writer_->reserve_id());
  writer_->abort();
  writer_ = std::move(*w);
  return {};
}

void Session::cmd_data(std::string_view) {
  if (bdat_started_) return send(reply(503, "5.5.1", "Error: DATA after BDAT"));
  if (Reply r = transaction_check(); !r.empty()) return send(r);
  if (server_.settings().data_restrictions.empty()) return data_checked(Reply{});
  run_checks(CheckStage::Data, mail_->path.address, [this](const Reply& r) { data_checked(r); });
}

// smtpd_data_restrictions refused the message: logged, and the transaction is over.
void Session::data_refused(const char* stage, const Reply& r) {
  reject_log(stage, r, rcpts_.size() == 1 ? rcpts_.front().address : "");
  reset_transaction();
}

void Session::data_checked(const Reply& checked) {
  if (!checked.empty()) {
    data_refused("DATA", checked);
    return send(checked);
  }
  if (Reply r = open_queue_file(); !r.empty()) return send(r);
  if (milters_) {
    milter_stage([this](MilterSession::Done done) { milters_->data(std::move(done)); },
                 [this](const MilterVerdict& v) {
                   if (v.kind == MilterVerdict::Kind::Reject || v.kind == MilterVerdict::Kind::Tempfail) {
                     milter_log("reject", "DATA", v.why);
                     reset_transaction();
                     return milter_refuse(v.reply);
                   }
                   milter_data_done_ = true;
                   start_data();
                 });
    return;
  }
  start_data();
}

void Session::start_data() {
  const Settings& s = server_.settings();
  data_.emplace(s.message_size_limit, s.forbid_bare_newline, s.line_limit - 2);
  state_ = State::Data;
  // smtpd_timeout still bounds each read; this bounds the whole transfer.
  data_timer_ = event::Timer(server_.base(), [this] { on_event(BEV_EVENT_TIMEOUT); });
  data_timer_.start(s.data_timeout_s * 1000);
  send(reply(354, "", "End data with <CR><LF>.<CR><LF>"));
  flush();  // the client waits for 354 before it sends the message
}

void Session::cmd_bdat(std::string_view arg) {
  auto b = smtp::parse_bdat(arg);
  if (!b) return send(b.error());
  Reply refuse;
  if (!bdat_started_) refuse = transaction_check();
  // smtpd_data_restrictions before the first chunk; meanwhile the chunk's bytes wait
  // unread (the session reads nothing while checks run).
  if (refuse.empty() && !bdat_started_ && !server_.settings().data_restrictions.empty()) {
    run_checks(CheckStage::Data, mail_->path.address, [this, chunk = *b](const Reply& r) {
      if (!r.empty()) data_refused("BDAT", r);
      bdat_chunk(chunk, r);
    });
    return;
  }
  bdat_chunk(*b, refuse);
}

void Session::bdat_chunk(const smtp::Bdat& b, Reply refuse) {
  const Settings& s = server_.settings();
  if (refuse.empty() && !bdat_started_) {
    refuse = open_queue_file();
    if (refuse.empty()) bdat_started_ = true;
  }
  // The chunk is read in any case: its bytes must not be taken for commands.
  uint64_t so_far = writer_ && refuse.empty() ? message_size_ : 0;
  chunk_ = smtp::ChunkReader(b.size, so_far, s.message_size_limit);
  bdat_refusal_ = refuse;
  bdat_last_ = b.last;
  state_ = State::Bdat;
  // A refused chunk is read and dropped; its reply is bdat_refusal_, not the error.
  if (!refuse.empty()) chunk_.set_error(smtp::DataError::TooBig);
  if (b.size == 0) end_of_message(chunk_.error());
}

void Session::end_of_message(smtp::DataError err) {
  state_ = State::Ready;
  if (data_timer_) data_timer_.stop();
  if (data_) {
    message_size_ = data_->size();
    data_.reset();
  } else {
    message_size_ = chunk_.total();
    if (!bdat_refusal_.empty()) {
      Reply r = bdat_refusal_;
      bdat_refusal_ = Reply{};
      return send(r);
    }
    if (err == smtp::DataError::None && !bdat_last_) {
      flush_content(false);
      return send(reply(250, "2.0.0", "Ok: " + std::to_string(chunk_.total()) + " octets"));
    }
  }
  if (err != smtp::DataError::None) {
    Reply r = smtp::data_error_reply(err);
    log::info("NOQUEUE: reject: %s from %s: %s; from=<%s> size=%llu", bdat_started_ ? "BDAT" : "DATA",
              facts_.label().c_str(), r.summary().c_str(), mail_ ? mail_->path.address.c_str() : "",
              static_cast<unsigned long long>(message_size_));
    count_reject("data", r);
    if (writer_) writer_->abort();
    writer_.reset();
    reset_transaction();
    return send(r);
  }
  flush_content(true);
  if (inspection_verdict()) return;
  Status prepared = write_failed_ ? Status(Error(write_error_)) : writer_->prepare_commit();
  if (!prepared) {
    log::warn("queue file %s: %s", writer_->temp_path().c_str(), prepared.error().c_str());
    writer_->abort();
    writer_.reset();
    reset_transaction();
    return send(write_error_reply());
  }
  if (milters_) return milter_message();
  commit_queue_file();
}

void Session::commit_queue_file() {
  // The client hears 250 only once the file and its directory entry are on disk.
  state_ = State::Commit;
  suspend();
  flush();
  uint64_t id = id_;
  Server* server = &server_;
  server_.committer().submit(std::move(writer_), [server, id](Result<std::string> qid) {
    if (Session* s = server->find(id)) s->committed(std::move(qid));
    else if (qid) log::info("%s: client disconnected before the reply; message kept", qid->c_str());
  });
}

void Session::committed(Result<std::string> qid) {
  if (state_ != State::Commit) {  // the session is already closing (timeout, error)
    if (qid) log::info("%s: client=%s, session ended before the reply", qid->c_str(), facts_.label().c_str());
    return;
  }
  if (!qid) {
    log::warn("queue file commit: %s", qid.error().c_str());
    reset_transaction();
    state_ = State::Ready;
    send(write_error_reply());
    resume();
    return;
  }
  const std::string& id = *qid;
  std::string client = id + ": client=" + facts_.label();
  if (facts_.authenticated)
    client += ", sasl_method=" + sasl_method_ + ", sasl_username=" + str::printable(sasl_user_, 255);
  log::info("%s", client.c_str());
  log::info("%s: from=<%s>, size=%llu, nrcpt=%zu", id.c_str(),
            str::printable(mail_->path.address).c_str(), static_cast<unsigned long long>(message_size_),
            rcpts_.size());
  ipc::metric("postilion_messages_received_total", {{"service", server_.service_name()}});
  // A held message waits in hold/ for `postilionctl queue release`; qmgr has nothing to do.
  if (!commit_to_hold_ && (!inspector_ || !inspector_->held())) server_.notify_qmgr(id);
  reset_transaction();
  state_ = State::Ready;
  junk_ = 0;
  send(reply(250, "2.0.0", "Ok: queued as " + id));
  resume();
}

void Session::reset_transaction() {
  // Filters that saw this transaction begin hear that it ended without a message.
  if (milters_) milters_->abort();
  milter_msg_.reset();
  milter_data_done_ = false;
  commit_to_hold_ = false;
  mail_.reset();
  rcpts_.clear();
  bdat_started_ = false;
  bdat_last_ = false;
  bdat_refusal_ = Reply{};
  data_.reset();
  if (writer_) writer_->abort();
  writer_.reset();
  content_.clear();
  headers_pending_ = false;
  write_failed_ = false;
  inspector_.reset();
}

}  // namespace postilion::smtpd
