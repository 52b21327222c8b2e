// imapd/login.cc - the not-authenticated state and, after login, the byte relay.
#include "imapd/login.h"

#include <unistd.h>

#include <memory>

#include "lib/base/strings.h"
#include "lib/event/buffer_event.h"
#include "lib/event/event.h"
#include "lib/imap/args.h"
#include "lib/imap/command.h"
#include "lib/imap/response.h"
#include "lib/ipc/message.h"
#include "lib/log/log.h"
#include "lib/service/mail_session.h"
#include "lib/mail/line_reader.h"

namespace postilion::imapd {

std::string capabilities_before_login(bool starttls, bool plaintext) {
  std::string c = "IMAP4rev1 SASL-IR LITERAL+ ID ENABLE IDLE";
  if (starttls) c += " STARTTLS";
  c += plaintext ? " AUTH=PLAIN" : " LOGINDISABLED";
  return c;
}

std::string capabilities_after_login(uint64_t append_limit) {
  return "IMAP4rev1 SASL-IR LITERAL+ ID ENABLE IDLE NAMESPACE UIDPLUS MOVE UNSELECT CHILDREN SPECIAL-USE "
         "MULTIAPPEND APPENDLIMIT=" +
         std::to_string(append_limit);
}

namespace {

constexpr size_t kLoginLiteralLimit = 1024;  // user names and passwords
constexpr size_t kRelayHighWater = 1 << 20;  // stop reading the session beyond this
constexpr int kSessionCallMs = 120000;       // auth delays included
constexpr size_t kMaxUser = 255, kMaxPassword = 1024;

std::string tagged(std::string_view tag, std::string_view status, std::string_view text) {
  return imap::tagged(tag, status, "", text);
}

imap::ReaderLimits limits(const Settings& s) {
  imap::ReaderLimits l;
  l.max_line = s.line_limit;
  l.max_literal = l.max_append_literal = kLoginLiteralLimit;
  l.max_command = 4 * kLoginLiteralLimit + s.line_limit;
  return l;
}

class Login {
 public:
  Login(event::EventBase& base, const Settings& s, const tls::Context* tls, std::string ip, UniqueFd client,
        UniqueFd session)
      : base_(base), s_(s), tls_ctx_(tls), ip_(std::move(ip)), session_(std::move(session)),
        reader_(limits(s)) {
    if (s_.wrappermode && tls_ctx_) {
      int raw = client.release();
      auto bev = tls::socket_bufferevent(base_.get(), raw, *tls_ctx_);
      if (!bev) {
        UniqueFd again(raw);
        log::warn("TLS wrapper mode for [%s]: %s", ip_.c_str(), bev.error().c_str());
        return;
      }
      client_ = event::BufferEvent::adopt(bev->release());
      tls_ = true;
    } else {
      client_ = event::BufferEvent(base_, std::move(client));
    }
  }

  bool start() {
    if (!client_) return false;
    arm_client();
    login_timer_ = event::Timer(base_, [this] { login_timed_out(); });
    login_timer_.start(s_.login_timeout_ms);
    send("* OK [CAPABILITY " + capabilities() + "] Postilion IMAP server ready\r\n");
    return true;
  }

  int status() const { return status_; }

 private:
  enum class State { NotAuthenticated, SaslResponse, TlsSwitch, Handoff, Relay, Closing };

  void arm_client() {
    client_.set_callbacks([this] { on_read(); }, [this] { on_write(); }, [this](short w) { on_event(w); });
    int ms = static_cast<int>(std::min<int64_t>(s_.timeout_ms, 1800000));
    client_.set_timeouts(ms, ms);
    client_.set_read_high_water(64 * 1024);
    client_.enable(EV_READ | EV_WRITE);
  }

  std::string capabilities() const { return capabilities_before_login(tls_ctx_ && !tls_, plaintext_allowed()); }

  void send(const std::string& bytes) { client_.write(bytes); }

  // Ends the connection once everything queued has been written.
  void finish() {
    state_ = State::Closing;
    client_.disable(EV_READ);
    if (client_.output_length() == 0) base_.loopbreak();
  }

  bool plaintext_allowed() const {
    return s_.plaintext_allowed(tls_, ip_);
  }

  void on_event(short what) {
    if (what & BEV_EVENT_CONNECTED) return;  // the TLS handshake is done
    if (what & BEV_EVENT_TIMEOUT) {
      if (state_ != State::Relay) {
        log::info("timeout before login from [%s]", ip_.c_str());
        send("* BYE idle timeout, closing connection\r\n");
        finish();
        client_.set_timeouts(5000, 5000);
        return;
      }
      log::info("timeout from [%s]", ip_.c_str());
    } else if (what & BEV_EVENT_ERROR) {
      if (tls_) log::info("TLS or I/O error from [%s]: %s", ip_.c_str(), tls::last_error().c_str());
    }
    // The client is gone (or silent too long): the session process sees the relay
    // close and ends.
    base_.loopbreak();
  }

  // imapd_login_timeout: the whole not-authenticated state is bounded, not only each
  // silence in it (slow clients holding connections open byte by byte).
  void login_timed_out() {
    if (state_ == State::Handoff || state_ == State::Relay || state_ == State::Closing) return;
    log::info("login timeout from [%s]", ip_.c_str());
    send("* BYE login timeout, closing connection\r\n");
    finish();
    client_.set_timeouts(5000, 5000);
  }

  void on_write() {
    if (state_ == State::Closing && client_.output_length() == 0) {
      base_.loopbreak();
    } else if (state_ == State::TlsSwitch && client_.output_length() == 0) {
      switch_to_tls();
    } else if (state_ == State::Handoff && client_.output_length() == 0) {
      hand_off();
    } else if (state_ == State::Relay && relay_ && client_.output_length() < kRelayHighWater) {
      relay_.enable(EV_READ);
    }
  }

  void on_read() {
    if (state_ == State::Relay) {
      evbuffer_add_buffer(relay_.output(), client_.input());
      return;
    }
    if (state_ == State::Handoff) return;  // left in the buffer for the session process
    if (state_ == State::Closing || state_ == State::TlsSwitch) {
      evbuffer_drain(client_.input(), client_.input_length());
      return;
    }
    in_ += client_.read();
    process();
  }

  void process() {
    while (state_ == State::NotAuthenticated || state_ == State::SaslResponse) {
      size_t used = 0;
      auto st = reader_.feed(in_, &used);
      in_.erase(0, used);
      switch (st) {
        case imap::CommandReader::Status::NeedMore:
          return;
        case imap::CommandReader::Status::Continue:
          send("+ OK\r\n");
          continue;
        case imap::CommandReader::Status::Line: {
          std::string line = reader_.line();
          state_ = State::NotAuthenticated;
          sasl_response(sasl_tag_, line);
          explicit_bzero(line.data(), line.size());
          continue;
        }
        case imap::CommandReader::Status::Error:
          if (state_ == State::SaslResponse) {
            state_ = State::NotAuthenticated;
            error(sasl_tag_, "BAD", "SASL response too long");
            continue;
          }
          send(reader_.error().reply);
          if (reader_.error().fatal) {
            send("* BYE protocol error, closing connection\r\n");
            return finish();
          }
          count_error();
          continue;
        case imap::CommandReader::Status::Command: {
          imap::Command c = reader_.take_command();
          command(c);
          for (auto& a : c.args) explicit_bzero(a.text.data(), a.text.size());
          continue;
        }
      }
    }
  }

  void error(const std::string& tag, const char* kind, const std::string& text) {
    send(tagged(tag, kind, text));
    count_error();
  }

  void count_error() {
    if (++errors_ >= s_.error_limit) {
      send("* BYE too many errors, closing connection\r\n");
      log::warn("too many errors from [%s]", ip_.c_str());
      finish();
    }
  }

  using Handler = void (Login::*)(imap::Command&);
  struct CommandSpec {
    const char* name;
    Handler handler;  // nullptr: a command of the authenticated state
  };
  static const CommandSpec kCommands[];

  void command(imap::Command& c);

  void cmd_capability(imap::Command& c) {
    if (!c.args.empty()) return error(c.tag, "BAD", "CAPABILITY takes no arguments");
    send("* CAPABILITY " + capabilities() + "\r\n");
    send(tagged(c.tag, "OK", "CAPABILITY completed"));
  }

  void cmd_noop(imap::Command& c) { send(tagged(c.tag, "OK", "NOOP completed")); }

  void cmd_logout(imap::Command& c) {
    send("* BYE Postilion IMAP server signing off\r\n");
    send(tagged(c.tag, "OK", "LOGOUT completed"));
    finish();
  }

  void cmd_id(imap::Command& c) {
    send("* ID (\"name\" \"Postilion\")\r\n");
    send(tagged(c.tag, "OK", "ID completed"));
  }

  void cmd_starttls(imap::Command& c) {
    if (!tls_ctx_) return error(c.tag, "NO", "STARTTLS not available (no certificate configured)");
    if (tls_) return error(c.tag, "BAD", "TLS already active");
    // RFC 3501 section 6.2.1: anything pipelined after STARTTLS is discarded, so
    // nobody can inject commands that seem to come over TLS.
    in_.clear();
    evbuffer_drain(client_.input(), client_.input_length());
    reader_ = imap::CommandReader(limits(s_));
    send(tagged(c.tag, "OK", "Begin TLS negotiation now"));
    state_ = State::TlsSwitch;
    client_.disable(EV_READ);
  }

  void cmd_login(imap::Command& c) {
    auto r = imap::parse_login(c.args);
    if (auto* e = imap::parse_error(r)) return error(c.tag, "BAD", *e);
    auto& req = std::get<imap::LoginRequest>(r);
    if (!plaintext_allowed()) {
      explicit_bzero(req.password.data(), req.password.size());
      return error(c.tag, "NO",
                   "[PRIVACYREQUIRED] plaintext authentication disallowed on non-secure connections; use STARTTLS");
    }
    login(c.tag, req.user, std::move(req.password), "LOGIN");
  }

  void cmd_authenticate(imap::Command& c) {
    auto r = imap::parse_authenticate(c.args);
    if (auto* e = imap::parse_error(r)) return error(c.tag, "BAD", *e);
    const auto& req = std::get<imap::AuthenticateRequest>(r);
    if (req.mechanism != "PLAIN") return error(c.tag, "NO", "unsupported authentication mechanism");
    if (!plaintext_allowed())
      return error(c.tag, "NO",
                   "[PRIVACYREQUIRED] plaintext authentication disallowed on non-secure connections; use STARTTLS");
    if (req.initial) return sasl_response(c.tag, *req.initial == "=" ? std::string() : *req.initial);
    sasl_tag_ = c.tag;
    state_ = State::SaslResponse;
    reader_.expect_line();
    send("+ \r\n");
  }

  void sasl_response(const std::string& tag, const std::string& b64) {
    if (b64 == "*") return error(tag, "BAD", "authentication cancelled");
    auto decoded = str::base64_decode(b64);
    if (!decoded) return error(tag, "BAD", "invalid base64 in SASL response");
    auto cred = mail::parse_sasl_plain(*decoded, kMaxUser, kMaxPassword);
    explicit_bzero(decoded->data(), decoded->size());
    if (!cred) return error(tag, "BAD", "malformed SASL PLAIN response");
    if (!cred->authzid.empty() && cred->authzid != cred->user)
      return error(tag, "NO", "[AUTHORIZATIONFAILED] authorization identity differs from authentication identity");
    login(tag, cred->user, cred->password, "PLAIN");
  }

  // Hands the credentials to the session process and waits for its verdict. Blocking
  // is fine here: this process serves this one client only.
  void login(const std::string& tag, const std::string& user, std::string password, const char* method) {
    if (user.empty() || user.size() > kMaxUser || password.size() > kMaxPassword) {
      explicit_bzero(password.data(), password.size());
      return fail_login(tag);
    }
    ipc::Message req;
    req.set("cmd", "login").set("user", user).set("password", password).set("method", method)
        .set("tls", tls_ ? "1" : "0").set("tag", tag);
    explicit_bzero(password.data(), password.size());
    auto st = ipc::write_message(session_.get(), req, kSessionCallMs);
    Result<ipc::Message> rep = st ? ipc::read_message(session_.get(), kSessionCallMs, 65536)
                                  : Result<ipc::Message>(st.error());
    if (!rep) {
      log::warn("[%s]: session process: %s", ip_.c_str(), rep.error().c_str());
      send(tagged(tag, "NO", "[UNAVAILABLE] internal error, try again later"));
      return finish();
    }
    std::string status(rep->get_or("status", ""));
    if (status == "ok") {
      send(std::string(rep->get_or("reply", tagged(tag, "OK", "Logged in"))));
      if (tls_) return start_relay();
      // In clear text nothing needs this process any more: once the reply is out, the
      // connection goes to the session process (hand_off()).
      state_ = State::Handoff;
      client_.disable(EV_READ);
      if (client_.output_length() == 0) hand_off();
      return;
    }
    if (status == "fail") return fail_login(tag);
    send(tagged(tag, "NO", status == "tempfail" ? "[UNAVAILABLE] temporary authentication failure, try again later"
                                                : "[UNAVAILABLE] internal error, try again later"));
    // The session process is gone after anything but fail.
    if (status != "tempfail") finish();
  }

  void fail_login(const std::string& tag) {
    send(tagged(tag, "NO", "[AUTHENTICATIONFAILED] Authentication failed"));
    if (++failures_ >= s_.auth_failure_limit) {
      send("* BYE too many authentication failures, closing connection\r\n");
      finish();
    }
  }

  void switch_to_tls() {
    int fd = client_.fd();
    int copy = fd >= 0 ? ::dup(fd) : -1;
    if (copy < 0) return base_.loopbreak();
    auto bev = tls::socket_bufferevent(base_.get(), copy, *tls_ctx_);
    if (!bev) {
      UniqueFd close_it(copy);
      log::warn("STARTTLS for [%s]: %s", ip_.c_str(), bev.error().c_str());
      return base_.loopbreak();
    }
    // The plain bufferevent goes (closing its descriptor); the TLS one owns the copy.
    client_ = event::BufferEvent::adopt(bev->release());
    tls_ = true;
    state_ = State::NotAuthenticated;
    arm_client();
  }

  // Passes the client connection, and what the client sent behind its login, to the
  // session process, which serves it directly from now on; this process ends. The
  // descriptor goes first: the session reads it with a one-byte recvmsg() before the
  // message, which a read could otherwise swallow with its ancillary data.
  void hand_off() {
    std::string pending = in_;
    in_.clear();
    size_t n = client_.input_length();
    if (n > 0) {
      std::string more(n, '\0');
      evbuffer_remove(client_.input(), more.data(), n);
      pending += more;
    }
    ipc::Message m;
    m.set("cmd", "handoff").set("input", pending);
    Status st = ipc::send_fd(session_.get(), client_.fd());
    if (st) st = ipc::write_message(session_.get(), m, kSessionCallMs);
    if (!st) log::warn("[%s]: session process: %s", ip_.c_str(), st.error().c_str());
    state_ = State::Closing;
    base_.loopbreak();
  }

  void start_relay() {
    state_ = State::Relay;
    // The session process enforces the idle timeout after login (IDLE may last long).
    client_.set_timeouts(-1, -1);
    service::start_relay(base_, client_, relay_, std::move(session_), in_, kRelayHighWater, [this] { finish(); });
  }

  event::EventBase& base_;
  const Settings& s_;
  const tls::Context* tls_ctx_;
  std::string ip_;
  UniqueFd session_;
  event::BufferEvent client_, relay_;
  event::Timer login_timer_;
  imap::CommandReader reader_;
  std::string in_, sasl_tag_;
  State state_ = State::NotAuthenticated;
  bool tls_ = false;
  int64_t errors_ = 0, failures_ = 0;
  int status_ = 0;
};

const Login::CommandSpec Login::kCommands[] = {
    {"CAPABILITY", &Login::cmd_capability}, {"NOOP", &Login::cmd_noop},
    {"LOGOUT", &Login::cmd_logout},         {"ID", &Login::cmd_id},
    {"STARTTLS", &Login::cmd_starttls},     {"LOGIN", &Login::cmd_login},
    {"AUTHENTICATE", &Login::cmd_authenticate},
    // The authenticated and selected states' commands, answered as such.
    {"SELECT", nullptr}, {"EXAMINE", nullptr}, {"LIST", nullptr}, {"LSUB", nullptr}, {"STATUS", nullptr},
    {"CREATE", nullptr}, {"DELETE", nullptr}, {"RENAME", nullptr}, {"SUBSCRIBE", nullptr},
    {"UNSUBSCRIBE", nullptr}, {"APPEND", nullptr}, {"NAMESPACE", nullptr}, {"ENABLE", nullptr},
    {"IDLE", nullptr}, {"FETCH", nullptr}, {"STORE", nullptr}, {"SEARCH", nullptr},
    {"COPY", nullptr}, {"MOVE", nullptr}, {"EXPUNGE", nullptr}, {"CLOSE", nullptr}, {"UNSELECT", nullptr},
    {"CHECK", nullptr},
};

void Login::command(imap::Command& c) {
  for (const CommandSpec& spec : kCommands) {
    if (c.name != spec.name) continue;
    if (!spec.handler) return error(c.tag, "BAD", c.name + " not valid before login");
    return (this->*spec.handler)(c);
  }
  error(c.tag, "BAD", "unknown command");
}

}  // namespace

int run_login(const Settings& s, const tls::Context* tls, const std::string& client_ip, UniqueFd client,
              UniqueFd session) {
  event::EventBase base;
  auto login = std::make_unique<Login>(base, s, tls, client_ip, std::move(client), std::move(session));
  if (!login->start()) return 1;
  base.loop();
  return login->status();
}

}  // namespace postilion::imapd
