// local/agent.h - one delivery request of the qmgr -> agent protocol (lib/ipc/protocols.h)
// served by local(8): check the request against the queue file (trust neither), deliver
// each recipient, record each final outcome in the file's status byte (after the
// mailbox is durable, before the reply), and build the reply.
#pragma once

#include <string>
#include <vector>

#include "lib/ipc/message.h"
#include "local/deliver.h"

namespace postilion::local {

// Logged per recipient by the caller: "to=<..>, relay=local, ..., status=..".
struct DeliveryLog {
  std::string queue_id, recipient, orig_recipient, status, dsn, text;
  double delay = 0;
  bool expanded = false;  // a bounced destination of orig_recipient's expansion
};

// Serves one request. queue_directory is the spool top. The reply is always a
// protocol message (status=error for a request that makes no sense).
ipc::Message serve_request(const ipc::Message& request, const std::string& queue_directory,
                           const Settings& settings, Environment& env,
                           std::vector<DeliveryLog>* log_lines = nullptr);

}  // namespace postilion::local
