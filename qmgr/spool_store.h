// qmgr/spool_store.h - the Store of the queue manager on the real spool (lib/queue):
// queue files, their in-place status bytes and retry record, and defer/ID notes.
// Also used by queue control (listing, hold, release, delete, requeue).
#pragma once

#include <string>

#include "lib/queue/queue_file.h"
#include "lib/queue/spool.h"
#include "qmgr/store.h"

namespace postilion::qmgr {

// lib/queue's NOTIFY bits <-> lib/mail's.
unsigned notify_from_queue(uint8_t bits);
uint8_t notify_to_queue(unsigned bits);

class SpoolStore : public Store {
 public:
  explicit SpoolStore(std::string queue_directory) : spool_(std::move(queue_directory)) {}
  const queue::Spool& spool() const { return spool_; }

  std::vector<std::string> list(const std::string& queue) override;
  Result<StoredMessage> load(const std::string& queue, const std::string& id, bool* corrupt) override;
  Result<std::string> content(const std::string& queue, const std::string& id) override;
  Result<bool> is_done(const std::string& queue, const std::string& id, uint64_t offset) override;
  Status mark_done(const std::string& queue, const std::string& id, uint64_t offset, bool bounced) override;
  Status move(const std::string& id, const std::string& from, const std::string& to) override;
  Status remove(const std::string& queue, const std::string& id) override;
  Result<std::string> inject(const NewMessage& m) override;
  Result<int64_t> next_try(const std::string& id) override;
  Status set_next_try(const std::string& id, int64_t when) override;
  DeferInfo defer_info(const std::string& id) override;
  Status set_defer_info(const std::string& id, const DeferInfo& info) override;
  void drop_defer_info(const std::string& id) override;

  // Full parse of one file (for listings); error: environment; status Bad: corrupt.
  Result<queue::OpenedQueueFile> open(const std::string& queue, const std::string& id, bool for_update = false);

 private:
  Result<std::string> path(const std::string& queue, const std::string& id) const;
  queue::Spool spool_;
};

}  // namespace postilion::qmgr
