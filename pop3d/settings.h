// pop3d/settings.h - the parameters pop3d(8) uses, read once at start: the listener's
// (lib/service/mail_session.h, under "pop3d_") and POP3's own.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/base/result.h"
#include "lib/config/config.h"
#include "lib/service/mail_session.h"

namespace postilion::pop3d {

struct Settings : service::MailListener {
  size_t line_limit = 255;
  uint64_t message_size_limit = 256u << 20;
  // One POP3 session per mailbox at a time (a second gets -ERR [IN-USE]).
  bool lock_session = false;

  // A bad value is an Error naming the parameter.
  static Result<Settings> from_config(const config::Config& cfg);
};

}  // namespace postilion::pop3d
