// lib/service/mail_session.cc - the mailbox servers' listener parameters, limits and
// two-process sessions.
#include "lib/service/mail_session.h"

#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "lib/log/log.h"
#include "lib/service/privs.h"
#include "lib/service/service.h"

namespace postilion::service {

Result<MailListener> MailListener::from_config(const config::Config& cfg, std::string_view prefix) {
  const std::string p(prefix);
  MailListener s;
  s.queue_directory = cfg.str("queue_directory");
  s.mail_owner = cfg.str("mail_owner");
  s.timeout_ms = cfg.seconds(p + "timeout") * 1000;
  s.wrappermode = cfg.boolean(p + "tls_wrappermode");
  s.cert_file = cfg.str(p + "tls_cert_file");
  s.key_file = cfg.str(p + "tls_key_file");
  if (s.key_file.empty()) s.key_file = s.cert_file;
  std::string plain = cfg.str(p + "plaintext_auth");
  if (plain == "no") s.plaintext = Plaintext::No;
  else if (plain == "loopback") s.plaintext = Plaintext::Loopback;
  else if (plain == "yes") s.plaintext = Plaintext::Yes;
  else return Error(p + "plaintext_auth: want no, loopback or yes, not \"" + plain + "\"");
  s.login_timeout_ms = cfg.seconds(p + "login_timeout") * 1000;
  if (s.login_timeout_ms <= 0) return Error(p + "login_timeout: must be positive");
  s.auth_timeout_ms = cfg.seconds(p + "auth_timeout") * 1000;
  s.auth_failure_limit = cfg.integer(p + "auth_failure_limit");
  s.error_limit = cfg.integer(p + "error_limit");
  s.client_limit = cfg.integer(p + "client_limit");
  int64_t cl = cfg.integer(p + "client_connection_count_limit");
  int64_t rl = cfg.integer(p + "client_connection_rate_limit");
  if (cl < 0 || cl > 1000000) return Error(p + "client_connection_count_limit: want 0..1000000");
  if (rl < 0 || rl > 1000000) return Error(p + "client_connection_rate_limit: want 0..1000000");
  s.connection_count_limit = static_cast<int>(cl);
  s.connection_rate_limit = static_cast<int>(rl);
  s.rate_time_unit_ms = cfg.seconds("anvil_rate_time_unit") * 1000;
  s.anvil_timeout_ms = cfg.seconds("anvil_timeout") * 1000;
  if (s.rate_time_unit_ms <= 0) return Error("anvil_rate_time_unit: must be positive");
  auto ex = parse_cidr_list(cfg.list(p + "client_connection_limit_exceptions"));
  if (!ex) return Error(p + "client_connection_limit_exceptions: bad network: " + ex.error());
  s.limit_exceptions = std::move(*ex);
  if (s.timeout_ms <= 0) return Error(p + "timeout: must be positive");
  if (s.wrappermode && s.cert_file.empty()) return Error(p + "tls_wrappermode needs " + p + "tls_cert_file");
  return s;
}

bool MailListener::plaintext_allowed(bool tls, const std::string& client_ip) const {
  return tls || plaintext == Plaintext::Yes || (plaintext == Plaintext::Loopback && is_loopback(client_ip));
}

tls::Context MailListener::load_tls() const {
  if (cert_file.empty()) return {};
  return required(tls::Context::server({.cert_file = cert_file, .key_file = key_file}), "TLS");
}

SessionLimits MailListener::session_limits(std::string_view prefix, std::string too_many_from_host,
                                           std::string too_many_connections) const {
  SessionLimits l;
  l.client_limit = client_limit;
  l.client_limit_name = std::string(prefix) + "client_limit";
  l.per_client = {connection_count_limit, connection_rate_limit, rate_time_unit_ms};
  l.anvil_timeout_ms = anvil_timeout_ms;
  l.exceptions = limit_exceptions;
  l.wrappermode = wrappermode;
  l.tls = load_tls();
  l.too_many_from_host = std::move(too_many_from_host);
  l.too_many_connections = std::move(too_many_connections);
  return l;
}

bool is_loopback(const std::string& ip) {
  return ip.rfind("127.", 0) == 0 || ip == "::1" || ip.rfind("::ffff:127.", 0) == 0;
}

int split_session(UniqueFd client, const std::string& client_ip, const std::string& mail_owner,
                  const std::function<int(UniqueFd client, UniqueFd session)>& login,
                  const std::function<int(int channel, pid_t* login_pid)>& serve) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    log::warn("[%s]: socketpair: %s", client_ip.c_str(), std::strerror(errno));
    return 1;
  }
  UniqueFd mine(sv[0]), theirs(sv[1]);
  pid_t pid = ::fork();
  if (pid < 0) {
    log::warn("[%s]: fork: %s", client_ip.c_str(), std::strerror(errno));
    return 1;
  }
  if (pid == 0) {
    log::reset_pid();
    mine.reset();
    // Nothing a client sends is parsed before this line.
    if (auto st = drop_to_login_user(mail_owner); !st) {
      log::error("login process: %s", st.error().c_str());
      _exit(1);
    }
    _exit(login(std::move(client), std::move(theirs)));
  }
  // This process never touches the network connection (until it is handed over).
  client.reset();
  theirs.reset();
  int rc = serve(mine.get(), &pid);
  mine.reset();
  int wst = 0;
  while (pid > 0 && ::waitpid(pid, &wst, 0) < 0 && errno == EINTR) {
  }
  return rc;
}

void start_relay(event::EventBase& base, event::BufferEvent& client, event::BufferEvent& relay, UniqueFd session,
                 std::string& pending, size_t high_water, std::function<void()> on_end) {
  relay = event::BufferEvent(base, std::move(session));
  event::BufferEvent* c = &client;
  event::BufferEvent* r = &relay;
  relay.set_callbacks(
      [c, r, high_water] {
        evbuffer_add_buffer(c->output(), r->input());
        if (c->output_length() >= high_water) r->disable(EV_READ);
      },
      nullptr,
      [c, r, on_end = std::move(on_end)](short what) {
        if (what & BEV_EVENT_CONNECTED) return;
        // The session process ended (LOGOUT, QUIT, an error): what it said goes to the
        // client, then the caller closes.
        evbuffer_add_buffer(c->output(), r->input());
        r->disable(EV_READ | EV_WRITE);
        on_end();
      });
  relay.enable(EV_READ | EV_WRITE);
  // Commands the client pipelined behind its login go to the session as they are.
  if (!pending.empty()) relay.write(pending);
  pending.clear();
  if (client.input_length() > 0) evbuffer_add_buffer(relay.output(), client.input());
}

}  // namespace postilion::service
