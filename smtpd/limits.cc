// smtpd/limits.cc - the per-client event rate limits (smtpd_client_message_rate_limit,
// _recipient_rate_limit, _auth_rate_limit): each MAIL FROM, RCPT TO and AUTH is counted
// by anvil(8) over all smtpd processes of the service, and the command waits for the
// count without holding up the event loop. Replies and warnings are Postfix's. And the
// per-user outbound limits (smtpd_sasl_user_message_rate_limit, _recipient_rate_limit):
// MAIL FROM and RCPT TO of a logged-in client counted per SASL login and hour over every
// service, so a stolen password sends a bounded amount however it connects.
#include "lib/base/strings.h"
#include "lib/log/log.h"
#include "smtpd/server.h"
#include "smtpd/session.h"

namespace postilion::smtpd {

using smtp::Reply;

namespace {

int limit_of(const Settings& s, ipc::AnvilEvent kind) {
  switch (kind) {
    case ipc::AnvilEvent::Message: return s.message_rate_limit;
    case ipc::AnvilEvent::Recipient: return s.recipient_rate_limit;
    case ipc::AnvilEvent::Auth: return s.auth_rate_limit;
    case ipc::AnvilEvent::UserMessage: return s.sasl_user_message_rate_limit;
    case ipc::AnvilEvent::UserRecipient: return s.sasl_user_recipient_rate_limit;
  }
  return 0;
}

}  // namespace

Reply event_limit_reply(ipc::AnvilEvent kind, const std::string& who) {
  switch (kind) {
    case ipc::AnvilEvent::Message: return smtp::reply(450, "4.7.1", "Error: too much mail from " + who);
    case ipc::AnvilEvent::Recipient: return smtp::reply(450, "4.7.1", "Error: too many recipients from " + who);
    case ipc::AnvilEvent::Auth: return smtp::reply(450, "4.7.1", "Error: too many AUTH commands from " + who);
    case ipc::AnvilEvent::UserMessage:
      return smtp::reply(450, "4.7.1", "Error: too much mail from user " + str::printable(who, 100) + " this hour; try again later");
    case ipc::AnvilEvent::UserRecipient:
      return smtp::reply(450, "4.7.1", "Error: too many recipients from user " + str::printable(who, 100) + " this hour; try again later");
  }
  return Reply{};
}

void Session::check_event_limits(ipc::AnvilEvent kind, ipc::AnvilEvent user_kind,
                                 std::function<void(const Reply&)> then) {
  check_event_limit(kind, [this, user_kind, then = std::move(then)](const Reply& over) mutable {
    if (!over.empty()) return then(over);
    check_event_limit(user_kind, std::move(then));
  });
}

void Session::check_event_limit(ipc::AnvilEvent kind, std::function<void(const Reply&)> then) {
  int limit = limit_of(server_.settings(), kind);
  bool user = ipc::anvil_user_event(kind);
  // A user's limit holds wherever the user connects from; a client's spares the exceptions.
  if (limit <= 0 || (user ? sasl_user_.empty() : server_.limit_exempt(facts_.ip))) return then(Reply{});
  limit_then_ = std::move(then);
  limit_inline_ = true;
  limit_answered_inline_ = false;
  Server* server = &server_;
  uint64_t id = id_;
  server_.anvil().event(kind, user ? sasl_user_ : facts_.ip, [server, id, kind, limit](int rate) {
    if (Session* s = server->find(id)) s->event_counted(kind, limit, rate);
  });
  limit_inline_ = false;
  if (limit_answered_inline_) {
    auto then_now = std::move(limit_then_);
    limit_then_ = nullptr;
    then_now(limit_reply_);
    return;
  }
  state_ = State::Limits;
  suspend();
}

void Session::event_counted(ipc::AnvilEvent kind, int limit, int rate) {
  limit_reply_ = Reply{};
  if (rate > limit) {
    bool user = ipc::anvil_user_event(kind);
    std::string who = user ? "sasl_username=" + str::printable(sasl_user_, 100) + " from " + facts_.label() : facts_.label();
    log::warn("%s", ipc::anvil_event_warning(kind, rate, who, server_.service_name()).c_str());
    limit_reply_ = event_limit_reply(kind, user ? sasl_user_ : facts_.ip);
  }
  if (limit_inline_) {  // check_event_limit() goes on when call() returns
    limit_answered_inline_ = true;
    return;
  }
  if (state_ != State::Limits || !limit_then_) return;  // the session ended its wait
  state_ = State::Ready;
  auto then = std::move(limit_then_);
  limit_then_ = nullptr;
  then(limit_reply_);
  // A session that waits again (DNS, an error delay, AUTH's auth service) is resumed by
  // what it waits for; Ready and AuthLine read on.
  if (!suspended()) resume();
  else flush();
}

}  // namespace postilion::smtpd
