// pop3d/login.h - the login process of one POP3 connection: it runs as the
// unprivileged mail_owner, owns the client socket and its TLS, and speaks the
// AUTHORIZATION state (CAPA, STLS, USER/PASS, AUTH PLAIN, QUIT). Credentials go to the
// session process over a socketpair (lib/ipc frames); after a successful login this
// process only relays bytes between the client and the session process.
#pragma once

#include <string>

#include "lib/base/unique_fd.h"
#include "lib/tls/tls.h"
#include "pop3d/settings.h"

namespace postilion::pop3d {

// Serves the connection until it ends; returns the process exit status.
int run_login(const Settings& s, const tls::Context* tls, const std::string& client_ip, UniqueFd client,
              UniqueFd session);

}  // namespace postilion::pop3d
