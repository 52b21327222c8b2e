// auth/verifier.h - crypt(3) checks on worker threads. A yescrypt check takes tens of
// milliseconds of CPU; done on the event loop it would stall every other request, so
// the loop hands (password, hash) to a worker and gets the verdict back through an
// eventfd. Callbacks run on the loop thread only. Passwords are wiped after use.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "lib/base/unique_fd.h"
#include "lib/event/event.h"

namespace postilion::auth {

class Verifier {
 public:
  using Done = std::function<void(bool ok)>;
  // threads < 1 means one per CPU (at most 8).
  Verifier(event::EventBase& base, int threads);
  ~Verifier();  // stops the workers; pending callbacks are dropped
  Verifier(const Verifier&) = delete;
  Verifier& operator=(const Verifier&) = delete;

  void verify(std::string password, std::string hash, Done done);
  size_t pending() const { return callbacks_.size(); }

 private:
  struct Job {
    uint64_t id;
    std::string password, hash;
  };
  void work();
  void collect();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  std::vector<std::pair<uint64_t, bool>> results_;
  bool stop_ = false;
  std::map<uint64_t, Done> callbacks_;  // loop thread only
  uint64_t next_id_ = 1;
  UniqueFd efd_;
  event::Event ev_;
  std::vector<std::thread> threads_;
};

}  // namespace postilion::auth
