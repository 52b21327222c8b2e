// local/maildir.h - Maildir delivery for local(8) (tmp -> new, unique names, fsync'd).
// Interim: lib/mailbox's writer takes its place once it lands (one Maildir writer in
// the tree). Runs as the recipient; refuses symbolic links at every step.
#pragma once

#include <string>

#include "lib/base/result.h"

namespace postilion::local {

// Writes text into the Maildir at dir (created with tmp/new/cur, mode 0700, if missing)
// and returns when the message is durable in new/.
Status maildir_deliver(const std::string& dir, const std::string& text);

}  // namespace postilion::local
