// lib/queue/queue_list.h - the queue as people and programs see it: mailq's listing in
// Postfix's format and `postilionctl queue -j` JSON lines. Formatting only; the entries
// come from a spool scan (lib/queue/queue_control.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace postilion::queue {

struct QueueEntry {
  std::string id;
  std::string queue;     // incoming, active, deferred, hold, maildrop
  uint64_t size = 0;     // message size in bytes
  int64_t arrival = 0;   // unix seconds
  std::string sender;    // "" = null sender
  struct Recipient {
    std::string address;
    std::string reason;  // last deferral reason, may be empty
  };
  std::vector<Recipient> recipients;  // those not yet delivered
};

// mailq: header, one block per message, and the total line; "Mail queue is empty".
std::string format_mailq(const std::vector<QueueEntry>& entries);

// One JSON object (one line, no newline) per message, like `postqueue -j`:
// {"queue_name":..,"queue_id":..,"arrival_time":..,"message_size":..,"sender":..,
//  "recipients":[{"address":..,"delay_reason":..}]}
std::string format_json(const QueueEntry& e);

// JSON string escaping (quotes, backslashes, control and non-ASCII bytes as \u00XX).
std::string json_string(const std::string& s);

}  // namespace postilion::queue
