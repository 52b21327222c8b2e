// lib/ipc/service_link.cc - the shared, in-order request link to a helper service.
#include "lib/ipc/service_link.h"

#include <cerrno>

#include "lib/base/file.h"
#include "lib/log/log.h"

namespace postilion::ipc {

namespace {
// After a failure, connection attempts pause this long: a hung service would
// otherwise cost every new client the full timeout.
constexpr int64_t kRetryPauseMs = 1000;
constexpr size_t kMaxReplyFrame = 65536;
}  // namespace

ServiceLink::ServiceLink(event::EventBase& base, std::string path, std::string what, int timeout_ms,
                         bool quiet_if_absent, bool* shared_warned)
    : base_(base), path_(std::move(path)), what_(std::move(what)), timeout_ms_(timeout_ms),
      quiet_if_absent_(quiet_if_absent), warned_(shared_warned ? *shared_warned : own_warned_) {}

ServiceLink::~ServiceLink() {
  if (channel_) channel_->shutdown();
}

bool ServiceLink::ensure_connected() {
  if (channel_) return true;
  if (file::monotonic_ms() < retry_after_ms_) return false;
  auto ch = Channel::connect(base_, path_, kMaxReplyFrame, -1);
  if (!ch) {
    retry_after_ms_ = file::monotonic_ms() + kRetryPauseMs;
    bool absent = ch.error().code() == ENOENT;
    if (!warned_ && !(absent && quiet_if_absent_))
      log::warn("%s unavailable: %s", what_.c_str(), ch.error().c_str());
    warned_ = true;
    return false;
  }
  channel_ = std::move(ch.value());
  ++generation_;
  channel_->on_message([this](Message&& m) { on_reply(std::move(m)); });
  channel_->on_close([this](const std::string& why) { fail_all(why); });
  channel_->start();
  return true;
}

void ServiceLink::call(const Message& request, ReplyCallback cb) {
  if (!ensure_connected()) {
    cb(nullptr);
    return;
  }
  pending_.push_back(Pending{std::move(cb), file::monotonic_ms() + timeout_ms_});
  channel_->send(request);
  if (pending_.size() == 1) arm_timer();
}

void ServiceLink::post(const Message& request, uint64_t generation) {
  if (channel_ && generation == generation_) channel_->send(request);
}

void ServiceLink::on_reply(Message&& m) {
  if (pending_.empty()) {
    fail_all("reply without a request");
    return;
  }
  if (warned_) log::info("%s available again", what_.c_str());
  warned_ = false;
  Pending p = std::move(pending_.front());
  pending_.pop_front();
  arm_timer();
  p.cb(&m);
}

void ServiceLink::arm_timer() {
  if (pending_.empty()) {
    if (timer_) timer_.stop();
    return;
  }
  if (!timer_) timer_ = event::Timer(base_, [this] { fail_all("timeout"); });
  int64_t wait = pending_.front().deadline_ms - file::monotonic_ms();
  timer_.start(wait > 0 ? wait : 0);
}

// The connection is useless once a reply is missing (the rest would be matched to the
// wrong requests): drop it, and answer every waiting caller with nullptr.
void ServiceLink::fail_all(const std::string& why) {
  if (channel_) {
    // A service may close an idle connection (qmgr does): that is no outage.
    bool idle_close = pending_.empty() && why == "closed";
    if (!warned_ && !idle_close) {
      log::warn("%s: %s; going on without it", what_.c_str(), why.c_str());
      warned_ = true;
    }
    channel_->shutdown();
    base_.defer_delete(std::move(channel_));
    if (!idle_close) retry_after_ms_ = file::monotonic_ms() + kRetryPauseMs;
  }
  if (timer_) timer_.stop();
  std::deque<Pending> waiting;
  waiting.swap(pending_);
  for (auto& p : waiting) p.cb(nullptr);
}

}  // namespace postilion::ipc
