// qmgr/pickup_milters.h - the mail filters of mail submitted with sendmail/postdrop
// (non_smtpd_milters), run as Postfix's cleanup runs them for pickup: one milter session
// per message on qmgr's loop, an SMTP transaction emulated (connect from localhost
// [127.0.0.1], HELO localhost, MAIL, RCPT, DATA, then the message read from its maildrop
// file). The verdict goes to `report`, which may run inside start(): the daemon only
// notes it there and hands it to the Manager from its pump.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lib/event/event.h"
#include "lib/milter/session.h"
#include "lib/queue/queue_file.h"
#include "qmgr/manager.h"

namespace postilion::qmgr {

struct PickupMilterConfig {
  milter::MilterConfig milters;   // non_smtpd_milters and the milter_* parameters
  std::string maildrop_dir;       // where the messages' files are
  std::string myhostname;         // {j}
  std::string daemon_name;        // {daemon_name}
  std::string macro_v;            // {v}
};

class PickupMilters : public PickupFilter {
 public:
  using Report = std::function<void(const std::string& maildrop_id, const PickupVerdict& v)>;
  PickupMilters(event::EventBase& base, PickupMilterConfig cfg, Report report);
  ~PickupMilters() override;
  void start(const std::string& id, const NewMessage& m) override;

  // What a milter verdict and the filters' edits make of a picked-up message.
  static PickupVerdict verdict(const milter::MilterVerdict& v, milter::MilterMessage* msg, bool quarantine_by_default);

 private:
  struct Job;
  Job* find(const std::string& id);
  std::optional<std::string> macro(const std::string& id, std::string_view name);
  // Each stage's answer; false when the job ended with it.
  bool stage_ok(Job& j, const milter::MilterVerdict& v);
  void helo(Job& j);
  void mail(Job& j);
  void rcpts(Job& j);
  void data(Job& j);
  void message(Job& j);
  void finish(Job& j, const PickupVerdict& v);

  event::EventBase& base_;
  PickupMilterConfig cfg_;
  Report report_;
  std::map<std::string, std::unique_ptr<Job>> jobs_;
};

}  // namespace postilion::qmgr
