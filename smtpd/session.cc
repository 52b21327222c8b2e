// smtpd/session.cc - the SMTP session state machine: I/O, commands, AUTH, STARTTLS.
// The message itself (DATA, BDAT, queue file) is in message.cc.
#include "smtpd/session.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include "lib/base/strings.h"
#include "lib/dns/protocol.h"
#include "lib/ipc/message.h"
#include "lib/ipc/metrics.h"
#include "lib/ipc/protocols.h"
#include "lib/log/log.h"
#include "lib/base/file.h"
#include "smtpd/server.h"

namespace postilion::smtpd {

using smtp::Reply;
using smtp::reply;
using smtp::Verb;

// Which handler runs each verb. Order checks (HELO first, MAIL before RCPT, ...)
// are in the handlers, so each can give its RFC 5321 reply.
const Session::CommandSpec Session::kCommands[] = {
    {Verb::Helo, &Session::cmd_helo},         {Verb::Ehlo, &Session::cmd_ehlo},
    {Verb::Mail, &Session::cmd_mail},         {Verb::Rcpt, &Session::cmd_rcpt},
    {Verb::Data, &Session::cmd_data},         {Verb::Bdat, &Session::cmd_bdat},
    {Verb::Rset, &Session::cmd_rset},         {Verb::Noop, &Session::cmd_noop},
    {Verb::Quit, &Session::cmd_quit},         {Verb::Vrfy, &Session::cmd_vrfy},
    {Verb::Expn, &Session::cmd_expn},         {Verb::Help, &Session::cmd_help},
    {Verb::Starttls, &Session::cmd_starttls}, {Verb::Auth, &Session::cmd_auth},
};

namespace {
constexpr size_t kReadHighWater = 256 * 1024;

// A MAIL or RCPT argument as filters get it: "<address>", then each ESMTP parameter.
std::vector<std::string> milter_args(const std::string& arg) {
  std::vector<std::string> out;
  std::string_view a = arg;
  while (!a.empty() && a.front() == ' ') a.remove_prefix(1);
  if (a.empty()) return {"<>"};
  size_t end = a.front() == '<' ? a.find('>') : a.find(' ');
  if (end != std::string_view::npos && a.front() == '<') ++end;
  out.emplace_back(a.substr(0, end));
  if (end == std::string_view::npos) return out;
  for (const auto& p : str::split(a.substr(end), " ")) out.push_back(p);
  return out;
}
// Commands carry extension parameters (ORCPT, ENVID, AUTH=) beyond RFC 5321's 512
// octets, so they get at least kMaxCommandLine; smtpd_line_limit may raise it.
size_t command_line_limit(const Settings& s) { return std::max(s.line_limit, smtp::kMaxCommandLine); }
}

Session::Session(Server& server, uint64_t id, UniqueFd fd, std::string ip, bool in_mynetworks)
    : server_(server), id_(id), lines_(command_line_limit(server.settings())) {
  facts_.ip = std::move(ip);
  facts_.in_mynetworks = in_mynetworks;
  const tls::Context* ctx = server_.tls();
  if (server_.settings().tls_wrappermode && ctx) {
    int raw = fd.release();
    auto bev = tls::socket_bufferevent(server_.base().get(), raw, *ctx);
    if (bev) {
      bev_ = event::BufferEvent::adopt(bev->release());
      tls_ = true;
    } else {
      UniqueFd again(raw);
      log::warn("TLS wrapper mode for %s: %s", facts_.label().c_str(), bev.error().c_str());
    }
  } else {
    bev_ = event::BufferEvent(server_.base(), std::move(fd));
  }
}

Session::~Session() = default;

void Session::start() {
  if (!bev_) {
    log::info("connect from %s", facts_.label().c_str());
    server_.end(id_);
    return;
  }
  bev_.set_callbacks([this] { on_read(); }, [this] { on_write(); }, [this](short w) { on_event(w); });
  int ms = static_cast<int>(server_.settings().timeout_s * 1000);
  bev_.set_timeouts(ms, ms);
  bev_.set_read_high_water(kReadHighWater);
  // Input before the greeting stays in the buffer (on_read) until greet().
  bev_.enable(EV_READ | EV_WRITE);
  lookup_name();
}

void Session::admit() {
  admitted_ = true;
  if (name_done_) greet();
}

void Session::refuse(const std::string& why) {
  if (state_ != State::Connect) return;
  log::info("connect from %s", facts_.label().c_str());
  close_after_reply(reply(421, "4.7.0", server_.settings().myhostname + " Error: " + why));
}

// The client's name through the resolver: a PTR name whose addresses hold the client's
// (forward-confirmed), or "unknown". The link answers within smtpd_peername_timeout,
// or at once when there is no resolver; the event loop never waits.
void Session::lookup_name() {
  if (const Server::CachedName* cached = server_.cached_name(facts_.ip)) {
    facts_.name = cached->name;
    facts_.reverse_name = cached->reverse;
    facts_.name_tempfail = false;
    name_known(nullptr);
    return;
  }
  name_link_ = server_.resolver_link();
  if (!name_link_) {
    name_known(nullptr);
    return;
  }
  Server* server = &server_;
  uint64_t id = id_;
  name_link_->call(dns::proto::ptr_request(facts_.ip), [server, id](const ipc::Message* m) {
    if (Session* s = server->find(id)) s->name_known(m);
  });
}

void Session::name_known(const ipc::Message* m) {
  if (name_done_) return;
  name_done_ = true;
  // Not deleted here: this may run inside the link's own callback.
  if (name_link_) server_.base().defer_delete(std::move(name_link_));
  if (m) {
    // The name goes into logs and the Received: header: the decoder accepts host name
    // syntax only (resolver(8) checks this too; smtpd does not rely on it).
    using Status = dns::proto::ClientName::Status;
    auto c = dns::proto::decode_client_name(*m);
    if (!c) {
      log::warn("resolver: malformed reply for %s: %s", facts_.ip.c_str(), c.error().c_str());
    } else if (c->status == Status::Ok) {
      facts_.name = c->name;
      facts_.reverse_name = c->name;
      facts_.name_tempfail = false;
      server_.cache_name(facts_.ip, c->name, c->name);
    } else if (c->status == Status::Unconfirmed) {
      log::warn("hostname %s does not resolve to address %s", c->name.c_str(), facts_.ip.c_str());
      facts_.reverse_name = c->name;
      facts_.name_tempfail = false;
      server_.cache_name(facts_.ip, "unknown", c->name);
    } else if (c->status == Status::NoData || c->status == Status::NxDomain) {
      facts_.name_tempfail = false;
      server_.cache_name(facts_.ip, "unknown", "unknown");
    } else {
      log::warn("hostname lookup for %s failed: temporary failure", facts_.ip.c_str());
    }
  }
  if (admitted_) greet();
}

void Session::greet() {
  if (state_ != State::Connect) return;
  state_ = State::Ready;
  log::info("connect from %s", facts_.label().c_str());
  const Settings& s = server_.settings();
  std::vector<std::string> filters = s.milters;
  if (!milter_map_filters(&filters)) {
    // A broken table or value must not let mail past the filters it was meant to pass:
    // as a filter that cannot be reached with milter_default_action = tempfail, every
    // MAIL FROM of the session gets 451 4.7.1.
    milters_ = std::make_unique<MilterSession>(server_.base(), milter_config(s, {}),
                                               [this](std::string_view name) { return milter_macro(name); });
    MilterVerdict v;
    v.kind = MilterVerdict::Kind::Tempfail;
    v.reply = reply(451, "4.7.1", "Service unavailable - try again later");
    v.why = v.reply.summary();
    milter_connect_refusal_ = v;
    return send_greeting();
  }
  if (filters.empty()) return send_greeting();
  // The filters hear of the connection before the client hears the greeting.
  sockaddr_storage ss;
  socklen_t len = sizeof ss;
  char family = 'U';
  if (getpeername(bev_.fd(), reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    if (ss.ss_family == AF_INET) {
      client_port_ = ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
      family = '4';
    } else if (ss.ss_family == AF_INET6) {
      client_port_ = ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
      family = facts_.ip.find(':') == std::string::npos ? '4' : '6';
    }
  }
  len = sizeof ss;
  if (getsockname(bev_.fd(), reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    local_ip_ = peer_ip(reinterpret_cast<sockaddr*>(&ss), len);
    if (ss.ss_family == AF_INET) local_port_ = ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    else if (ss.ss_family == AF_INET6) local_port_ = ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  }
  milters_ = std::make_unique<MilterSession>(server_.base(), milter_config(s, filters),
                                             [this](std::string_view name) { return milter_macro(name); });
  uint16_t port = static_cast<uint16_t>(client_port_);
  milter_stage(
      [this, family, port](MilterSession::Done done) {
        milters_->connect(facts_.name, family, port, facts_.ip, std::move(done));
      },
      [this](const MilterVerdict& v) {
        // As Postfix: the greeting goes out, and the refusal answers each MAIL FROM.
        if (v.kind == MilterVerdict::Kind::Reject || v.kind == MilterVerdict::Kind::Tempfail) {
          milter_log("reject", "CONNECT", v.why);
          milter_connect_refusal_ = v;
        }
        send_greeting();
      });
}

void Session::send_greeting() {
  // A client that talks before the greeting is not waiting for replies (Postfix's
  // reject_unauth_pipelining catches such clients too).
  if (evbuffer_get_length(bev_.input()) > 0) facts_.improper_pipelining = true;
  // In wrapper mode the greeting waits in the buffer until the handshake is done.
  send(reply(220, "", server_.settings().banner_text()));
  flush();
  if (evbuffer_get_length(bev_.input()) > 0) on_read();  // a client that spoke first
}

// ---- I/O ---------------------------------------------------------------------------
void Session::on_read() {
  evbuffer* in = bev_.input();
  size_t n = evbuffer_get_length(in);
  if (n == 0) return;
  if (state_ == State::TlsSwitch || state_ == State::Closing) {
    evbuffer_drain(in, n);  // pipelined after STARTTLS or QUIT: discarded
    return;
  }
  // Left in the buffer (its high-water mark stops reading) until the greeting or the
  // end of the error delay.
  if (error_delayed_ || state_ == State::Connect) return;
  if (in_pos_ > 0 && in_pos_ == in_.size()) {
    in_.clear();
    in_pos_ = 0;
  }
  size_t old = in_.size();
  in_.resize(old + n);
  evbuffer_remove(in, in_.data() + old, n);
  process();
}

void Session::on_write() {
  // While an error reply waits, out_ holds what is still to go: not the end yet.
  if (bev_.output_length() > 0 || error_delayed_) return;
  if (state_ == State::Closing) {
    finish(nullptr);
  } else if (state_ == State::TlsSwitch) {
    switch_to_tls_soon();
  }
}

void Session::switch_to_tls_soon() {
  // Not from inside this bufferevent's own callback: it is about to be replaced.
  tls_timer_ = event::Timer(server_.base(), [this] { switch_to_tls(); });
  tls_timer_.start(0);
}

void Session::on_event(short what) {
  if (what & BEV_EVENT_CONNECTED) {
    tls_established();
    return;
  }
  if (what & BEV_EVENT_TIMEOUT) {
    if (state_ == State::Closing) return;
    if (data_timer_) data_timer_.stop();
    if (request_timer_) request_timer_.stop();
    log::info("timeout after %s from %s", last_command_.c_str(), facts_.label().c_str());
    if (writer_) writer_->abort();
    bev_.disable(EV_READ);
    close_after_reply(reply(421, "4.4.2", server_.settings().myhostname + " Error: timeout exceeded"));
    flush();
    return;
  }
  if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
    if (tls_ && !tls_info_.active() && (what & BEV_EVENT_ERROR)) {
      log::info("SSL_accept error from %s: %s", facts_.label().c_str(), tls::last_error().c_str());
      ipc::metric("postilion_tls_handshakes_total", {{"service", server_.service_name()}, {"result", "failed"}});
    } else if (state_ != State::Closing) {
      log::info("lost connection after %s from %s", last_command_.c_str(), facts_.label().c_str());
    }
    finish("lost");
  }
}

bool Session::suspended() const {
  return error_delayed_ || state_ == State::Connect || state_ == State::AuthWait || state_ == State::Checks ||
         state_ == State::Limits || state_ == State::Milter ||
         state_ == State::Commit || state_ == State::TlsSwitch || state_ == State::Closing;
}

void Session::suspend() { bev_.disable(EV_READ); }

void Session::resume() {
  bev_.enable(EV_READ);
  process();
}

void Session::error_delay_done() {
  error_delayed_ = false;
  flush();
  if (state_ == State::Closing) {
    if (bev_.output_length() == 0) finish(nullptr);  // else on_write() ends it
    return;
  }
  if (state_ == State::AuthWait || state_ == State::Checks || state_ == State::Limits || state_ == State::Commit ||
      state_ == State::TlsSwitch || state_ == State::Milter)
    return;
  bev_.enable(EV_READ);
  // Input that arrived during the delay is still in the bufferevent.
  if (evbuffer_get_length(bev_.input()) > 0) on_read();
  else process();
}

void Session::process() {
  while (!suspended() && in_pos_ < in_.size()) {
    std::string_view buf(in_.data() + in_pos_, in_.size() - in_pos_);
    size_t used = 0;
    if (state_ == State::Data) {
      auto st = data_->feed(buf, &content_, &used);
      in_pos_ += used;
      flush_content(false);
      if (st == smtp::DataReader::Status::End) end_of_message(data_->error());
      continue;
    }
    if (state_ == State::Bdat) {
      auto st = chunk_.feed(buf, &content_, &used);
      in_pos_ += used;
      flush_content(false);
      if (st == smtp::ChunkReader::Status::End) end_of_message(chunk_.error());
      continue;
    }
    std::string_view line;
    auto st = lines_.next(buf, &used, &line);
    if (st == smtp::LineReader::Status::NeedMore) {
      in_pos_ += used;
      break;
    }
    if (st == smtp::LineReader::Status::TooLong) {
      in_pos_ += used;
      last_command_ = "UNKNOWN";
      send(reply(500, "5.5.2", "Error: line too long"));
      continue;
    }
    // The line views in_, which nothing changes until the handler returns, except
    // STARTTLS (which drops the rest of in_ after it has used the line).
    std::string copy(line);
    in_pos_ += used;
    if (state_ == State::AuthLine) auth_line(copy);
    else handle_line(copy);
  }
  if (in_pos_ == in_.size()) {
    in_.clear();
    in_pos_ = 0;
  } else if (in_pos_ > 65536) {
    in_.erase(0, in_pos_);
    in_pos_ = 0;
  }
  // Every reply to what one read held goes out together (RFC 2920).
  flush();
  watch_request();
}

// smtpd_per_request_deadline: a command line that has begun must end within
// smtpd_timeout, however its bytes trickle in (each of which restarts the idle timeout).
// Message content has smtpd_data_timeout; a line waiting behind a reply that is not
// out yet is the server's doing and is not timed.
void Session::watch_request() {
  const Settings& s = server_.settings();
  if (!s.per_request_deadline || !bev_) return;
  bool partial = in_pos_ < in_.size() && !suspended() && state_ != State::Data && state_ != State::Bdat;
  if (!partial) {
    if (request_timer_) request_timer_.stop();
    return;
  }
  if (!request_timer_) request_timer_ = event::Timer(server_.base(), [this] { on_event(BEV_EVENT_TIMEOUT); });
  if (!request_timer_.pending()) request_timer_.start(s.timeout_s * 1000);
}

void Session::flush() {
  if (out_.empty() || !bev_ || error_delayed_) return;
  bool all_sent = bev_.send_now(out_);
  out_.clear();
  // What on_write() does once the output drains, when it never had to wait: the
  // STARTTLS reply is out, the handshake may begin.
  if (all_sent && state_ == State::TlsSwitch) switch_to_tls_soon();
}

void Session::send(const Reply& r) {
  out_ += r.wire();
  // 452 4.5.3 (too many recipients) is the client's normal way to learn the limit
  // (RFC 5321 4.5.3.1.10), not an error that should end the session.
  if (r.code >= 400 && r.code != 421 && r.status != "4.5.3") {
    const Settings& s = server_.settings();
    // Past the soft limit the reply waits (Postfix sleeps; the loop must not). The
    // reply is already in out_; flush() holds it until the timer fires.
    if (errors_ >= s.soft_error_limit && s.error_sleep_ms > 0 && !error_delayed_ &&
        state_ != State::Closing) {
      error_delayed_ = true;
      bev_.disable(EV_READ);
      if (!error_timer_) error_timer_ = event::Timer(server_.base(), [this] { error_delay_done(); });
      error_timer_.start(s.error_sleep_ms);
    }
    count_error();
  }
}

void Session::count_error() {
  if (++errors_ >= server_.settings().hard_error_limit && state_ != State::Closing) {
    log::info("too many errors after %s from %s", last_command_.c_str(), facts_.label().c_str());
    close_after_reply(reply(421, "4.7.0", server_.settings().myhostname + " Error: too many errors"));
  }
}

// Past smtpd_junk_command_limit since the last message, each NOOP, RSET or VRFY counts
// as an error (as Postfix does): a client that only keeps the session alive is ended by
// smtpd_hard_error_limit.
void Session::junk_command() {
  if (++junk_ > server_.settings().junk_command_limit) count_error();
}

void Session::close_after_reply(const Reply& r) {
  if (state_ == State::Closing) return;
  out_ += r.wire();
  state_ = State::Closing;
  bev_.disable(EV_READ);
  flush();
  if (error_delayed_) return;  // error_delay_done() writes it and ends the session
  if (bev_.output_length() == 0) {
    // Nothing queued: the write callback will not come. End after this callback.
    tls_timer_ = event::Timer(server_.base(), [this] { finish(nullptr); });
    tls_timer_.start(0);
  }
}

void Session::finish(const char* why) {
  (void)why;
  if (error_timer_) error_timer_.stop();
  if (writer_) writer_->abort();
  if (auth_channel_) auth_channel_->shutdown();
  if (milters_) milters_->quit();
  std::string stats;
  for (const auto& [name, n] : counts_) stats += " " + name + "=" + std::to_string(n);
  log::info("disconnect from %s%s commands=%d", facts_.label().c_str(), stats.c_str(),
            total_commands_);
  bev_.disable(EV_READ | EV_WRITE);
  server_.end(id_);
}

// ---- commands ----------------------------------------------------------------------
void Session::handle_line(std::string_view line) {
  auto cmd = smtp::parse_command(line);
  if (!got_helo_ && total_commands_ == 0 && smtp::is_http_line(line)) {
    log::warn("non-SMTP command from %s: %s", facts_.label().c_str(), str::printable(line, 100).c_str());
    close_after_reply(reply(221, "2.7.0", "Error: I can break rules, too. Goodbye."));
    return;
  }
  ++total_commands_;
  if (!cmd) {
    last_command_ = "UNKNOWN";
    ++counts_["unknown"];
    send(cmd.error());
    return;
  }
  last_command_ = smtp::verb_name(cmd->verb);
  ++counts_[str::lower(last_command_)];
  // More input behind this command where the client may not send ahead: no PIPELINING
  // (HELO, or no EHLO yet), or a command that must end a group (RFC 2920 3.1).
  static constexpr Verb kEndsGroup[] = {Verb::Helo, Verb::Ehlo, Verb::Data, Verb::Vrfy, Verb::Expn,
                                        Verb::Noop, Verb::Starttls, Verb::Auth};
  bool more = in_pos_ < in_.size() || evbuffer_get_length(bev_.input()) > 0;
  if (more && cmd->verb != Verb::Quit &&
      (!esmtp_ || std::find(std::begin(kEndsGroup), std::end(kEndsGroup), cmd->verb) != std::end(kEndsGroup)))
    facts_.improper_pipelining = true;
  for (const auto& spec : kCommands) {
    if (spec.verb == cmd->verb) {
      (this->*spec.handler)(cmd->arg);
      return;
    }
  }
  send(reply(502, "5.5.2", "Error: command not recognized"));
}

void Session::cmd_helo(std::string_view arg) {
  reset_transaction();
  facts_.helo = str::printable(arg, 255);
  got_helo_ = true;
  esmtp_ = false;
  Reply ok = reply(250, "", server_.settings().myhostname);
  run_checks(CheckStage::Helo, std::nullopt, [this, ok](const Reply& r) {
    if (!r.empty()) reject_log("HELO", r);
    if (!r.empty() || !milters_) return send(r.empty() ? ok : r);
    milter_helo("HELO", ok);
  });
}

// HELO/EHLO through the filters; ok is the reply when they let it pass.
void Session::milter_helo(const char* verb, const Reply& ok) {
  milter_stage([this](MilterSession::Done done) { milters_->helo(facts_.helo, std::move(done)); },
               [this, verb, ok](const MilterVerdict& v) {
                 if (v.kind == MilterVerdict::Kind::Reject || v.kind == MilterVerdict::Kind::Tempfail) {
                   milter_log("reject", verb, v.why);
                   return milter_refuse(v.reply);
                 }
                 send(ok);
               });
}

void Session::cmd_ehlo(std::string_view arg) {
  reset_transaction();
  facts_.helo = str::printable(arg, 255);
  got_helo_ = true;
  esmtp_ = true;
  const Settings& s = server_.settings();
  std::vector<std::string> lines{s.myhostname, "PIPELINING"};
  lines.push_back(s.message_size_limit ? "SIZE " + std::to_string(s.message_size_limit) : "SIZE");
  if (!tls_ && server_.tls() && s.tls_security_level != "none") lines.push_back("STARTTLS");
  if (s.sasl_auth_enable && tls_) lines.push_back("AUTH PLAIN LOGIN");
  lines.insert(lines.end(), {"ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "SMTPUTF8", "CHUNKING"});
  Reply ok = smtp::reply_lines(250, "", std::move(lines));
  run_checks(CheckStage::Helo, std::nullopt, [this, ok](const Reply& r) {
    if (!r.empty()) reject_log("EHLO", r);
    if (!r.empty() || !milters_) return send(r.empty() ? ok : r);
    milter_helo("EHLO", ok);
  });
}

void Session::cmd_mail(std::string_view arg) {
  const Settings& s = server_.settings();
  if (!got_helo_ && s.helo_required) return send(reply(503, "5.5.1", "Error: send HELO/EHLO first"));
  if (s.tls_security_level == "encrypt" && !tls_)
    return send(reply(530, "5.7.0", "Must issue a STARTTLS command first"));
  if (mail_) return send(reply(503, "5.5.1", "Error: nested MAIL command"));
  if (s.sasl_auth_required && !facts_.authenticated) {
    Reply r = reply(530, "5.7.0", "Authentication required");
    reject_log("MAIL", r);
    return send(r);
  }
  auto m = smtp::parse_mail_from(arg);
  if (!m) return send(m.error());
  milter_mail_arg_ = std::string(arg);
  if ((m->smtputf8 || m->body != smtp::Body::Default) && !esmtp_)
    return send(reply(555, "5.5.4", "Error: ESMTP parameters need EHLO"));
  if (m->size_given && s.message_size_limit && m->size > s.message_size_limit) {
    Reply big = reply(552, "5.3.4", "Message size exceeds fixed limit");
    reject_log("MAIL", big);
    return send(big);
  }
  if (!server_.queue_has_room(m->size_given ? m->size : 0)) {
    Reply full = reply(452, "4.3.1", "Insufficient system storage");
    reject_log("MAIL", full);
    return send(full);
  }
  // Counted whether or not the message is accepted then (as Postfix's anvil does).
  check_event_limits(ipc::AnvilEvent::Message, ipc::AnvilEvent::UserMessage, [this, mf = std::move(m.value())](const Reply& over) {
    if (!over.empty()) {
      mail_ = mf;  // for the from= of the log line
      reject_log("MAIL", over);
      mail_.reset();
      return send(over);
    }
    std::string sender = mf.path.address;
    run_checks(CheckStage::Mail, sender, [this, mf](const Reply& r) { mail_checked(mf, r); });
  });
}

void Session::mail_checked(smtp::MailFrom m, const Reply& r) {
  if (!r.empty()) {
    mail_ = std::move(m);  // for the from= of the log line
    reject_log("MAIL", r);
    mail_.reset();
    return send(r);
  }
  mail_ = std::move(m);
  if (!milters_) return send(reply(250, "2.1.0", "Ok"));
  if (milter_connect_refusal_) {
    milter_log("reject", "MAIL", milter_connect_refusal_->why);
    Reply refusal = milter_connect_refusal_->reply;
    mail_.reset();
    return milter_refuse(refusal);
  }
  milter_stage([this](MilterSession::Done done) { milters_->mail(milter_args(milter_mail_arg_), std::move(done)); },
               [this](const MilterVerdict& v) {
                 if (v.kind == MilterVerdict::Kind::Reject || v.kind == MilterVerdict::Kind::Tempfail) {
                   milter_log("reject", "MAIL", v.why);
                   mail_.reset();
                   return milter_refuse(v.reply);
                 }
                 send(reply(250, "2.1.0", "Ok"));
               });
}

void Session::cmd_rcpt(std::string_view arg) {
  const Settings& s = server_.settings();
  if (!mail_) return send(reply(503, "5.5.1", "Error: need MAIL command"));
  if (bdat_started_) return send(reply(503, "5.5.1", "Error: RCPT after BDAT"));
  if (s.recipient_limit > 0 && static_cast<int>(rcpts_.size()) >= s.recipient_limit)
    return send(reply(452, "4.5.3", "Error: too many recipients"));
  auto t = smtp::parse_rcpt_to(arg, mail_->smtputf8);
  if (!t) return send(t.error());
  milter_rcpt_arg_ = std::string(arg);
  check_event_limits(ipc::AnvilEvent::Recipient, ipc::AnvilEvent::UserRecipient, [this, rt = std::move(t.value())](const Reply& over) {
    if (!over.empty()) {
      reject_log("RCPT", over, rt.path.address);
      return send(over);
    }
    run_rcpt_checks(rt.path, false, [this, rt](const Reply& r) { rcpt_checked(rt, r); });
  });
}

// The restriction lists (smtpd_delay_reject), the access maps, the relay and recipient
// restrictions and the recipient tables have spoken (Policy::check_rcpt).
void Session::rcpt_checked(const smtp::RcptTo& t, const Reply& r) {
  if (!r.empty()) {
    reject_log("RCPT", r, t.path.address);
    return send(r);
  }
  Rcpt rc;
  rc.address = t.path.domain.empty() ? t.path.address + "@" + server_.settings().myhostname : t.path.address;
  rc.orcpt = t.orcpt;
  rc.notify = t.notify;
  if (!milters_) {
    rcpts_.push_back(std::move(rc));
    return send(reply(250, "2.1.5", "Ok"));
  }
  milter_rcpt_addr_ = rc.address;
  milter_stage([this](MilterSession::Done done) { milters_->rcpt(milter_args(milter_rcpt_arg_), std::move(done)); },
               [this, rc](const MilterVerdict& v) {
                 milter_rcpt_addr_.clear();
                 if (v.kind == MilterVerdict::Kind::Reject || v.kind == MilterVerdict::Kind::Tempfail) {
                   milter_log("reject", "RCPT", v.why, rc.address);
                   return milter_refuse(v.reply);
                 }
                 rcpts_.push_back(rc);
                 send(reply(250, "2.1.5", "Ok"));
               });
}

void Session::cmd_rset(std::string_view) {
  reset_transaction();
  send(reply(250, "2.0.0", "Ok"));
  junk_command();
}

void Session::cmd_noop(std::string_view) {
  send(reply(250, "2.0.0", "Ok"));
  junk_command();
}

void Session::cmd_quit(std::string_view) { close_after_reply(reply(221, "2.0.0", "Bye")); }

// Off (the default): 252, which tells an address harvester nothing. On: the answer
// RCPT would give - the same policy check, so VRFY reveals no more than RCPT does.
void Session::cmd_vrfy(std::string_view arg) {
  junk_command();
  const Settings& s = server_.settings();
  if (!s.vrfy_enabled)
    return send(reply(252, "2.0.0", "Cannot VRFY user, but will accept message and attempt delivery"));
  if (arg.empty()) return send(reply(501, "5.5.4", "Syntax: VRFY address"));
  // "user", "user@domain", "<user@domain>" or "Name <user@domain>" (RFC 5321 3.5.3).
  std::string_view text = arg;
  if (auto lt = text.rfind('<'); lt != std::string_view::npos) text.remove_prefix(lt);
  std::string path = text.front() == '<' ? std::string(text) : "<" + std::string(text) + ">";
  auto t = smtp::parse_rcpt_to(path, true);
  if (!t) return send(t.error());
  std::string addr = t->path.domain.empty() ? t->path.address + "@" + s.myhostname : t->path.address;
  run_rcpt_checks(t->path, true, [this, path = t->path, addr](const Reply& r) {
    if (!r.empty()) {
      reject_log("VRFY", r, path.address);
      return send(r);
    }
    send(reply(250, "2.0.0", "<" + str::printable(addr, 300) + ">"));
  });
}

void Session::cmd_expn(std::string_view) { send(reply(502, "5.5.1", "Error: EXPN command disabled")); }

void Session::cmd_help(std::string_view) {
  send(reply(214, "2.0.0", "Commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS AUTH"));
}

void Session::reject_log(const char* stage, const Reply& r, const std::string& to) {
  std::string line = "NOQUEUE: reject: " + std::string(stage) + " from " + facts_.label() + ": " +
                     r.summary() + ";";
  if (mail_) line += " from=<" + mail_->path.address + ">";
  if (!to.empty()) line += " to=<" + to + ">";
  line += " proto=" + std::string(esmtp_ ? "ESMTP" : "SMTP");
  if (!facts_.helo.empty()) line += " helo=<" + facts_.helo + ">";
  log::info("%s", str::printable(line, 1000).c_str());
  count_reject(stage, r);
}

void Session::count_reject(std::string_view stage, const Reply& r) {
  std::string s = str::lower(stage);
  if (s == "end-of-message") s = "data";
  ipc::metric("postilion_smtpd_rejects_total",
              {{"service", server_.service_name()}, {"stage", s}, {"code", r.code >= 500 ? "5xx" : "4xx"}});
}

// ---- STARTTLS ----------------------------------------------------------------------
void Session::cmd_starttls(std::string_view) {
  if (!server_.tls() || server_.settings().tls_security_level == "none")
    return send(reply(502, "5.5.1", "Error: command not implemented"));
  if (tls_) return send(reply(554, "5.5.1", "Error: TLS already active"));
  if (mail_) return send(reply(503, "5.5.1", "Error: MAIL transaction in progress"));
  // RFC 3207 4.2: anything the client pipelined after STARTTLS is discarded, so a
  // man in the middle cannot inject commands that seem to come over TLS.
  in_pos_ = in_.size();
  evbuffer_drain(bev_.input(), evbuffer_get_length(bev_.input()));
  lines_ = smtp::LineReader(command_line_limit(server_.settings()));
  out_ += reply(220, "2.0.0", "Ready to start TLS").wire();
  state_ = State::TlsSwitch;
  bev_.disable(EV_READ);
}

void Session::switch_to_tls() {
  int fd = bev_.fd();
  int copy = fd >= 0 ? ::dup(fd) : -1;
  if (copy < 0) {
    finish("dup");
    return;
  }
  auto bev = tls::socket_bufferevent(server_.base().get(), copy, *server_.tls());
  if (!bev) {
    UniqueFd close_it(copy);
    log::warn("STARTTLS for %s: %s", facts_.label().c_str(), bev.error().c_str());
    finish("tls");
    return;
  }
  // The plain bufferevent goes (closing its descriptor); the TLS one owns the copy.
  bev_ = event::BufferEvent::adopt(bev->release());
  bev_.set_callbacks([this] { on_read(); }, [this] { on_write(); }, [this](short w) { on_event(w); });
  int ms = static_cast<int>(server_.settings().timeout_s * 1000);
  bev_.set_timeouts(ms, ms);
  bev_.set_read_high_water(kReadHighWater);
  bev_.enable(EV_READ | EV_WRITE);
  tls_ = true;
  // The client starts over: EHLO again, no knowledge from before (RFC 3207 4.2).
  got_helo_ = false;
  esmtp_ = false;
  facts_.helo.clear();
  reset_transaction();
  state_ = State::Ready;
}

void Session::tls_established() {
  tls_info_ = tls::info(tls::bufferevent_ssl(bev_.get()));
  ipc::metric("postilion_tls_handshakes_total", {{"service", server_.service_name()}, {"result", "ok"}});
  log::info("Anonymous TLS connection established from %s: %s", facts_.label().c_str(),
            tls_info_.log_text().c_str());
}

// ---- AUTH --------------------------------------------------------------------------
void Session::cmd_auth(std::string_view arg) {
  const Settings& s = server_.settings();
  if (!s.sasl_auth_enable) return send(reply(503, "5.5.1", "Error: authentication not enabled"));
  if (!got_helo_ || !esmtp_) return send(reply(503, "5.5.1", "Error: send EHLO first"));
  if (!tls_)
    return send(reply(538, "5.7.11", "Encryption required for requested authentication mechanism"));
  if (facts_.authenticated) return send(reply(503, "5.5.1", "Error: already authenticated"));
  if (mail_) return send(reply(503, "5.5.1", "Error: MAIL transaction in progress"));
  auto a = smtp::parse_auth(arg);
  if (!a) return send(a.error());
  if (a->mechanism != "PLAIN" && a->mechanism != "LOGIN")
    return send(reply(504, "5.5.4", "Unrecognized authentication type"));
  check_event_limit(ipc::AnvilEvent::Auth, [this, auth = std::move(a.value())](const Reply& over) {
    if (!over.empty()) {
      reject_log("AUTH", over);
      return send(over);
    }
    sasl_method_ = auth.mechanism;
    auth_step_ = 0;
    state_ = State::AuthLine;
    if (auth.initial) {
      auth_line(*auth.initial);
      return;
    }
    send(reply(334, "", sasl_method_ == "PLAIN" ? "" : "VXNlcm5hbWU6"));  // "Username:"
  });
}

void Session::auth_line(std::string_view line) {
  if (line == "*") {
    state_ = State::Ready;
    return send(reply(501, "5.7.0", "Authentication aborted"));
  }
  std::optional<std::string> decoded = line == "=" ? std::optional<std::string>("")
                                                    : str::base64_decode(line);
  if (!decoded) {
    state_ = State::Ready;
    return send(reply(501, "5.5.2", "Error: cannot decode response"));
  }
  if (sasl_method_ == "PLAIN") {
    auto c = smtp::parse_sasl_plain(*decoded);
    if (!c || (!c->authzid.empty() && c->authzid != c->user)) {
      state_ = State::Ready;
      log::warn("%s: SASL PLAIN authentication failed: malformed response", facts_.label().c_str());
      return send(reply(535, "5.7.8", "Error: authentication failed"));
    }
    return auth_check(c->user, c->password);
  }
  if (auth_step_ == 0) {
    auth_user_pending_ = *decoded;
    auth_step_ = 1;
    return send(reply(334, "", "UGFzc3dvcmQ6"));  // "Password:"
  }
  std::string user = std::move(auth_user_pending_);
  auth_user_pending_.clear();
  auth_check(user, *decoded);
}

void Session::auth_check(const std::string& user, const std::string& password) {
  if (user.empty() || password.empty() || user.size() > 255 || password.size() > 1024 ||
      user.find_first_of(std::string("\0\r\n", 3)) != std::string::npos) {
    state_ = State::Ready;
    log::warn("%s: SASL %s authentication failed: bad user name or password", facts_.label().c_str(),
              sasl_method_.c_str());
    return send(reply(535, "5.7.8", "Error: authentication failed"));
  }
  state_ = State::AuthWait;
  suspend();
  auth_user_pending_ = user;
  std::string path = file::join(server_.settings().queue_directory, ipc::proto::kAuthSocket);
  int ms = static_cast<int>(server_.settings().auth_timeout_s * 1000);
  auto ch = ipc::Channel::connect(server_.base(), path, 65536, ms);
  if (!ch) {
    log::warn("%s: SASL %s: auth service: %s", facts_.label().c_str(), sasl_method_.c_str(),
              ch.error().c_str());
    auth_done("tempfail", "");
    return;
  }
  auth_channel_ = std::move(ch.value());
  auth_channel_->on_message([this](ipc::Message&& m) {
    auto st = m.get("status");
    std::string text(m.get_or("text", ""));
    auth_channel_->shutdown();
    server_.base().defer_delete(std::move(auth_channel_));
    if (!st || (*st != "ok" && *st != "fail" && *st != "tempfail")) {
      log::warn("auth service: malformed reply (no valid status)");
      return auth_done("tempfail", "");
    }
    auth_done(std::string(*st), text);
  });
  auth_channel_->on_close([this](const std::string& reason) {
    log::warn("auth service: %s", reason.c_str());
    server_.base().defer_delete(std::move(auth_channel_));
    auth_done("tempfail", "");
  });
  auth_channel_->start();
  ipc::Message req;
  req.set("cmd", "auth").set("service", "smtpd").set("user", user).set("password", password)
      .set("client", facts_.ip);
  auth_channel_->send(req);
}

void Session::auth_done(const std::string& status, const std::string& text) {
  if (state_ != State::AuthWait) return;
  state_ = State::Ready;
  std::string user = std::move(auth_user_pending_);
  auth_user_pending_.clear();
  if (status == "ok") {
    facts_.authenticated = true;
    facts_.sasl_user = user;
    sasl_user_ = user;
    log::info("%s: sasl_method=%s, sasl_username=%s", facts_.label().c_str(), sasl_method_.c_str(),
              str::printable(user, 255).c_str());
    send(reply(235, "2.7.0", "Authentication successful"));
  } else if (status == "fail") {
    log::warn("%s: SASL %s authentication failed: %s", facts_.label().c_str(), sasl_method_.c_str(),
              text.empty() ? "authentication failure" : str::printable(text, 200).c_str());
    send(reply(535, "5.7.8", "Error: authentication failed"));
  } else {
    send(reply(454, "4.7.0", "Temporary authentication failure"));
  }
  resume();
}

}  // namespace postilion::smtpd
