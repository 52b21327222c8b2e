// sendmail/drop.h - the hand-over from sendmail(1) to postdrop(1): an envelope frame
// (lib/ipc attributes) followed by the raw message until EOF on postdrop's standard
// input; postdrop checks it and writes one queue file into maildrop/.
#pragma once

#include <string>
#include <vector>

#include "lib/base/result.h"

namespace postilion::sendmail {

struct DropRecipient {
  std::string address;
  std::string orcpt;    // address, may be empty
  unsigned notify = 0;  // lib/mail Notify bits
};

struct Envelope {
  std::string sender;
  std::vector<DropRecipient> recipients;
  std::string envid;
  std::string ret;      // "", FULL or HDRS
};

// Writes the envelope frame to fd (then the caller writes the content and closes).
Status write_envelope(int fd, const Envelope& e);

// postdrop: reads the frame and the content from in_fd, checks every field, writes
// maildrop_dir/ID (mode 0644 within the 1730 folder: qmgr may read it, other users
// cannot reach it) and returns ID. uid is recorded as the submitting user. A bad
// envelope is a permanent Error (EX_DATAERR); I/O trouble is temporary (EX_TEMPFAIL).
Result<std::string> drop(int in_fd, const std::string& maildrop_dir, unsigned uid, uint64_t max_size);

}  // namespace postilion::sendmail
