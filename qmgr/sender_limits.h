// qmgr/sender_limits.h - the per-user outbound limits of local senders
// (local_sender_message_rate_limit, local_sender_recipient_rate_limit): messages and
// recipients per hour per uid that sendmail/postdrop puts into maildrop/. A file over a
// limit waits in maildrop/ (nothing is lost, nothing bounced) and is picked up once the
// hour's window lets it; qmgr is one process, so its own counts are the whole count.
// root (uid 0: cron, system notices) is not limited.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace postilion::qmgr {

class SenderLimits {
 public:
  static constexpr int64_t kWindowSeconds = 3600;
  static constexpr size_t kMaxUsers = 100000;  // bounded memory: past it, nobody new is counted

  SenderLimits(int message_limit, int recipient_limit) : messages_(message_limit), recipients_(recipient_limit) {}
  bool active() const { return messages_ > 0 || recipients_ > 0; }

  enum class Verdict { Admit, Messages, Recipients };
  // One message of uid with rcpts recipients at now (seconds): Admit counts it; over a
  // limit nothing is counted and the caller keeps the file for later.
  Verdict admit(const std::string& uid, size_t rcpts, int64_t now);
  // What uid has used in its current window (tests, log lines).
  int messages(const std::string& uid) const;
  int recipients(const std::string& uid) const;

 private:
  struct Window {
    int64_t start = 0;
    int messages = 0;
    long recipients = 0;
  };
  int messages_, recipients_;
  std::map<std::string, Window> users_;
};

}  // namespace postilion::qmgr
