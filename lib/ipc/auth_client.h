// lib/ipc/auth_client.h - a mailbox login checked with auth(8): the session processes of
// imapd and pop3d ask it for the account behind a user name and password.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

#include "lib/ipc/message.h"

namespace postilion::ipc {

struct MailboxAccount {
  std::string user, maildir, method;  // method: the login's SASL mechanism or command
  uid_t uid = 0;
  gid_t gid = 0;
};

// Checks the user and password of a login process's `cmd=login` request with auth(8)
// at auth_socket, as `service` ("imapd", "pop3d"). Returns the account; otherwise
// *status says what to answer: "fail" (wrong credentials) or "tempfail" (auth(8)
// unreachable, or a reply without a usable uid, gid and absolute maildir).
std::optional<MailboxAccount> check_mailbox_login(const std::string& auth_socket, int timeout_ms,
                                                  std::string_view service, std::string_view default_method,
                                                  const Message& req, const std::string& ip, const char** status);

}  // namespace postilion::ipc
