// lib/queue/queue_control.h - queue operations for people: the listing behind mailq and
// `postilionctl queue`, and hold / release / delete / requeue of messages chosen by id,
// ALL, or a sender/recipient match. Works on the spool directly (run as root or
// mail_owner); wake qmgr afterwards (cmd=wakeup / flush) so it notices.
#pragma once

#include <string>
#include <vector>

#include "lib/base/result.h"
#include "lib/queue/queue_list.h"
#include "lib/queue/spool_store.h"

namespace postilion::queue {

// Every message in maildrop, incoming, active, deferred and hold, oldest first.
// Unreadable files are skipped (qmgr quarantines them).
std::vector<QueueEntry> list_queue(SpoolStore& store);

// Which messages an operation applies to: an exact queue id, "ALL", or an address
// (a message matches when its sender or a pending recipient equals it, case-insensitive).
bool matches(const QueueEntry& e, const std::string& selector);

enum class Operation { Hold, Release, Delete, Requeue };

struct ControlResult {
  std::vector<std::string> done;    // ids acted on
  std::vector<std::string> errors;  // "ID: reason"
};

// hold: incoming/deferred/active -> hold/; release: hold/ -> deferred/ (due now);
// requeue: deferred/hold -> incoming/ (tried at once, retry state kept); delete: the
// file and its notes are removed (logged "ID: removed"). Messages in active/ are
// being delivered: hold and delete take them away from qmgr, which copes (its next
// step on the file fails and is logged).
ControlResult control(SpoolStore& store, Operation op, const std::string& selector);

}  // namespace postilion::queue
