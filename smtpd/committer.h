// smtpd/committer.h - makes queue files durable off the event loop, in groups.
// Sessions hand over a prepared QueueWriter; one worker thread runs the blocking part
// (fsync, rename, fsync of incoming/) for every writer that is waiting, so concurrent
// sessions share one directory fsync (group commit). Results come back on the loop
// through a pipe, in the order submitted within each group.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "lib/base/result.h"
#include "lib/base/unique_fd.h"
#include "lib/event/event.h"
#include "lib/queue/queue_writer.h"

namespace postilion::smtpd {

class Committer {
 public:
  // Runs on the loop with the queue ID or the error. The writer is already gone.
  using Done = std::function<void(Result<std::string>)>;

  // group_delay_us: how long the worker waits for more commits before it syncs a
  // group (smtpd_fsync_group_delay; 0 = take what is there).
  explicit Committer(event::EventBase& base, int group_delay_us = 0);
  ~Committer();  // joins the worker; jobs still queued are committed first
  Committer(const Committer&) = delete;
  Committer& operator=(const Committer&) = delete;

  // writer must have been prepare_commit()ed. Nobody touches it until done runs.
  void submit(std::unique_ptr<queue::QueueWriter> writer, Done done);
  size_t in_flight() const { return in_flight_; }

 private:
  struct Job {
    std::unique_ptr<queue::QueueWriter> writer;
    Done done;
    Result<std::string> result = Error("not committed");
  };
  void worker();
  void deliver();  // on the loop: runs the callbacks of finished jobs

  event::EventBase& base_;
  UniqueFd wake_read_, wake_write_;
  event::Event wake_event_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Job>> todo_;  // guarded by mu_
  std::deque<std::unique_ptr<Job>> done_;  // guarded by mu_
  bool stop_ = false;                      // guarded by mu_
  size_t in_flight_ = 0;                   // loop thread only
  int group_delay_us_ = 0;
  // Several workers: while one group is in fsync, the next group starts its own, and
  // the filesystem journal commits the overlapping fsyncs together.
  std::vector<std::thread> threads_;
};

}  // namespace postilion::smtpd
