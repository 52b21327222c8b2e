// lib/ipc/anvil_table.cc - per-client connection counts and rates for anvil(8).
#include "lib/ipc/anvil_table.h"

#include <arpa/inet.h>

#include <algorithm>
#include <limits>

#include "lib/base/strings.h"

namespace postilion::ipc {

const char* anvil_event_name(AnvilEvent e) {
  switch (e) {
    case AnvilEvent::Message: return "message";
    case AnvilEvent::Recipient: return "recipient";
    case AnvilEvent::Auth: return "auth";
    case AnvilEvent::UserMessage: return "user_message";
    case AnvilEvent::UserRecipient: return "user_recipient";
  }
  return "message";
}

bool AnvilTable::ended(const Entry& e, int64_t now_ms) const {
  if (now_ms - e.connections.start_ms < unit_ms_) return false;
  for (int k = 0; k < kAnvilEvents; ++k) {
    int64_t unit = anvil_user_event(static_cast<AnvilEvent>(k)) ? kUserRateUnitMs : unit_ms_;
    if (e.events[k].rate > 0 && now_ms - e.events[k].start_ms < unit) return false;
  }
  return true;
}

AnvilTable::Entry* AnvilTable::find_or_make(const std::string& key, int64_t now_ms) {
  auto found = entries_.find(key);
  if (found != entries_.end()) return &found->second;
  if (entries_.size() >= max_keys_) {
    // Expiry walks the whole table: under a flood, once a second at most.
    if (!full_expire_ms_ || now_ms - *full_expire_ms_ >= 1000 || now_ms < *full_expire_ms_) {
      full_expire_ms_ = now_ms;
      expire(now_ms);
    }
    if (entries_.size() >= max_keys_) return nullptr;
  }
  return &entries_[key];
}

int AnvilTable::bump(Window& w, int64_t now_ms, int64_t unit_ms) const {
  if (w.rate == 0 || now_ms - w.start_ms >= unit_ms) {
    w.start_ms = now_ms;
    w.rate = 0;
  }
  if (w.rate < std::numeric_limits<int>::max()) ++w.rate;
  return w.rate;
}

AnvilTable::Counts AnvilTable::connect(uint64_t link, const std::string& key, int64_t now_ms) {
  Entry* e = find_or_make(key, now_ms);
  if (!e) return Counts{1, 1, false};
  int rate = bump(e->connections, now_ms, unit_ms_);
  ++e->count;
  ++links_[link][key];
  return Counts{e->count, rate};
}

int AnvilTable::event(AnvilEvent kind, const std::string& key, int64_t now_ms) {
  Entry* e = find_or_make(key, now_ms);
  if (!e) return 1;
  return bump(e->events[static_cast<int>(kind)], now_ms, anvil_user_event(kind) ? kUserRateUnitMs : unit_ms_);
}

void AnvilTable::disconnect(uint64_t link, const std::string& key) {
  auto l = links_.find(link);
  if (l == links_.end()) return;
  auto k = l->second.find(key);
  if (k == l->second.end()) return;
  if (--k->second == 0) l->second.erase(k);
  if (l->second.empty()) links_.erase(l);
  if (auto e = entries_.find(key); e != entries_.end() && e->second.count > 0) --e->second.count;
}

void AnvilTable::drop_link(uint64_t link) {
  auto l = links_.find(link);
  if (l == links_.end()) return;
  for (const auto& [key, n] : l->second) {
    auto e = entries_.find(key);
    if (e == entries_.end()) continue;
    e->second.count = e->second.count > n ? e->second.count - n : 0;
  }
  links_.erase(l);
}

void AnvilTable::expire(int64_t now_ms) {
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->second.count == 0 && ended(it->second, now_ms)) it = entries_.erase(it);
    else ++it;
  }
}

int AnvilTable::count(const std::string& key) const {
  auto e = entries_.find(key);
  return e == entries_.end() ? 0 : e->second.count;
}

Message anvil_request(bool connect, const std::string& service, const std::string& ip) {
  Message m;
  m.set("cmd", connect ? "connect" : "disconnect").set("service", service).set("client", ip);
  return m;
}

Message anvil_event_request(AnvilEvent kind, const std::string& service, const std::string& ip) {
  Message m;
  m.set("cmd", anvil_event_name(kind)).set("service", service).set("client", ip);
  return m;
}

Parsed<AnvilRequest> parse_anvil_request(const Message& m) {
  AnvilRequest r;
  std::string cmd = m.get_or("cmd", "");
  if (cmd == "connect") r.connect = true;
  else if (cmd == "message") r.event = AnvilEvent::Message;
  else if (cmd == "recipient") r.event = AnvilEvent::Recipient;
  else if (cmd == "auth") r.event = AnvilEvent::Auth;
  else if (cmd == "user_message") r.event = AnvilEvent::UserMessage;
  else if (cmd == "user_recipient") r.event = AnvilEvent::UserRecipient;
  else if (cmd != "disconnect") return Parsed<AnvilRequest>::bad("bad cmd " + str::printable(cmd, 40));
  std::string service = m.get_or("service", "");
  std::string ip = m.get_or("client", "");
  if (service.empty() || service.size() > 100 || service.find_first_of(" \t\r\n") != std::string::npos)
    return Parsed<AnvilRequest>::bad("bad service " + str::printable(service, 40));
  if (r.event && anvil_user_event(*r.event)) {
    // A login: any bytes but controls and white space (the key's separator), bounded.
    if (service != kUserEventService) return Parsed<AnvilRequest>::bad("user event for service " + str::printable(service, 40));
    if (ip.empty() || ip.size() > kMaxUserName)
      return Parsed<AnvilRequest>::bad("bad user " + str::printable(ip, 60));
    for (unsigned char ch : ip)
      if (ch <= ' ' || ch == 0x7f) return Parsed<AnvilRequest>::bad("bad user " + str::printable(ip, 60));
    r.key = service + " " + ip;
    return r;
  }
  unsigned char buf[16];
  if (inet_pton(AF_INET, ip.c_str(), buf) != 1 && inet_pton(AF_INET6, ip.c_str(), buf) != 1)
    return Parsed<AnvilRequest>::bad("bad client " + str::printable(ip, 60));
  r.key = service + " " + ip;  // a service name may hold ":" (127.0.0.1:25), never a space
  return r;
}

Message anvil_reply(const AnvilTable::Counts& c) {
  Message m;
  m.set("status", "ok").set("count", int64_t(c.count)).set("rate", int64_t(c.rate));
  return m;
}

std::optional<AnvilTable::Counts> parse_anvil_reply(const Message& m) {
  auto count = m.get_int("count");
  auto rate = m.get_int("rate");
  if (m.get_or("status", "") != "ok" || !count || !rate || *count < 1 || *rate < 1 ||
      *count > 0x7fffffff || *rate > 0x7fffffff)
    return std::nullopt;
  return AnvilTable::Counts{static_cast<int>(*count), static_cast<int>(*rate)};
}

Message anvil_event_reply(int rate) {
  Message m;
  m.set("status", "ok").set("rate", int64_t(rate));
  return m;
}

std::optional<int> parse_anvil_event_reply(const Message& m) {
  auto rate = m.get_int("rate");
  if (m.get_or("status", "") != "ok" || !rate || *rate < 1 || *rate > 0x7fffffff) return std::nullopt;
  return static_cast<int>(*rate);
}

}  // namespace postilion::ipc
