// lib/queue/delivery_reply.cc - the agents' reply: one builder, one parser.
#include "lib/queue/delivery_reply.h"

#include "lib/base/strings.h"
#include "lib/log/log.h"

namespace postilion::queue {

const char* reply_result(Fate f) {
  switch (f) {
    case Fate::Sent: return "sent";
    case Fate::Bounced: return "bounce";
    case Fate::Deferred: break;
  }
  return "defer";
}

const char* log_status(Fate f) {
  switch (f) {
    case Fate::Sent: return "sent";
    case Fate::Bounced: return "bounced";
    case Fate::Deferred: break;
  }
  return "deferred";
}

namespace {

DeliveryReply refused(std::string why) {
  DeliveryReply r;
  r.error = std::move(why);
  return r;
}

// Sets one attribute of the recipient group being read; other names are ignored.
void read_rcpt_attribute(RcptResult& cur, const std::string& name, const std::string& value) {
  if (name == "result") {
    cur.result = value;
  } else if (name == "dsn") {
    cur.dsn = value;
  } else if (name == "text") {
    cur.text = value;
  } else if (name == "relay") {
    cur.relay = value;
  } else if (name == "expanded") {
    cur.expanded.push_back({value, "", ""});
  } else if (name == "expanded_dsn" && !cur.expanded.empty()) {
    cur.expanded.back().dsn = value;
  } else if (name == "expanded_text" && !cur.expanded.empty()) {
    cur.expanded.back().text = value;
  }
}

}  // namespace

DeliveryReply parse_delivery_reply(const ipc::Message& m) {
  auto status = m.get("status");
  if (!status) return refused("agent reply without status");
  if (*status != "ok")
    return refused("agent refused the request: " + str::printable(m.get_or("text", "no reason given"), 300));
  DeliveryReply r;
  bool logged = false;
  for (const auto& [name, value] : m.attrs()) {
    if (name == "rcpt") {
      r.rcpts.push_back({value, "", "", "", "", {}, logged});
    } else if (r.rcpts.empty()) {
      if (name == "logged") logged = value == "yes";  // status and other per-request attributes
    } else {
      read_rcpt_attribute(r.rcpts.back(), name, value);
    }
  }
  for (const auto& rc : r.rcpts) {
    if (rc.result != "sent" && rc.result != "defer" && rc.result != "bounce")
      return refused("agent reply with bad result \"" + str::printable(rc.result, 300) + "\"");
    // Bounced parts of an expansion follow a delivered recipient only (protocols.h).
    if (!rc.expanded.empty() && rc.result != "sent")
      return refused("agent reply with expanded destinations of an undelivered recipient");
  }
  r.ok = true;
  return r;
}

ipc::Message delivery_error_reply(std::string_view why) {
  ipc::Message m;
  m.set("status", "error").set("text", std::string(why));
  return m;
}

DeliveryReplyBuilder::DeliveryReplyBuilder(bool logged) {
  m_.set("status", "ok");
  // Before the first recipient: qmgr reads per-request attributes there.
  if (logged) m_.set("logged", "yes");
}

void DeliveryReplyBuilder::add(std::string_view rcpt, Fate fate, std::string_view dsn, std::string_view text,
                               std::string_view relay) {
  m_.set("rcpt", std::string(rcpt)).set("result", reply_result(fate)).set("dsn", std::string(dsn));
  m_.set("text", std::string(text)).set("relay", std::string(relay));
  last_ = fate;
}

void DeliveryReplyBuilder::add_expanded(const ExpandedResult& x) {
  if (last_ != Fate::Sent) PANIC("delivery reply: expanded destination without a delivered recipient");
  m_.set("expanded", x.address).set("expanded_dsn", x.dsn).set("expanded_text", x.text);
}

}  // namespace postilion::queue
