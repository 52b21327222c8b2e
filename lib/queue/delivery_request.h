// lib/queue/delivery_request.h - qmgr's delivery request to an agent (lib/ipc/protocols.h,
// "delivery"): written by qmgr and read by every agent (local, virtual, smtp) here, and
// the queue file record each of its recipients names.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lib/base/result.h"
#include "lib/ipc/message.h"
#include "lib/queue/queue_file.h"

namespace postilion::queue {

struct DeliveryRequest {
  struct Rcpt {
    std::string address;              // as qmgr routed it: a virtual alias's target, say
    std::string orcpt;                // the DSN ORCPT ("rfc822;addr") or ""
    std::optional<uint64_t> offset;   // the recipient record's offset; nullopt: malformed
  };
  std::string id;       // a valid queue ID
  std::string file;     // "active/" + id, relative to queue_directory
  std::string sender;
  std::string nexthop;
  bool report_expanded = false;  // report=expanded (partly bounced expansions)
  std::vector<Rcpt> rcpts;       // at least one
};

// The request as qmgr sends it: cmd=deliver, id, file, sender, nexthop, report=expanded
// when report_expanded, then rcpt, orcpt and offset per recipient (an unset offset is
// written empty, which an agent reads as malformed). parse_delivery_request reads back
// what this writes.
ipc::Message encode_delivery_request(const DeliveryRequest& r);

// The request, or an error whose text is the agent's status=error reply: another
// command, a bad ID or file, no recipients, or rcpt/orcpt/offset lists of different
// lengths. A malformed offset is not an error here: that recipient alone is deferred.
Result<DeliveryRequest> parse_delivery_request(const ipc::Message& m);

// The recipient record a request's recipient names, by its offset, or nullptr when the
// offset names none: an agent never delivers or marks what qmgr did not hand over. The
// record's address may differ from the request's (qmgr routed it, e.g. through a
// virtual alias).
const Recipient* record_for(const QueueFile& f, const DeliveryRequest::Rcpt& r);

// The address a recipient had before any rewriting, for orig_to= and a command's
// ORIGINAL_RECIPIENT: the ORCPT's address, else the record's address (before a virtual
// alias), else the recipient as routed.
std::string original_recipient(const DeliveryRequest::Rcpt& r, const Recipient* record);

}  // namespace postilion::queue
