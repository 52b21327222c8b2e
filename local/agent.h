// local/agent.h - one delivery request of the qmgr -> agent protocol (lib/ipc/protocols.h)
// served by local(8) and virtual(8): check the request against the queue file (trust
// neither), deliver each recipient, record each final outcome in the file's status byte (after the
// mailbox is durable, before the reply), and build the reply.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "lib/ipc/message.h"
#include "lib/queue/delivery_log.h"
#include "local/deliver.h"

namespace postilion::local {

// Logged per recipient by the caller with queue::log_delivery ("to=<..>, relay=local,
// ..., status=.."), or as a warning when status is "warning".
struct DeliveryLog {
  // orig_recipient: the address before any rewriting (queue::original_recipient), or
  // for an expanded destination the recipient whose expansion it is.
  std::string queue_id, recipient, orig_recipient, status, dsn, text;
  queue::DeliveryTimes times;  // arrival, the request's arrival here, the outcome
  bool expanded = false;       // a bounced destination of orig_recipient's expansion
};

// What one recipient's delivery is in a given agent: local(8) expands aliases and
// .forward files (deliver()), virtual(8) looks the address up in its mailbox table.
// warnings are logged; bounced, when given, takes the bounced destinations of a partly
// delivered expansion (see deliver()).
using RecipientDelivery = std::function<Outcome(const Delivery& d, std::vector<std::string>* warnings,
                                                std::vector<Expanded>* bounced)>;

// How the agent answers: its relay name in the reply and the log, and whether it logs
// each recipient's outcome itself (the reply then says logged=yes, so qmgr does not).
struct AgentStyle {
  std::string relay = "local";
  bool logs_outcomes = false;
};

// Serves one request with `deliver_one` for each recipient: checks the request against
// the queue file, delivers, records each final outcome in the file's status byte (after
// the mailbox is durable, before the reply) and builds the reply. queue_directory is
// the spool top. The reply is always a protocol message (status=error for a request
// that makes no sense).
ipc::Message serve_deliveries(const ipc::Message& request, const std::string& queue_directory,
                              const AgentStyle& style, const RecipientDelivery& deliver_one,
                              std::vector<DeliveryLog>* log_lines = nullptr);

// local(8)'s request: serve_deliveries with deliver() under settings and env.
ipc::Message serve_request(const ipc::Message& request, const std::string& queue_directory,
                           const Settings& settings, Environment& env,
                           std::vector<DeliveryLog>* log_lines = nullptr);

}  // namespace postilion::local
