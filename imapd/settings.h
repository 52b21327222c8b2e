// imapd/settings.h - the parameters imapd(8) uses, read once at start: the listener's
// (lib/service/mail_session.h, under "imapd_") and IMAP's own.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/base/result.h"
#include "lib/config/config.h"
#include "lib/service/mail_session.h"

namespace postilion::imapd {

struct Settings : service::MailListener {
  size_t line_limit = 65536;
  size_t literal_limit = 65536;
  uint64_t append_limit = 64u << 20;

  // A bad value is an Error naming the parameter.
  static Result<Settings> from_config(const config::Config& cfg);
};

}  // namespace postilion::imapd
