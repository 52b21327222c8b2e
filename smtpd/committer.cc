// smtpd/committer.cc - group commit of queue files on a worker thread.
#include "smtpd/committer.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>

#include "lib/log/log.h"

namespace postilion::smtpd {
namespace {
constexpr int kWorkers = 4;
}  // namespace

Committer::Committer(event::EventBase& base, int group_delay_us)
    : base_(base), group_delay_us_(group_delay_us) {
  int p[2];
  if (pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) PANIC("committer: pipe: %m");
  wake_read_.reset(p[0]);
  wake_write_.reset(p[1]);
  wake_event_ = event::Event(base_, wake_read_.get(), EV_READ | EV_PERSIST, [this](short) {
    char buf[256];
    while (::read(wake_read_.get(), buf, sizeof buf) > 0) {
    }
    deliver();
  });
  wake_event_.add();
  for (int i = 0; i < kWorkers; ++i) threads_.emplace_back([this] { worker(); });
}

Committer::~Committer() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

void Committer::submit(std::unique_ptr<queue::QueueWriter> writer, Done done) {
  auto job = std::make_unique<Job>();
  job->writer = std::move(writer);
  job->done = std::move(done);
  ++in_flight_;
  {
    std::lock_guard<std::mutex> lock(mu_);
    todo_.push_back(std::move(job));
  }
  cv_.notify_one();
}

void Committer::worker() {
  for (;;) {
    std::vector<std::unique_ptr<Job>> batch;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !todo_.empty(); });
      if (todo_.empty() && stop_) return;
      if (group_delay_us_ > 0 && !stop_) {
        // Let concurrent sessions join this group; fewer, larger fsync batches.
        cv_.wait_for(lock, std::chrono::microseconds(group_delay_us_), [this] { return stop_; });
      }
      // Everything that queued up while the last group was syncing goes in one group.
      while (!todo_.empty()) {
        batch.push_back(std::move(todo_.front()));
        todo_.pop_front();
      }
    }
    std::vector<queue::QueueWriter*> writers;
    for (auto& j : batch) writers.push_back(j->writer.get());
    auto results = queue::QueueWriter::finish_commit_group(writers);
    for (size_t i = 0; i < batch.size(); ++i) {
      batch[i]->result = i < results.size() ? std::move(results[i]) : Error("commit: no result");
      // A writer that failed removes its temporary file here, off the loop.
      if (!batch[i]->result) batch[i]->writer->abort();
      batch[i]->writer.reset();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& j : batch) done_.push_back(std::move(j));
    }
    char c = 1;
    // A full pipe already holds a wake-up; nothing is lost.
    ssize_t n = ::write(wake_write_.get(), &c, 1);
    (void)n;
  }
}

void Committer::deliver() {
  std::deque<std::unique_ptr<Job>> ready;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ready.swap(done_);
  }
  for (auto& j : ready) {
    --in_flight_;
    j->done(std::move(j->result));
  }
}

}  // namespace postilion::smtpd
