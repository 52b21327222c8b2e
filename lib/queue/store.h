// lib/queue/store.h - what the queue manager needs from the spool, as one interface: list a
// queue, read a queue file's envelope, mark a recipient final, move, remove, queue a
// new message, and the per-message deferral notes. lib/queue/spool_store.cc implements it
// on the spool; the tests use an in-memory fake, so crash and failure paths are cheap.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "lib/base/result.h"
#include "lib/mail/dsn.h"

namespace postilion::queue {

struct StoredRecipient {
  std::string address;
  std::string orcpt;
  unsigned notify = mail::kNotifyDefault;
  uint64_t offset = 0;   // the record's offset: its status byte is updated in place
  bool done = false;     // final (sent or bounced)
};

struct StoredMessage {
  std::string id;
  std::string sender;
  int64_t arrival = 0;     // unix seconds
  int64_t arrival_us = 0;  // the same, in microseconds (delay= in log lines)
  uint64_t size = 0;
  std::string envid;
  mail::Ret ret = mail::Ret::Default;
  std::vector<StoredRecipient> recipients;
  // The user who submitted it through postdrop (its "uid" attribute, digits only);
  // empty for mail from smtpd and for a file without a valid one.
  std::string uid;
  // The after-queue content filter the receiving side chose (content_filter:
  // "transport:nexthop"); empty: route normally.
  std::string content_filter;
  // A mail filter refused it at pickup (non_smtpd_milters): "X.Y.Z text", bounced to
  // the sender by qmgr without a delivery attempt. Empty: not refused.
  std::string milter_reject;
};

// A new message to queue (bounces, virtual alias expansions, maildrop pickups).
struct NewMessage {
  std::string sender;
  std::vector<StoredRecipient> recipients;  // offset/done ignored
  std::string envid;
  mail::Ret ret = mail::Ret::Default;
  int64_t arrival = 0;                       // 0 = now
  std::string content;
  std::string content_filter;                // "" = none (StoredMessage::content_filter)
  std::string milter_reject;                 // "" = none (StoredMessage::milter_reject)
};

// Deferral notes kept beside a deferred message (defer/ID): the last reason per
// recipient (for mailq) and whether the delay warning went out.
struct DeferInfo {
  std::map<std::string, std::string> reasons;  // recipient -> reason
  bool warned = false;
};

class Store {
 public:
  virtual ~Store() = default;
  // Queue file names (ids) in a queue folder; dot names are skipped.
  virtual std::vector<std::string> list(const std::string& queue) = 0;
  // The envelope. *corrupt tells a bad file (move it to corrupt/) from an I/O error.
  virtual Result<StoredMessage> load(const std::string& queue, const std::string& id, bool* corrupt) = 0;
  // The message content (headers + body) for returned copies.
  virtual Result<std::string> content(const std::string& queue, const std::string& id) = 0;
  virtual Result<bool> is_done(const std::string& queue, const std::string& id, uint64_t offset) = 0;
  virtual Status mark_done(const std::string& queue, const std::string& id, uint64_t offset, bool bounced) = 0;
  virtual Status move(const std::string& id, const std::string& from, const std::string& to) = 0;
  virtual Status remove(const std::string& queue, const std::string& id) = 0;
  // A message in active/ is done: its file goes (or is kept for reuse, spool_store.h).
  virtual Status retire(const std::string& id) { return remove("active", id); }
  // Writes a complete queue file into incoming/ (durably) and returns its id.
  virtual Result<std::string> inject(const NewMessage& m) = 0;
  // Deferred mail's next attempt (unix seconds), kept in the file's modification time.
  virtual Result<int64_t> next_try(const std::string& id) = 0;
  virtual Status set_next_try(const std::string& id, int64_t when) = 0;
  virtual DeferInfo defer_info(const std::string& id) = 0;
  virtual Status set_defer_info(const std::string& id, const DeferInfo& info) = 0;
  virtual void drop_defer_info(const std::string& id) = 0;
};

}  // namespace postilion::queue
