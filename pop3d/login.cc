// pop3d/login.cc - the AUTHORIZATION state and, after login, the byte relay.
#include "pop3d/login.h"

#include <unistd.h>

#include <memory>

#include "lib/base/strings.h"
#include "lib/event/buffer_event.h"
#include "lib/event/event.h"
#include "lib/ipc/message.h"
#include "lib/log/log.h"
#include "lib/service/mail_session.h"
#include "lib/pop3/command.h"
#include "lib/pop3/reply.h"

namespace postilion::pop3d {
namespace {

using pop3::Verb;

constexpr size_t kMaxSaslLine = 2048;            // base64 of user + password
constexpr size_t kRelayHighWater = 1 << 20;      // stop reading the session beyond this
constexpr int kSessionCallMs = 120000;           // auth delays included

class Login {
 public:
  Login(event::EventBase& base, const Settings& s, const tls::Context* tls, std::string ip, UniqueFd client,
        UniqueFd session)
      : base_(base), s_(s), tls_ctx_(tls), ip_(std::move(ip)), session_(std::move(session)),
        lines_(s.line_limit) {
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
    send(pop3::ok("Postilion POP3 server ready"));
    return true;
  }

  int status() const { return status_; }

 private:
  enum class State { Auth, SaslResponse, TlsSwitch, Relay, Closing };

  void arm_client() {
    client_.set_callbacks([this] { on_read(); }, [this] { on_write(); }, [this](short w) { on_event(w); });
    int ms = static_cast<int>(s_.timeout_ms);
    client_.set_timeouts(ms, ms);
    client_.set_read_high_water(64 * 1024);
    client_.enable(EV_READ | EV_WRITE);
  }

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
        log::info("timeout after %s from [%s]", state_ == State::Auth ? "greeting" : "login", ip_.c_str());
        send(pop3::err("idle timeout, closing connection"));
        finish();
        client_.set_timeouts(5000, 5000);
        return;
      }
      log::info("timeout from [%s]", ip_.c_str());
    } else if (what & BEV_EVENT_ERROR) {
      if (tls_) log::info("TLS or I/O error from [%s]: %s", ip_.c_str(), tls::last_error().c_str());
    }
    // The client is gone (or silent too long): the session process sees the relay
    // close and ends without touching the mailbox.
    base_.loopbreak();
  }

  // pop3d_login_timeout: the whole AUTHORIZATION state is bounded, not only each
  // silence in it (slow clients holding connections open byte by byte).
  void login_timed_out() {
    if (state_ == State::Relay || state_ == State::Closing) return;
    log::info("login timeout from [%s]", ip_.c_str());
    send(pop3::err("login timeout, closing connection"));
    finish();
    client_.set_timeouts(5000, 5000);
  }

  void on_write() {
    if (state_ == State::Closing && client_.output_length() == 0) {
      base_.loopbreak();
    } else if (state_ == State::TlsSwitch && client_.output_length() == 0) {
      switch_to_tls();
    } else if (state_ == State::Relay && relay_ && client_.output_length() < kRelayHighWater) {
      relay_.enable(EV_READ);
    }
  }

  void on_read() {
    if (state_ == State::Relay) {
      evbuffer_add_buffer(relay_.output(), client_.input());
      return;
    }
    if (state_ == State::Closing || state_ == State::TlsSwitch) {
      evbuffer_drain(client_.input(), client_.input_length());
      return;
    }
    in_ += client_.read();
    process();
  }

  void process() {
    while (state_ == State::Auth || state_ == State::SaslResponse) {
      size_t used = 0;
      std::string_view line;
      auto st = lines_.next(in_, &used, &line);
      std::string text(st == pop3::LineReader::Status::Line ? line : std::string_view());
      in_.erase(0, used);
      if (st == pop3::LineReader::Status::NeedMore) return;
      if (st == pop3::LineReader::Status::TooLong) {
        if (state_ == State::SaslResponse) end_sasl();
        error(pop3::err("line too long"));
        continue;
      }
      if (state_ == State::SaslResponse) {
        sasl_response(text);
      } else {
        command(text);
      }
    }
  }

  void error(const std::string& reply) {
    send(reply);
    if (++errors_ >= s_.error_limit) {
      send(pop3::err("too many errors, closing connection"));
      log::warn("too many errors from [%s]", ip_.c_str());
      finish();
    }
  }

  void command(const std::string& line) {
    auto cmd = pop3::parse_command(line);
    if (!cmd) return error(pop3::err(cmd.error()));
    switch (cmd->verb) {
      case Verb::Capa: {
        pop3::Capabilities c;
        c.stls = tls_ctx_ && !tls_;
        c.user = c.sasl_plain = plaintext_allowed();
        c.implementation = "Postilion";
        return send(pop3::multiline("capability list follows", pop3::capa_lines(c)));
      }
      case Verb::Stls:
        if (!tls_ctx_) return error(pop3::err("STLS not available (no certificate configured)"));
        if (tls_) return error(pop3::err("TLS already active"));
        // RFC 2595 section 4 / RFC 3207 4.2 alike: anything pipelined after STLS is
        // discarded, so nobody can inject commands that seem to come over TLS.
        in_.clear();
        evbuffer_drain(client_.input(), client_.input_length());
        lines_ = pop3::LineReader(s_.line_limit);
        user_.clear();
        send(pop3::ok("Begin TLS negotiation"));
        state_ = State::TlsSwitch;
        client_.disable(EV_READ);
        return;
      case Verb::User:
        if (!plaintext_allowed())
          return error(pop3::err(pop3::Code::Auth, "plaintext authentication disallowed on non-secure connections; use STLS"));
        user_ = cmd->arg;
        return send(pop3::ok("send PASS"));
      case Verb::Pass:
        if (user_.empty()) return error(pop3::err("USER first"));
        if (!plaintext_allowed())
          return error(pop3::err(pop3::Code::Auth, "plaintext authentication disallowed on non-secure connections; use STLS"));
        return login(std::exchange(user_, std::string()), cmd->arg, "USER");
      case Verb::Auth:
        if (cmd->arg.empty()) return send(pop3::multiline("SASL mechanisms follow", {"PLAIN"}));
        if (cmd->arg != "PLAIN") return error(pop3::err("unsupported authentication mechanism"));
        if (!plaintext_allowed())
          return error(pop3::err(pop3::Code::Auth, "plaintext authentication disallowed on non-secure connections; use STLS"));
        if (cmd->initial) return sasl_response(*cmd->initial == "=" ? std::string() : *cmd->initial);
        state_ = State::SaslResponse;
        lines_.set_max_line(kMaxSaslLine);
        return send(pop3::continuation(""));
      case Verb::Quit:
        send(pop3::ok("Postilion POP3 server signing off"));
        return finish();
      case Verb::Apop:
        return error(pop3::err("APOP not supported"));
      default:
        return error(pop3::err("command not valid before login"));
    }
  }

  void end_sasl() {
    state_ = State::Auth;
    lines_.set_max_line(s_.line_limit);
  }

  void sasl_response(const std::string& b64) {
    end_sasl();
    if (b64 == "*") return error(pop3::err("authentication cancelled"));
    auto decoded = str::base64_decode(b64);
    if (!decoded) return error(pop3::err("invalid base64 in SASL response"));
    auto cred = pop3::parse_sasl_plain(*decoded);
    explicit_bzero(decoded->data(), decoded->size());
    if (!cred) return error(pop3::err("malformed SASL PLAIN response"));
    if (!cred->authzid.empty() && cred->authzid != cred->user)
      return error(pop3::err(pop3::Code::Auth, "authorization identity differs from authentication identity"));
    login(cred->user, cred->password, "PLAIN");
  }

  // Hands the credentials to the session process and waits for its verdict. Blocking
  // is fine here: this process serves this one client only.
  void login(const std::string& user, std::string password, const char* method) {
    ipc::Message req;
    req.set("cmd", "login").set("user", user).set("password", password).set("method", method)
        .set("tls", tls_ ? "1" : "0");
    explicit_bzero(password.data(), password.size());
    auto st = ipc::write_message(session_.get(), req, kSessionCallMs);
    Result<ipc::Message> rep = st ? ipc::read_message(session_.get(), kSessionCallMs, 65536)
                                  : Result<ipc::Message>(st.error());
    if (!rep) {
      log::warn("[%s]: session process: %s", ip_.c_str(), rep.error().c_str());
      send(pop3::err(pop3::Code::SysTemp, "internal error, try again later"));
      return finish();
    }
    std::string status(rep->get_or("status", ""));
    if (status == "ok") {
      send(std::string(rep->get_or("reply", "+OK logged in\r\n")));
      return start_relay();
    }
    if (status == "inuse") {
      send(pop3::err(pop3::Code::InUse, "mailbox is locked by another POP3 session"));
      return finish();
    }
    if (status == "fail") {
      send(pop3::err(pop3::Code::Auth, "authentication failed"));
      if (++failures_ >= s_.auth_failure_limit) {
        send(pop3::err("too many authentication failures, closing connection"));
        finish();
      }
      return;
    }
    send(pop3::err(pop3::Code::SysTemp, status == "tempfail" ? "temporary authentication failure, try again later"
                                                           : "internal error, try again later"));
    // The session process is gone after anything but fail.
    if (status != "tempfail") finish();
  }

  void switch_to_tls() {
    int fd = client_.fd();
    int copy = fd >= 0 ? ::dup(fd) : -1;
    if (copy < 0) return base_.loopbreak();
    auto bev = tls::socket_bufferevent(base_.get(), copy, *tls_ctx_);
    if (!bev) {
      UniqueFd close_it(copy);
      log::warn("STLS for [%s]: %s", ip_.c_str(), bev.error().c_str());
      return base_.loopbreak();
    }
    // The plain bufferevent goes (closing its descriptor); the TLS one owns the copy.
    client_ = event::BufferEvent::adopt(bev->release());
    tls_ = true;
    state_ = State::Auth;
    arm_client();
  }

  void start_relay() {
    state_ = State::Relay;
    service::start_relay(base_, client_, relay_, std::move(session_), in_, kRelayHighWater, [this] { finish(); });
  }

  event::EventBase& base_;
  const Settings& s_;
  const tls::Context* tls_ctx_;
  std::string ip_;
  UniqueFd session_;
  event::BufferEvent client_, relay_;
  event::Timer login_timer_;
  pop3::LineReader lines_;
  std::string in_, user_;
  State state_ = State::Auth;
  bool tls_ = false;
  int64_t errors_ = 0, failures_ = 0;
  int status_ = 0;
};

}  // namespace

int run_login(const Settings& s, const tls::Context* tls, const std::string& client_ip, UniqueFd client,
              UniqueFd session) {
  event::EventBase base;
  auto login = std::make_unique<Login>(base, s, tls, client_ip, std::move(client), std::move(session));
  if (!login->start()) return 1;
  base.loop();
  return login->status();
}

}  // namespace postilion::pop3d
