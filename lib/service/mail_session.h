// lib/service/mail_session.h - what the mailbox servers (imapd(8), pop3d(8)) share around
// their protocols: the listener parameters each reads under its own prefix ("imapd_",
// "pop3d_"), the Kind::Session limits built from them, and the two processes of one
// client's session.
//
// A session is split in two (split_session): a login process, dropped to mail_owner
// before the client says anything, speaks the protocol up to a successful login; the
// session process (root in production) checks the login with auth(8), becomes the
// mailbox owner and serves the mailbox. After the login the login process either hands
// the client's connection over (plain TCP: the descriptor, and what the client sent
// behind its login) or, with TLS in the login process, relays bytes between the client
// and the session process (start_relay).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/base/cidr.h"
#include "lib/base/result.h"
#include "lib/base/unique_fd.h"
#include "lib/config/config.h"
#include "lib/event/buffer_event.h"
#include "lib/event/event.h"
#include "lib/service/launcher.h"
#include "lib/tls/tls.h"

namespace postilion::service {

// Where a password may go over a connection without TLS.
enum class Plaintext { No, Loopback, Yes };

struct MailListener {
  std::string queue_directory;
  std::string mail_owner;
  int64_t timeout_ms = 0;            // PREFIX_timeout
  bool wrappermode = false;          // PREFIX_tls_wrappermode (ports 993, 995)
  std::string cert_file, key_file;   // PREFIX_tls_cert_file, PREFIX_tls_key_file (default: the cert file)
  Plaintext plaintext = Plaintext::Loopback;  // PREFIX_plaintext_auth
  // PREFIX_login_timeout: from connecting to a successful login, whatever the client
  // sends meanwhile (a client that trickles bytes or repeats NOOP never lets the idle
  // timeout fire).
  int64_t login_timeout_ms = 180000;
  int64_t auth_timeout_ms = 30000;   // PREFIX_auth_timeout
  int64_t auth_failure_limit = 3;    // PREFIX_auth_failure_limit
  int64_t error_limit = 20;          // PREFIX_error_limit
  int64_t client_limit = 100;        // PREFIX_client_limit
  // Per client IP and master.conf service, over all processes of the daemon (anvil(8)):
  // PREFIX_client_connection_count_limit, _rate_limit (0: none), and the clients they do
  // not apply to (PREFIX_client_connection_limit_exceptions).
  int connection_count_limit = 0;
  int connection_rate_limit = 0;     // per rate_time_unit_ms
  int64_t rate_time_unit_ms = 60000; // anvil_rate_time_unit
  int64_t anvil_timeout_ms = 1000;   // anvil_timeout
  std::vector<Cidr> limit_exceptions;

  // The parameters named above; a bad value is an Error naming the parameter.
  static Result<MailListener> from_config(const config::Config& cfg, std::string_view prefix);

  // A password may be sent: over TLS always, else as PREFIX_plaintext_auth says.
  bool plaintext_allowed(bool tls, const std::string& client_ip) const;
  // The TLS context of cert_file/key_file (none when no certificate is configured). Loaded
  // while still root: the key may be readable by root only. A bad file stops the daemon
  // (service::required).
  tls::Context load_tls() const;
  // The Kind::Session limits of the listener (TLS context included, so a bad certificate
  // stops the listener rather than each session). prefix names PREFIX_client_limit in the
  // warning; the two lines (CRLF included) are the protocol's refusals.
  SessionLimits session_limits(std::string_view prefix, std::string too_many_from_host,
                               std::string too_many_connections) const;
};

// True for 127.0.0.0/8 and ::1 (and ::ffff:127.x.y.z).
bool is_loopback(const std::string& ip);

// Runs one client's session as two processes (see the top of this file): forks the login
// process, which drops to mail_owner and returns login(client, its end of the channel)
// as its exit status; this process closes the client and returns serve(its end of the
// channel, &login_pid). serve may reap the login process itself (once it handed the
// connection over) and then sets login_pid to 0; otherwise it is reaped here. Errors
// (socketpair, fork) are logged with the client's address and give 1.
int split_session(UniqueFd client, const std::string& client_ip, const std::string& mail_owner,
                  const std::function<int(UniqueFd client, UniqueFd session)>& login,
                  const std::function<int(int channel, pid_t* login_pid)>& serve);

// In the login process after a login over TLS: relays the session process's output to
// the client and the client's input to the session process. relay becomes the
// session's bufferevent; it stops reading while the client's output holds high_water
// bytes or more (the caller enables relay's EV_READ again from the client's write
// callback once it drained). What the client sent behind its login (pending, then the
// client's unread input) goes to the session first; pending is cleared. on_end runs
// when the session process closes its end, after what it sent last was queued to the
// client.
void start_relay(event::EventBase& base, event::BufferEvent& client, event::BufferEvent& relay, UniqueFd session,
                 std::string& pending, size_t high_water, std::function<void()> on_end);

}  // namespace postilion::service
