// imapd/session.h - one IMAP connection, from accept to close. The connection's
// process (root when the listener is root) never reads the network: it forks the
// login process (imapd/login.h, unprivileged), checks the credentials it forwards with
// auth(8), then becomes the mailbox owner and serves the authenticated and selected
// states (imapd/imap_session.h) over the socketpair the login process relays.
#pragma once

#include <string>

#include "imapd/settings.h"
#include "lib/base/unique_fd.h"
#include "lib/tls/tls.h"

namespace postilion::imapd {

// Returns the process exit status.
int run_session(const Settings& s, const tls::Context* tls, const std::string& client_ip, UniqueFd client);

}  // namespace postilion::imapd
