// qmgr/sender_limits.cc - per local sender message and recipient counts per hour.
#include "qmgr/sender_limits.h"

namespace postilion::qmgr {

SenderLimits::Verdict SenderLimits::admit(const std::string& uid, size_t rcpts, int64_t now) {
  if (!active() || uid == "0") return Verdict::Admit;
  auto it = users_.find(uid);
  if (it == users_.end()) {
    if (users_.size() >= kMaxUsers) {
      // Forget windows that ended; if every user is still counting, the newcomer passes.
      for (auto j = users_.begin(); j != users_.end();)
        j = now - j->second.start >= kWindowSeconds || now < j->second.start ? users_.erase(j) : std::next(j);
      if (users_.size() >= kMaxUsers) return Verdict::Admit;
    }
    it = users_.emplace(uid, Window{now, 0, 0}).first;
  }
  Window& w = it->second;
  if (now - w.start >= kWindowSeconds || now < w.start) w = Window{now, 0, 0};
  if (messages_ > 0 && w.messages + 1 > messages_) return Verdict::Messages;
  // A message with more recipients than the whole limit would never pass: it passes
  // alone in a fresh window instead of waiting for ever.
  if (recipients_ > 0 && w.recipients + static_cast<long>(rcpts) > recipients_ && w.recipients > 0)
    return Verdict::Recipients;
  ++w.messages;
  w.recipients += static_cast<long>(rcpts);
  return Verdict::Admit;
}

int SenderLimits::messages(const std::string& uid) const {
  auto it = users_.find(uid);
  return it == users_.end() ? 0 : it->second.messages;
}

int SenderLimits::recipients(const std::string& uid) const {
  auto it = users_.find(uid);
  return it == users_.end() ? 0 : static_cast<int>(it->second.recipients);
}

}  // namespace postilion::qmgr
