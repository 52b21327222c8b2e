// lib/queue/spool_store.h - the Store of the queue manager on the real spool (lib/queue):
// queue files, their in-place status bytes and retry record, and defer/ID notes.
// Also used by queue control (listing, hold, release, delete, requeue).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "lib/queue/queue_file.h"
#include "lib/queue/spare.h"
#include "lib/queue/spool.h"
#include "lib/queue/store.h"

namespace postilion::queue {

// lib/queue's NOTIFY bits <-> lib/mail's.
unsigned notify_from_queue(uint8_t bits);
uint8_t notify_to_queue(unsigned bits);

class SpoolStore : public Store {
 public:
  // recycle_limit: how many finished files spare/ may hold (queue_file_recycle_limit).
  explicit SpoolStore(std::string queue_directory, size_t recycle_limit = 0)
      : spool_(std::move(queue_directory)), recycle_limit_(recycle_limit), spares_(spool_.dir(queue::Folder::Spare)) {}
  const queue::Spool& spool() const { return spool_; }

  std::vector<std::string> list(const std::string& queue) override;
  Result<StoredMessage> load(const std::string& queue, const std::string& id, bool* corrupt) override;
  Result<std::string> content(const std::string& queue, const std::string& id) override;
  Result<bool> is_done(const std::string& queue, const std::string& id, uint64_t offset) override;
  Status mark_done(const std::string& queue, const std::string& id, uint64_t offset, bool bounced) override;
  Status move(const std::string& id, const std::string& from, const std::string& to) override;
  Status remove(const std::string& queue, const std::string& id) override;
  // Moves the finished file to spare/ for smtpd to write over (lib/queue/spare.h) while
  // spare/ holds fewer than the limit, else unlinks it.
  Status retire(const std::string& id) override;
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
  bool spare_room();

  queue::Spool spool_;
  size_t recycle_limit_;
  queue::SparePool spares_;  // for inject(): reports and maildrop pickups
  // What spare/ holds, as far as qmgr knows: smtpd takes files without telling, so
  // when this reaches the limit spare/ is counted again, at most every kSpareRecount_us:
  // a readdir of at most the limit's names, some 100 a second while spare/ is full. (At
  // a second, smtpd took the files of a busy spool faster than qmgr could see: most
  // were unlinked.)
  static constexpr int64_t kSpareRecount_us = 10000;
  size_t spare_count_ = SIZE_MAX;
  int64_t next_count_us_ = 0;
};

}  // namespace postilion::queue
