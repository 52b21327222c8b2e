// lib/ipc/anvil_table.h - the counting behind anvil(8): simultaneous connections and
// connection rates per (service, client address), over all processes of the servers
// that ask (smtpd, pop3d), and the rates of a client's events (messages, recipients,
// AUTH commands) in the same window. Each connection count belongs to the link (one server process's
// connection to anvil) that made it,
// so a process that exits or crashes takes its sessions out of the count.
// No I/O and no clock of its own: the caller passes the time, so tests can too.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <optional>
#include <unordered_map>

#include "lib/base/parsed.h"
#include "lib/ipc/message.h"

namespace postilion::ipc {

// The events a server counts per client besides its sessions (Postfix's
// smtpd_client_message_rate_limit, _recipient_rate_limit, _auth_rate_limit), and per
// authenticated user (UserMessage, UserRecipient: smtpd_sasl_user_message_rate_limit,
// _recipient_rate_limit), whose key is "sasl LOGIN" over every service and whose window
// is an hour, whatever anvil_rate_time_unit says.
enum class AnvilEvent { Message, Recipient, Auth, UserMessage, UserRecipient };
inline constexpr int kAnvilEvents = 5;
inline constexpr int64_t kUserRateUnitMs = 3600 * 1000;
inline constexpr const char* kUserEventService = "sasl";
inline constexpr size_t kMaxUserName = 256;
// "message", "recipient", "auth", "user_message", "user_recipient": the cmd= of the request.
const char* anvil_event_name(AnvilEvent e);
inline bool anvil_user_event(AnvilEvent e) { return e == AnvilEvent::UserMessage || e == AnvilEvent::UserRecipient; }

class AnvilTable {
 public:
  // At most this many keys by default: a flood of distinct clients (or forged
  // addresses from a busy IPv6 network) must not grow anvil's memory without end.
  static constexpr size_t kDefaultMaxKeys = 100000;

  // rate_unit_ms: the window of the rate count (anvil_rate_time_unit).
  explicit AnvilTable(int64_t rate_unit_ms, size_t max_keys = kDefaultMaxKeys)
      : unit_ms_(rate_unit_ms), max_keys_(max_keys) {}

  struct Counts {
    int count = 0;  // simultaneous connections, this one included
    int rate = 0;   // connections in the current window, this one included
    // false: the table was full (even after expiry) and this new key was not counted;
    // count and rate are then 1, so limits never refuse a client for lack of room.
    bool tracked = true;
  };
  // A session starts. Rates use fixed windows of rate_unit_ms per key, opened by the
  // first connection after the previous window ended (as Postfix's anvil does).
  // A new key when max_keys are held first expires idle keys (at most once a second);
  // if the table is still full the connection is not counted (Counts::tracked false).
  Counts connect(uint64_t link, const std::string& key, int64_t now_ms);
  // One event of a client (key "service ip", or "sasl LOGIN" for a user event) at now_ms; its rate in the current window
  // of rate_unit_ms, this one included. Each kind has its own fixed window, opened as
  // connect()'s is. A key the full table cannot take is not counted: the answer is 1.
  int event(AnvilEvent kind, const std::string& key, int64_t now_ms);
  // A session counted by connect() on the same link ends; anything else is ignored.
  void disconnect(uint64_t link, const std::string& key);
  // The link is gone: every session it still counted ends.
  void drop_link(uint64_t link);
  // Forgets keys with no connection whose windows have all ended (bounded memory).
  void expire(int64_t now_ms);

  size_t keys() const { return entries_.size(); }
  int count(const std::string& key) const;

 private:
  struct Window {
    int rate = 0;
    int64_t start_ms = 0;
  };
  struct Entry {
    int count = 0;
    Window connections;
    Window events[kAnvilEvents];
  };
  // The entry of key, or nullptr when the table is full even after expiry.
  Entry* find_or_make(const std::string& key, int64_t now_ms);
  // Counts one more in w, opening a new window first when the last one (unit_ms
  // long) has ended.
  int bump(Window& w, int64_t now_ms, int64_t unit_ms) const;
  // Whether every window of e has ended (an entry with no session may then go).
  bool ended(const Entry& e, int64_t now_ms) const;
  int64_t unit_ms_;
  size_t max_keys_;
  std::optional<int64_t> full_expire_ms_;  // last expiry forced by a full table
  std::unordered_map<std::string, Entry> entries_;
  std::map<uint64_t, std::unordered_map<std::string, int>> links_;  // link -> key -> count
};

// The private/anvil messages (lib/ipc/protocols.h), with strict decoders.
struct AnvilRequest {
  bool connect = false;              // cmd=connect (else cmd=disconnect or an event)
  std::optional<AnvilEvent> event;   // cmd=message|recipient|auth
  std::string key;                   // "service ip"; user events: "sasl LOGIN"
};
Message anvil_request(bool connect, const std::string& service, const std::string& ip);
Message anvil_event_request(AnvilEvent kind, const std::string& service, const std::string& ip);
// nullopt + *why for anything that is not a well-formed request.
Parsed<AnvilRequest> parse_anvil_request(const Message& m);
Message anvil_reply(const AnvilTable::Counts& c);
std::optional<AnvilTable::Counts> parse_anvil_reply(const Message& m);
// The answer to an event: status=ok, rate=N (N >= 1).
Message anvil_event_reply(int rate);
std::optional<int> parse_anvil_event_reply(const Message& m);

}  // namespace postilion::ipc
