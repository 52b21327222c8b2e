// pop3d/session.h - one POP3 connection, from accept to close. The connection's
// process (root when the listener is root) never reads the network: it forks the
// login process (pop3d/login.h, unprivileged), checks the credentials it forwards with
// auth(8), then becomes the mailbox owner, locks the Maildir and serves TRANSACTION and
// UPDATE (pop3d/transaction.h) over the socketpair the login process relays.
#pragma once

#include <string>

#include "lib/base/unique_fd.h"
#include "lib/tls/tls.h"
#include "pop3d/settings.h"

namespace postilion::pop3d {

// Returns the process exit status.
int run_session(const Settings& s, const tls::Context* tls, const std::string& client_ip, UniqueFd client);

}  // namespace postilion::pop3d
