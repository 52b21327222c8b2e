// imapd/login.h - the login process of one IMAP connection: it runs as the
// unprivileged mail_owner, owns the client socket and its TLS, and speaks the
// not-authenticated state (CAPABILITY, NOOP, LOGOUT, STARTTLS, ID, LOGIN, AUTHENTICATE
// PLAIN). Credentials go to the session process over a socketpair (lib/ipc frames);
// after a successful login this process only relays bytes between the client and the
// session process.
#pragma once

#include <string>

#include "imapd/settings.h"
#include "lib/base/unique_fd.h"
#include "lib/tls/tls.h"

namespace postilion::imapd {

// Serves the connection until it ends; returns the process exit status.
int run_login(const Settings& s, const tls::Context* tls, const std::string& client_ip, UniqueFd client,
              UniqueFd session);

// The capabilities before login (tls_active: the connection is encrypted already;
// starttls: a certificate is configured; plaintext: LOGIN and PLAIN are allowed now).
std::string capabilities_before_login(bool starttls, bool plaintext);
// The capabilities after login.
std::string capabilities_after_login(uint64_t append_limit);

}  // namespace postilion::imapd
