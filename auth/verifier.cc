// auth/verifier.cc - the crypt(3) worker threads.
#include "auth/verifier.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstring>

#include "lib/log/log.h"
#include "lib/password/password.h"

namespace postilion::auth {

Verifier::Verifier(event::EventBase& base, int threads) {
  efd_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!efd_) PANIC("eventfd: %s", std::strerror(errno));
  ev_ = event::Event(base, efd_.get(), EV_READ | EV_PERSIST, [this](short) { collect(); });
  ev_.add();
  if (threads < 1) {
    unsigned n = std::thread::hardware_concurrency();
    threads = static_cast<int>(n == 0 ? 1 : std::min(n, 8u));
  }
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { work(); });
}

Verifier::~Verifier() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stop_ = true;
    for (auto& j : jobs_) explicit_bzero(j.password.data(), j.password.size());
    jobs_.clear();
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void Verifier::verify(std::string password, std::string hash, Done done) {
  uint64_t id = next_id_++;
  callbacks_.emplace(id, std::move(done));
  {
    std::lock_guard<std::mutex> g(mu_);
    jobs_.push_back(Job{id, std::move(password), std::move(hash)});
  }
  cv_.notify_one();
}

void Verifier::work() {
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [this] { return stop_ || !jobs_.empty(); });
      if (stop_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    bool ok = password::verify_password(job.password, job.hash);
    explicit_bzero(job.password.data(), job.password.size());
    {
      std::lock_guard<std::mutex> g(mu_);
      results_.emplace_back(job.id, ok);
    }
    uint64_t one = 1;
    // A full counter (impossible in practice) still leaves the fd readable.
    (void)!::write(efd_.get(), &one, sizeof one);
  }
}

void Verifier::collect() {
  uint64_t n;
  (void)!::read(efd_.get(), &n, sizeof n);
  std::vector<std::pair<uint64_t, bool>> done;
  {
    std::lock_guard<std::mutex> g(mu_);
    done.swap(results_);
  }
  for (auto [id, ok] : done) {
    auto it = callbacks_.find(id);
    if (it == callbacks_.end()) continue;
    Done cb = std::move(it->second);
    callbacks_.erase(it);
    cb(ok);
  }
}

}  // namespace postilion::auth
