// smtp/session.cc - the SMTP conversation of the relay client with one server.
#include "smtp/session.h"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <cerrno>

#include "lib/base/strings.h"
#include "lib/log/log.h"

namespace postilion::smtp_client {

std::string Peer::label() const {
  std::string a = address.find(':') != std::string::npos ? "ipv6:" + address : address;
  return host + "[" + a + "]:" + std::to_string(port);
}

std::string reply_dsn(const smtp::Reply& r) {
  if (!r.status.empty()) return r.status;
  return std::to_string(r.code / 100) + ".0.0";
}

bool has_8bit(std::string_view s) {
  for (unsigned char c : s)
    if (c & 0x80) return true;
  return false;
}

std::string data_payload(std::string_view content) {
  std::string out;
  out.reserve(content.size() + content.size() / 40 + 8);
  DotStuffer d;
  d.add(content, &out);
  d.finish(&out);
  return out;
}

namespace {

// Header section and body, split at the first empty line (LF or CRLF).
bool split_message(std::string_view m, std::string_view* head, std::string_view* body) {
  size_t p = 0;
  while (p < m.size()) {
    size_t nl = m.find('\n', p);
    if (nl == std::string_view::npos) break;
    std::string_view line = m.substr(p, nl - p);
    if (line.empty() || line == "\r") {
      *head = m.substr(0, p);
      *body = m.substr(nl + 1);
      return true;
    }
    p = nl + 1;
  }
  *head = m;
  *body = {};
  return false;
}

std::string qp_encode(std::string_view body) {
  static const char hexd[] = "0123456789ABCDEF";
  std::string out;
  size_t start = 0;
  while (start <= body.size()) {
    size_t nl = body.find('\n', start);
    std::string_view line = body.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    size_t col = 0;
    for (size_t i = 0; i < line.size(); ++i) {
      unsigned char c = static_cast<unsigned char>(line[i]);
      bool last = i + 1 == line.size();
      std::string enc;
      if ((c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !last))
        enc = std::string(1, static_cast<char>(c));
      else
        enc = std::string{'=', hexd[c >> 4], hexd[c & 15]};
      if (col + enc.size() > 75) {
        out += "=\r\n";
        col = 0;
      }
      out += enc;
      col += enc.size();
    }
    if (nl == std::string_view::npos) break;
    out += "\r\n";
    start = nl + 1;
  }
  return out;
}

std::string xtext(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c < 33 || c > 126 || c == '+' || c == '=')
      out += str::format("+%02X", c);
    else
      out += static_cast<char>(c);
  }
  return out;
}

}  // namespace

std::optional<std::string> downgrade_8bit(std::string_view content) {
  std::string_view head, body;
  split_message(content, &head, &body);
  if (has_8bit(head)) return std::nullopt;  // 8-bit headers need SMTPUTF8, not 8BITMIME
  // Unfold and look at the MIME headers we must rewrite.
  std::string out;
  size_t p = 0;
  bool skip_cont = false;
  while (p < head.size()) {
    size_t nl = head.find('\n', p);
    std::string_view line = head.substr(p, nl == std::string_view::npos ? std::string_view::npos : nl + 1 - p);
    p = nl == std::string_view::npos ? head.size() : nl + 1;
    bool cont = !line.empty() && (line[0] == ' ' || line[0] == '\t');
    if (cont && skip_cont) continue;
    skip_cont = false;
    if (!cont && str::istarts_with(line, "content-type:")) {
      std::string v = str::lower(line.substr(13));
      if (v.find("multipart/") != std::string::npos || v.find("message/") != std::string::npos)
        return std::nullopt;
    }
    if (!cont && str::istarts_with(line, "content-transfer-encoding:")) {
      skip_cont = true;
      continue;
    }
    out.append(line);
  }
  if (!out.empty() && out.back() != '\n') out += "\r\n";
  if (content.find("\nMIME-Version:") == std::string_view::npos &&
      !str::istarts_with(content, "mime-version:") &&
      str::lower(std::string(head)).find("\nmime-version:") == std::string::npos)
    out += "MIME-Version: 1.0\r\n";
  out += "Content-Transfer-Encoding: quoted-printable\r\n\r\n";
  out += qp_encode(body);
  return out;
}

Session::~Session() {
  conn_.close();
  // One line per connection that carried mail: shows how well connections are reused.
  if (messages_) log::info("disconnect from %s messages=%u", peer_.label().c_str(), messages_);
}

Status Session::send_line(const std::string& line, int timeout_ms) {
  auto st = conn_.write(line + "\r\n", timeout_ms);
  if (!st) broken_ = true;
  return st;
}

Result<smtp::Reply> Session::read_reply(int timeout_ms, const char* state) {
  int64_t deadline = mono_ms() + timeout_ms;
  for (;;) {
    smtp::Reply r;
    std::string why;
    auto st = parser_.next(&r, &why);
    if (st == ReplyParser::Status::Ready) {
      last_used_ms_ = mono_ms();
      return r;
    }
    if (st == ReplyParser::Status::Error) {
      broken_ = true;
      return Error(str::format("host %s sent a malformed reply while %s: %s", peer_.label().c_str(), state,
                               why.c_str()));
    }
    int64_t left = deadline - mono_ms();
    char buf[8192];
    auto n = left > 0 ? conn_.read(buf, sizeof buf, static_cast<int>(left)) : Result<size_t>(Error("timeout", ETIMEDOUT));
    if (!n) {
      broken_ = true;
      if (n.error().code() == ETIMEDOUT)
        return Error(str::format("conversation with %s timed out while %s", peer_.label().c_str(), state));
      return Error(str::format("lost connection with %s while %s: %s", peer_.label().c_str(), state,
                               n.error().c_str()));
    }
    if (*n == 0) {
      broken_ = true;
      return Error(str::format("lost connection with %s while %s", peer_.label().c_str(), state));
    }
    parser_.feed(std::string_view(buf, *n));
  }
}

std::string Session::said(const smtp::Reply& r, const char* in_reply_to) const {
  std::string text;
  for (const auto& l : r.lines) text += (text.empty() ? "" : " ") + l;
  return str::format("host %s said: %d%s%s %s (in reply to %s command)", peer_.label().c_str(), r.code,
                     r.status.empty() ? "" : " ", r.status.c_str(), str::printable(text, 400).c_str(),
                     in_reply_to);
}

Status Session::ehlo(std::string* err) {
  if (!send_line("EHLO " + settings_.helo_name, settings_.helo_timeout_ms)) {
    *err = "lost connection with " + peer_.label() + " while sending EHLO";
    return Error(*err);
  }
  auto r = read_reply(settings_.helo_timeout_ms, "receiving the EHLO reply");
  if (!r) return *err = r.error().str(), r.error();
  if (r->positive()) {
    caps_ = parse_ehlo(*r);
    return {};
  }
  // No ESMTP: plain HELO, no extensions (RFC 5321 3.2).
  if (!send_line("HELO " + settings_.helo_name, settings_.helo_timeout_ms)) {
    *err = "lost connection with " + peer_.label() + " while sending HELO";
    return Error(*err);
  }
  auto h = read_reply(settings_.helo_timeout_ms, "receiving the HELO reply");
  if (!h) return *err = h.error().str(), h.error();
  if (!h->positive()) {
    *err = said(*h, "HELO");
    Error e(*err);
    if (h->permanent()) e.set_permanent();
    return e;
  }
  caps_ = Capabilities{};
  return {};
}

Status Session::starttls(const tls::Context* ctx, std::string* err) {
  if (!ctx || !ctx->valid()) return *err = "TLS is not available (no client context)", Error(*err);
  if (!send_line("STARTTLS", settings_.helo_timeout_ms)) return *err = "lost connection with " + peer_.label(), Error(*err);
  auto r = read_reply(settings_.helo_timeout_ms, "receiving the STARTTLS reply");
  if (!r) return *err = r.error().str(), r.error();
  if (r->code != 220) return *err = said(*r, "STARTTLS"), Error(*err);
  // Anything the server sent after its 220 was sent in the clear: refuse it (RFC 3207 5).
  if (parser_.has_pending()) {
    broken_ = true;
    return *err = "host " + peer_.label() + " sent data after the STARTTLS reply", Error(*err);
  }
  auto ssl = tls::new_ssl(*ctx, peer_.host);
  if (!ssl) return *err = "TLS setup: " + ssl.error().str(), Error(*err);
  SSL* s = ssl->get();
  if (peer_.tls == TlsLevel::Dane && !peer_.tlsa.empty()) {
    if (SSL_dane_enable(s, peer_.host.c_str()) <= 0) return *err = "DANE setup: " + tls::last_error(), Error(*err);
    // RFC 7672 3.2.2: names in a DANE-EE certificate are not checked.
    SSL_dane_set_flags(s, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
    int usable = 0;
    for (const auto& t : peer_.tlsa) {
      int r2 = SSL_dane_tlsa_add(s, t.usage, t.selector, t.mtype,
                                 reinterpret_cast<const unsigned char*>(t.data.data()), t.data.size());
      if (r2 > 0) ++usable;
    }
    if (usable == 0) return *err = "no usable TLSA records for " + peer_.host, Error(*err);
    SSL_set_verify(s, SSL_VERIFY_PEER, nullptr);
  } else if (peer_.tls == TlsLevel::Verify || peer_.tls == TlsLevel::Secure) {
    SSL_set_hostflags(s, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    SSL_set1_host(s, peer_.host.c_str());
    if (peer_.tls == TlsLevel::Secure && !peer_.nexthop.empty()) SSL_add1_host(s, peer_.nexthop.c_str());
    SSL_set_verify(s, SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_set_verify(s, SSL_VERIFY_NONE, nullptr);
  }
  if (auto st = conn_.start_tls(std::move(*ssl), settings_.helo_timeout_ms); !st) {
    broken_ = true;
    return *err = str::format("TLS with %s failed: %s", peer_.label().c_str(), st.error().c_str()), st.error();
  }
  auto info = tls::info(conn_.ssl());
  bool verified = SSL_get_verify_result(conn_.ssl()) == X509_V_OK &&
                  (peer_.tls == TlsLevel::Verify || peer_.tls == TlsLevel::Secure ||
                   (peer_.tls == TlsLevel::Dane && !peer_.tlsa.empty()));
  const char* trust = !verified ? "Anonymous" : peer_.tls == TlsLevel::Dane ? "Verified (DANE)" : "Verified";
  tls_summary_ = str::format("%s TLS connection established to %s: %s", trust, peer_.label().c_str(),
                             info.log_text().c_str());
  return {};
}

Status Session::auth(std::string* err) {
  std::string mech = caps_.has_auth("PLAIN") ? "PLAIN" : caps_.has_auth("LOGIN") ? "LOGIN" : "";
  if (mech.empty()) return {};  // nothing we can speak: go on without (as Postfix does)
  Result<smtp::Reply> r = Error("");
  if (mech == "PLAIN") {
    std::string resp = str::base64_encode(std::string(1, '\0') + peer_.sasl_user + '\0' + peer_.sasl_password);
    if (!send_line("AUTH PLAIN " + resp, settings_.helo_timeout_ms)) return *err = "lost connection with " + peer_.label(), Error(*err);
    r = read_reply(settings_.helo_timeout_ms, "authenticating");
  } else {
    if (!send_line("AUTH LOGIN", settings_.helo_timeout_ms)) return *err = "lost connection with " + peer_.label(), Error(*err);
    r = read_reply(settings_.helo_timeout_ms, "authenticating");
    for (const std::string* v : {&peer_.sasl_user, &peer_.sasl_password}) {
      if (!r || r->code != 334) break;
      if (!send_line(str::base64_encode(*v), settings_.helo_timeout_ms)) return *err = "lost connection with " + peer_.label(), Error(*err);
      r = read_reply(settings_.helo_timeout_ms, "authenticating");
    }
  }
  if (!r) return *err = r.error().str(), r.error();
  if (r->code != 235) {
    std::string text;
    for (const auto& l : r->lines) text += (text.empty() ? "" : " ") + l;
    *err = str::format("SASL authentication failed; server %s said: %d %s", peer_.label().c_str(), r->code,
                       str::printable(text, 300).c_str());
    return Error(*err);
  }
  authenticated_ = true;
  return {};
}

std::string mail_auth_param(const Capabilities& caps, bool authenticated, const std::string& auth) {
  if (caps.auth.empty()) return "";
  if (!authenticated || auth.empty() || auth == "<>") return " AUTH=<>";
  return " AUTH=" + xtext(auth);
}

Result<std::unique_ptr<Session>> Session::open(const Peer& peer, const SessionSettings& s,
                                               const tls::Context* tls_ctx) {
  std::unique_ptr<Session> se(new Session(peer, s));
  auto c = Conn::connect(peer.address, peer.port, s.bind_address, s.connect_timeout_ms);
  if (!c) return Error("connect to " + peer.label() + ": " + c.error().str());
  se->conn_ = std::move(*c);
  auto g = se->read_reply(s.helo_timeout_ms, "receiving the initial server greeting");
  if (!g) return g.error();
  if (!g->positive()) {
    std::string text;
    for (const auto& l : g->lines) text += (text.empty() ? "" : " ") + l;
    Error e(str::format("host %s refused to talk to me: %d %s", peer.label().c_str(), g->code,
                        str::printable(text, 300).c_str()));
    se->quit();
    if (g->permanent() && !s.skip_5xx_greeting) e.set_permanent();
    return e;
  }
  std::string err;
  if (auto st = se->ehlo(&err); !st) return Error(err);
  TlsLevel level = peer.tls;
  if (level == TlsLevel::Dane && peer.tlsa.empty()) level = TlsLevel::May;  // no secure TLSA: opportunistic
  if (level != TlsLevel::None) {
    if (se->caps_.starttls) {
      if (auto st = se->starttls(tls_ctx, &err); !st) {
        // A refused STARTTLS at "may" is not worth failing over: go on in the clear.
        if (level == TlsLevel::May && se->usable() && !se->tls_active()) {
          log::info("%s", err.c_str());
        } else {
          se->quit();
          // EPROTO marks a failed TLS handshake: at "may" the caller retries in the clear.
          return Error(err, se->usable() ? 0 : EPROTO);
        }
      } else if (auto st2 = se->ehlo(&err); !st2) {
        return Error(err);
      }
    } else if (level != TlsLevel::May) {
      se->quit();
      return Error("TLS is required, but was not offered by host " + peer.label());
    }
  }
  if (!peer.sasl_user.empty() && !se->caps_.auth.empty()) {
    if (auto st = se->auth(&err); !st) {
      se->quit();
      return Error(err);
    }
  }
  return se;
}

// One message's transaction on this session: the recipients still to do, those the
// server accepted, and where a site or local error's reason goes.
struct Session::Transaction {
  std::vector<RcptJob*> todo;
  std::vector<RcptJob*> accepted;
  std::string* site_error;

  // The whole message bounces for every recipient of the transaction.
  SendResult bounce_all(const std::string& dsn, const std::string& text) {
    for (auto* r : todo) {
      r->fate = RcptFate::Bounced;
      r->dsn = dsn;
      r->text = text;
    }
    return SendResult::Done;
  }
  // A site or local error: the recipients still pending carry why.
  SendResult fail(SendResult kind, const std::string& why) {
    *site_error = why;
    for (auto* r : todo)
      if (r->fate == RcptFate::Pending) r->text = why;
    return kind;
  }
  SendResult site(const std::string& why) { return fail(SendResult::SiteError, why); }
  SendResult local(const std::string& why) { return fail(SendResult::LocalError, why); }
  // The server's final word on the accepted recipients.
  SendResult settle_accepted(RcptFate fate, const std::string& dsn, const std::string& text) {
    for (auto* r : accepted) {
      r->fate = fate;
      r->dsn = dsn;
      r->text = text;
    }
    return SendResult::Done;
  }
};

SendResult Session::send(const MessageJob& m, std::vector<RcptJob*>& rcpts, std::string* site_error) {
  Transaction t{{}, {}, site_error};
  for (auto* r : rcpts)
    if (r->fate == RcptFate::Pending) {
      r->relay = peer_.label();
      t.todo.push_back(r);
    }
  if (t.todo.empty()) return SendResult::Done;
  // The message is read from the queue file piece by piece; only a message that must
  // be converted to 7 bits is held whole (the converted copy).
  const Content* content = &m.content;
  Content converted;
  bool eightbit = m.eightbit;
  if (auto stop = fit_content(m, t, &content, &converted, &eightbit)) return *stop;
  std::vector<std::string> rcpt_lines;
  for (auto* r : t.todo) rcpt_lines.push_back(rcpt_command(*r));
  if (auto stop = write_envelope(mail_command(m, *content, eightbit), rcpt_lines, t)) return *stop;
  if (auto stop = read_envelope_replies(rcpt_lines, t)) return *stop;
  if (auto stop = send_content(*content, t)) return *stop;
  return end_of_data(t);
}

std::optional<SendResult> Session::fit_content(const MessageJob& m, Transaction& t, const Content** content,
                                               Content* converted, bool* eightbit) {
  if (!*eightbit) {
    auto e = (*content)->has_8bit();
    if (!e) return t.local(e.error().str());
    *eightbit = *e;
  }
  if (m.smtputf8 && !caps_.smtputf8)
    return t.bounce_all("5.6.7", "SMTPUTF8 is required, but was not offered by host " + peer_.label());
  if (*eightbit && !caps_.eightbitmime) {
    auto whole = (*content)->load();
    if (!whole) return t.local(whole.error().str());
    auto d = downgrade_8bit(*whole);
    if (!d)
      return t.bounce_all("5.6.3", "message has 8-bit content that cannot be converted to 7 bits, and host " +
                                       peer_.label() + " does not support 8BITMIME");
    *converted = Content(std::move(*d));
    *content = converted;
    *eightbit = false;
  }
  uint64_t size = (*content)->size();
  if (caps_.size && caps_.size_limit && size > caps_.size_limit)
    return t.bounce_all("5.3.4", str::format("message size %llu exceeds size limit %llu of server %s",
                                             static_cast<unsigned long long>(size),
                                             static_cast<unsigned long long>(caps_.size_limit), peer_.label().c_str()));
  return std::nullopt;
}

std::string Session::mail_command(const MessageJob& m, const Content& content, bool eightbit) const {
  std::string mail = "MAIL FROM:<" + m.sender + ">";
  if (caps_.size) mail += " SIZE=" + std::to_string(content.size());
  if (eightbit && caps_.eightbitmime) mail += " BODY=8BITMIME";
  if (m.smtputf8) mail += " SMTPUTF8";
  if (caps_.dsn) {
    if (!m.ret.empty()) mail += " RET=" + m.ret;
    if (!m.envid.empty()) mail += " ENVID=" + xtext(m.envid);
  }
  return mail + mail_auth_param(caps_, authenticated_, m.auth);
}

std::string Session::rcpt_command(const RcptJob& r) const {
  std::string l = "RCPT TO:<" + r.address + ">";
  if (caps_.dsn && !r.orcpt.empty()) {
    size_t semi = r.orcpt.find(';');
    if (semi != std::string::npos) l += " ORCPT=" + r.orcpt.substr(0, semi + 1) + xtext(r.orcpt.substr(semi + 1));
  }
  return l;
}

std::optional<SendResult> Session::write_envelope(const std::string& mail, const std::vector<std::string>& rcpt_lines,
                                                  Transaction& t) {
  int tmo = settings_.command_timeout_ms;
  if (!caps_.pipelining) {
    if (!send_line(mail, tmo)) return t.site("lost connection with " + peer_.label() + " while sending MAIL FROM");
    return std::nullopt;
  }
  // With PIPELINING, MAIL, every RCPT and DATA go out in one write (RFC 2920).
  // On a reused connection the RSET that checks it leads the group (prepare_reuse):
  // one round trip per message instead of two.
  std::string batch = rset_pending_ ? "RSET\r\n" : "";
  batch += mail + "\r\n";
  for (auto& l : rcpt_lines) batch += l + "\r\n";
  batch += "DATA\r\n";
  if (auto st = conn_.write(batch, tmo); !st) {
    broken_ = true;
    return t.site("lost connection with " + peer_.label() + " while sending MAIL FROM");
  }
  if (rset_pending_) {
    rset_pending_ = false;
    auto rr = read_reply(tmo, "receiving the RSET reply");
    if (!rr) return t.site(rr.error().str());
    if (!rr->positive()) {
      broken_ = true;  // the state of the rest of the group is unknown: never reuse
      return t.site(said(*rr, "RSET"));
    }
  }
  return std::nullopt;
}

std::optional<SendResult> Session::read_envelope_replies(const std::vector<std::string>& rcpt_lines, Transaction& t) {
  int tmo = settings_.command_timeout_ms;
  auto mr = read_reply(tmo, "receiving the MAIL FROM reply");
  if (!mr) return t.site(mr.error().str());
  bool mail_ok = mr->positive();
  for (size_t i = 0; i < t.todo.size(); ++i) {
    if (!caps_.pipelining) {
      if (!mail_ok) break;
      if (!send_line(rcpt_lines[i], tmo)) return t.site("lost connection with " + peer_.label() + " while sending RCPT TO");
    }
    auto rr = read_reply(tmo, "receiving the RCPT TO reply");
    if (!rr) return t.site(rr.error().str());
    if (!mail_ok) continue;  // pipelined replies after a refused MAIL: read, ignore
    RcptJob* r = t.todo[i];
    if (rr->positive()) {
      t.accepted.push_back(r);
    } else {
      r->dsn = reply_dsn(*rr);
      r->text = said(*rr, "RCPT TO");
      if (rr->permanent()) r->fate = RcptFate::Bounced;  // 4xx: stays Pending, may try elsewhere
    }
  }
  Result<smtp::Reply> dr = Error("");
  if (caps_.pipelining) {
    dr = read_reply(tmo, "receiving the DATA reply");
    if (!dr) return t.site(dr.error().str());
  }
  if (!mail_ok) {
    std::string why = said(*mr, "MAIL FROM");
    if (mr->permanent()) return t.bounce_all(reply_dsn(*mr), why);
    return t.site(why);
  }
  return start_data(caps_.pipelining ? &*dr : nullptr, t);
}

std::optional<SendResult> Session::start_data(const smtp::Reply* pipelined_data_reply, Transaction& t) {
  int tmo = settings_.command_timeout_ms;
  if (t.accepted.empty()) {
    // Nothing to send; a pipelined DATA was refused (503/554) as it should be.
    if (pipelined_data_reply && pipelined_data_reply->code == 354) {
      // A server that accepted DATA with no recipient: end the empty message cleanly.
      (void)conn_.write(".\r\n", tmo);
      (void)read_reply(settings_.data_done_timeout_ms, "receiving the end of data reply");
    }
    return SendResult::Done;
  }
  smtp::Reply dr;
  if (pipelined_data_reply) {
    dr = *pipelined_data_reply;
  } else {
    if (!send_line("DATA", tmo)) return t.site("lost connection with " + peer_.label() + " while sending DATA");
    auto r = read_reply(tmo, "receiving the DATA reply");
    if (!r) return t.site(r.error().str());
    dr = std::move(*r);
  }
  if (dr.code == 354) return std::nullopt;
  std::string why = said(dr, "DATA");
  if (dr.permanent()) return t.settle_accepted(RcptFate::Bounced, reply_dsn(dr), why);
  return t.site(why);
}

std::optional<SendResult> Session::send_content(const Content& content, Transaction& t) {
  // Streamed: each piece read from the queue file is stuffed into a bounded buffer that
  // goes out when full; the whole transfer has one deadline.
  int64_t deadline = mono_ms() + settings_.data_done_timeout_ms;
  auto left = [&] { return static_cast<int>(std::max<int64_t>(1, deadline - mono_ms())); };
  std::string out;
  out.reserve(Content::kPiece + Content::kPiece / 8);
  DotStuffer stuffer;
  bool peer_failed = false;
  auto st = content.each([&](std::string_view piece) -> Status {
    stuffer.add(piece, &out);
    if (out.size() < Content::kPiece) return {};
    auto w = conn_.write(out, left());
    out.clear();
    if (!w) peer_failed = true;
    return w;
  });
  if (st) {
    stuffer.finish(&out);
    st = conn_.write(out, left());
    if (!st) peer_failed = true;
  }
  if (st) return std::nullopt;
  // Never end a message we could not read whole: drop the connection instead.
  broken_ = true;
  conn_.close();
  if (!peer_failed) return t.local(st.error().str());
  if (st.error().code() == ETIMEDOUT)  // a server that stopped reading
    return t.site("conversation with " + peer_.label() + " timed out while sending message content");
  return t.site("lost connection with " + peer_.label() + " while sending message content");
}

SendResult Session::end_of_data(Transaction& t) {
  auto er = read_reply(settings_.data_done_timeout_ms, "receiving the end of data reply");
  if (!er) return t.site(er.error().str());
  if (er->positive()) {
    ++messages_;
    std::string text;
    for (const auto& l : er->lines) text += (text.empty() ? "" : " ") + l;
    return t.settle_accepted(RcptFate::Sent, reply_dsn(*er),
                             str::format("%d %s%s%s", er->code, er->status.c_str(), er->status.empty() ? "" : " ",
                                         str::printable(text, 300).c_str()));
  }
  std::string why = said(*er, "end of DATA");
  if (er->permanent()) return t.settle_accepted(RcptFate::Bounced, reply_dsn(*er), why);
  return t.site(why);
}

bool Session::prepare_reuse() {
  if (!usable()) return false;
  if (caps_.pipelining) {
    rset_pending_ = true;
    return true;
  }
  return reset();
}

bool Session::reset() {
  if (!usable()) return false;
  if (!send_line("RSET", settings_.command_timeout_ms)) return false;
  auto r = read_reply(settings_.command_timeout_ms, "receiving the RSET reply");
  if (!r || !r->positive()) {
    broken_ = true;
    return false;
  }
  return true;
}

void Session::quit() {
  if (usable() && send_line("QUIT", 2000)) (void)read_reply(2000, "receiving the QUIT reply");
  conn_.close();
}

}  // namespace postilion::smtp_client
