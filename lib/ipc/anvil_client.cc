// lib/ipc/anvil_client.cc - per-client connection limits through anvil(8), with this
// process's own counts as the fallback.
#include "lib/ipc/anvil_client.h"

#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/log/log.h"

namespace postilion::ipc {

AnvilVerdict anvil_verdict(const AnvilLimits& l, int count, int rate) {
  if (l.count_limit > 0 && count > l.count_limit) return AnvilVerdict::CountExceeded;
  if (l.rate_limit > 0 && rate > l.rate_limit) return AnvilVerdict::RateExceeded;
  return AnvilVerdict::Admit;
}

std::string anvil_warning(AnvilVerdict v, int count, int rate, const std::string& client,
                          const std::string& service) {
  switch (v) {
    case AnvilVerdict::CountExceeded:
      return str::format("Connection concurrency limit exceeded: %d from %s for service %s", count, client.c_str(),
                         service.c_str());
    case AnvilVerdict::RateExceeded:
      return str::format("Connection rate limit exceeded: %d from %s for service %s", rate, client.c_str(),
                         service.c_str());
    case AnvilVerdict::Admit:
      break;
  }
  return "";
}

std::string anvil_event_warning(AnvilEvent kind, int rate, const std::string& client, const std::string& service) {
  const char* what = "Message delivery request";
  if (kind == AnvilEvent::Recipient) what = "Recipient address";
  else if (kind == AnvilEvent::Auth) what = "AUTH command";
  else if (kind == AnvilEvent::UserMessage) what = "SASL user message";
  else if (kind == AnvilEvent::UserRecipient) what = "SASL user recipient";
  return str::format("%s rate limit exceeded: %d from %s for service %s", what, rate, client.c_str(),
                     service.c_str());
}

AnvilClient::AnvilClient(event::EventBase& base, std::string socket_path, std::string service, AnvilLimits limits,
                         int timeout_ms)
    : service_(std::move(service)), limits_(limits),
      link_(base, std::move(socket_path), "anvil", timeout_ms, false),
      local_(limits.rate_unit_ms > 0 ? limits.rate_unit_ms : 60000) {}

AnvilClient::Ticket AnvilClient::begin(const std::string& ip, DecisionCallback cb) {
  int64_t now = file::monotonic_ms();
  // Idle keys of the local table go once per rate unit (the table's own expiry runs
  // only when it is full).
  if (now - local_expired_ms_ >= limits_.rate_unit_ms) {
    local_.expire(now);
    local_expired_ms_ = now;
  }
  AnvilTable::Counts local = local_.connect(0, ip, now);
  Ticket t = next_++;
  open_[t] = Open{ip, 0, std::move(cb)};
  link_.call(anvil_request(true, service_, ip),
             [this, t, ip, local](const Message* reply) { on_answer(t, ip, reply, local); });
  return t;
}

void AnvilClient::on_answer(Ticket t, const std::string& ip, const Message* reply,
                            const AnvilTable::Counts& local) {
  std::optional<AnvilTable::Counts> c;
  if (reply) {
    c = parse_anvil_reply(*reply);
    if (!c) log::warn("anvil: malformed reply; using this process's counts");
  }
  auto it = open_.find(t);
  if (it == open_.end()) {
    // The session ended while anvil was asked: take back what anvil just counted.
    if (c) link_.post(anvil_request(false, service_, ip), link_.generation());
    return;
  }
  if (c) it->second.generation = link_.generation();
  Decision d;
  d.count = c ? c->count : local.count;
  d.rate = c ? c->rate : local.rate;
  d.from_anvil = c.has_value();
  d.verdict = anvil_verdict(limits_, d.count, d.rate);
  // The callback may end the session (and so this entry) at once: move it out first.
  DecisionCallback cb = std::move(it->second.cb);
  it->second.cb = nullptr;
  if (cb) cb(t, d);
}

void AnvilClient::event(AnvilEvent kind, const std::string& ip, RateCallback cb) {
  const std::string service = anvil_user_event(kind) ? std::string(kUserEventService) : service_;
  link_.call(anvil_event_request(kind, service, ip), [cb = std::move(cb)](const Message* reply) {
    int rate = 0;
    if (reply) {
      if (auto r = parse_anvil_event_reply(*reply)) rate = *r;
      else log::warn("anvil: malformed reply; no event rate limit applied");
    }
    cb(rate);
  });
}

void AnvilClient::end(Ticket t) {
  auto it = open_.find(t);
  if (it == open_.end()) return;
  if (it->second.generation) link_.post(anvil_request(false, service_, it->second.ip), it->second.generation);
  local_.disconnect(0, it->second.ip);
  open_.erase(it);
}

}  // namespace postilion::ipc
