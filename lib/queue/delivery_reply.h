// lib/queue/delivery_reply.h - a delivery agent's reply to qmgr's request (lib/ipc/
// protocols.h, "delivery"): built by every agent (local, virtual, smtp) with one
// builder, read by qmgr with one parser.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/ipc/message.h"

namespace postilion::queue {

// What became of one recipient.
enum class Fate { Sent, Bounced, Deferred };
// The reply's result= ("sent", "bounce", "defer") and the log line's status= ("sent",
// "bounced", "deferred").
const char* reply_result(Fate f);
const char* log_status(Fate f);

// A bounced destination of a delivered recipient's expansion (report=expanded).
struct ExpandedResult {
  std::string address, dsn, text;
};

// One recipient's outcome as the reply carries it.
struct RcptResult {
  std::string rcpt, result, dsn, text, relay;  // result: sent, defer or bounce
  // result=sent with parts of the recipient's expansion bounced (local, report=expanded):
  // each is reported on its own.
  std::vector<ExpandedResult> expanded;
  bool logged = false;  // the agent logged the outcome line itself (reply logged=yes)
};

struct DeliveryReply {
  bool ok = false;     // false: the agent could not be reached, refused, or replied garbage
  std::string error;   // why, when !ok (the recipients' defer reason)
  std::vector<RcptResult> rcpts;  // in request order; empty when !ok
};

// Parses an agent's reply. Garbage (no status, a refusal, a result other than sent,
// defer or bounce, expanded destinations of an undelivered recipient) is !ok with a
// printable, bounded reason, and no outcome to act on. Unknown attributes are ignored.
DeliveryReply parse_delivery_reply(const ipc::Message& m);

// The reply to a request that makes no sense (another command, a bad ID, a sender that
// is not the queue file's): status=error, text=why. qmgr defers every recipient.
ipc::Message delivery_error_reply(std::string_view why);

// Builds status=ok, then logged=yes when the agent logs its own outcome lines, then one
// group per recipient in request order, each followed by its expanded destinations.
class DeliveryReplyBuilder {
 public:
  explicit DeliveryReplyBuilder(bool logged);
  void add(std::string_view rcpt, Fate fate, std::string_view dsn, std::string_view text, std::string_view relay);
  // A bounced destination of the recipient added last, which must be Sent (else a
  // panic: qmgr would refuse the whole reply).
  void add_expanded(const ExpandedResult& x);
  const ipc::Message& message() const { return m_; }

 private:
  ipc::Message m_;
  std::optional<Fate> last_;
};

}  // namespace postilion::queue
