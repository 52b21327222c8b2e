// smtpd/server.h - what one smtpd process shares between its sessions: settings,
// policy, the TLS context, the group committer, per-client connection counts and
// rates (from anvil(8) over all smtpd processes; per process while anvil is down),
// the links to anvil and the resolver, and the qmgr wake-up.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "lib/base/result.h"
#include "lib/base/unique_fd.h"
#include "lib/event/event.h"
#include "lib/base/cidr.h"
#include "lib/ipc/anvil_client.h"
#include "lib/ipc/channel.h"
#include "lib/ipc/service_link.h"
#include "lib/queue/spare.h"
#include "lib/tls/tls.h"
#include "smtpd/committer.h"
#include "smtpd/policy.h"
#include "smtpd/settings.h"

namespace postilion::smtpd {

class Session;

class Server {
 public:
  Server(event::EventBase& base, Settings settings);
  ~Server();
  // Opens the maps and loads the certificate (as root, before the jail: keys are
  // often readable by root only). Errors are fatal at start.
  Status init();
  // Starts the commit worker thread (after the jail: no thread exists across setuid)
  // and opens the links to anvil and the resolver (at first use).
  void start();
  // The master.conf service name, which anvil counts by ("smtpd" stand-alone).
  void set_service_name(std::string name) { service_name_ = std::move(name); }
  // Called once for every accepted connection when it is finished (the skeleton's
  // session count, which decides when the process is idle or full).
  void set_on_session_end(std::function<void()> fn) { on_session_end_ = std::move(fn); }

  // A new connection; the server owns the session until it ends.
  void accept(UniqueFd fd, const sockaddr* peer, socklen_t peer_len);
  // The same, for a descriptor whose peer is looked up with getpeername().
  void accept(UniqueFd fd);
  // Ends a session after the current callback (EventBase::defer_delete).
  void end(uint64_t id);
  Session* find(uint64_t id);
  size_t session_count() const { return sessions_.size(); }

  event::EventBase& base() { return base_; }
  const Settings& settings() const { return settings_; }
  Policy& policy() { return *policy_; }
  // Whether ip is in smtpd_client_event_limit_exceptions (no per-client limit applies).
  bool limit_exempt(const std::string& ip) const { return cidr_list_contains(limit_exceptions_, ip); }
  // The anvil client (after start()): connection counts and event rates.
  ipc::AnvilClient& anvil() { return *anvil_; }
  const std::string& service_name() const { return service_name_; }
  // nullptr when TLS is not configured.
  const tls::Context* tls() const { return tls_.valid() ? &tls_ : nullptr; }
  Committer& committer() { return *committer_; }
  const std::string& incoming_dir() const { return incoming_; }
  // Room in the queue file system for a message of size bytes (0: unknown), as Postfix's
  // smtpd checks at MAIL FROM: false when the free blocks are within queue_minfree, the
  // message would eat into queue_minfree or take half of what is free, or no inode is
  // left. A file system statvfs cannot read counts as having room (the write decides).
  bool queue_has_room(uint64_t size) const;
  // Where a message a HOLD action caught is committed.
  const std::string& hold_dir() const { return hold_; }
  // Finished queue files to write new mail over (lib/queue/spare.h); event loop only.
  queue::SparePool* spares() { return spares_.get(); }
  // Tells qmgr a new message is in incoming/. Best effort: qmgr also scans.
  void notify_qmgr(const std::string& id);
  // A link to the resolver for one client name lookup (its own connection: a slow
  // answer for one client must not hold up the others, as it would on a shared
  // connection answered in order); nullptr when smtpd_peername_lookup is off.
  std::unique_ptr<ipc::ServiceLink> resolver_link();
  // A link for one DNS lookup of a restriction (DNS lists, sender domains), answered
  // within smtpd_restriction_dns_timeout; its own connection, as for client names.
  std::unique_ptr<ipc::ServiceLink> dns_link();
  // Client names known from the resolver's definite answers ("unknown" included), kept
  // kNameCacheMs: a client that connects again costs no resolver round trip.
  // The client names looked up lately: the verified name ("unknown" for none) and the
  // PTR name ("unknown": the address has none).
  struct CachedName {
    std::string name;
    std::string reverse;
    int64_t expires_ms;
  };
  const CachedName* cached_name(const std::string& ip);
  void cache_name(const std::string& ip, const std::string& name, const std::string& reverse);

 private:
  event::EventBase& base_;
  Settings settings_;
  std::unique_ptr<Policy> policy_;
  std::vector<Cidr> limit_exceptions_;
  tls::Context tls_;
  std::unique_ptr<Committer> committer_;
  std::string incoming_;
  std::string hold_;
  std::unique_ptr<queue::SparePool> spares_;
  uint64_t next_id_ = 1;
  std::unordered_map<uint64_t, std::unique_ptr<Session>> sessions_;
  // Decides on a session waiting for its connection limits (anvil's counts, or this
  // process's while anvil is away).
  void admit(uint64_t id, uint64_t ticket, const ipc::AnvilClient::Decision& d);
  std::string service_name_ = "smtpd";
  std::unique_ptr<ipc::AnvilClient> anvil_;
  std::unique_ptr<ipc::ServiceLink> qmgr_;
  bool resolver_warned_ = false;
  bool dns_warned_ = false;
  std::unordered_map<std::string, CachedName> names_;
  std::function<void()> on_session_end_;
};

// "192.0.2.7" / "2001:db8::1" (IPv4-mapped IPv6 shown as IPv4).
std::string peer_ip(const sockaddr* sa, socklen_t len);

}  // namespace postilion::smtpd
