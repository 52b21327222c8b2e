// smtp/agent.h - the delivery agent side of the qmgr -> agent protocol
// (lib/ipc/protocols.h) for smtp(8): check the request against the queue file (trust
// neither), find the next hops (resolver(8), or the literal address), try them in order
// within the address and session limits, record each final outcome in the recipient's
// status byte before replying, log one line per recipient, and keep the connection for
// the next request to the same destination.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/base/result.h"
#include "lib/dns/protocol.h"
#include "lib/ipc/message.h"
#include "lib/tls/tls.h"
#include "smtp/session.h"
#include "smtp/tls_policy.h"

namespace postilion::smtp_client {

// What the client knows of resolver(8): its DNS types and request codec (lib/dns).
namespace resolver = dns;

struct AgentSettings {
  SessionSettings session;
  std::string queue_directory = ".";
  std::string service = "smtp";
  uint16_t default_port = 25;       // smtp_destination_port
  size_t mx_address_limit = 5;      // smtp_mx_address_limit (0 = no limit)
  size_t mx_session_limit = 2;      // smtp_mx_session_limit (0 = no limit)
  TlsLevel tls_level = TlsLevel::May;
  bool connection_reuse = true;     // smtp_connection_reuse
  int connection_cache_ms = 2000;   // smtp_connection_cache_time_limit
  int resolver_timeout_ms = 30000;
};

// DNS as the agent sees it: resolver(8) in the daemon, a table in tests.
class Dns {
 public:
  virtual ~Dns() = default;
  virtual dns::Plan nexthops(const std::string& domain, bool mx) = 0;
  // nullopt when the resolver cannot be asked (a temporary failure).
  virtual std::optional<dns::proto::QueryReply> query(const std::string& name, dns::RrType t) = 0;
};

// resolver(8) over QUEUE_DIR/private/resolver; blocking, bounded by timeout_ms.
class ResolverDns : public Dns {
 public:
  ResolverDns(std::string socket_path, int timeout_ms) : path_(std::move(socket_path)), timeout_ms_(timeout_ms) {}
  dns::Plan nexthops(const std::string& domain, bool mx) override;
  std::optional<dns::proto::QueryReply> query(const std::string& name, dns::RrType t) override;

 private:
  std::string path_;
  int timeout_ms_;
};

// A table lookup (smtp_sasl_password_maps, smtp_tls_policy_maps): value, nullopt when
// absent, Error when the table cannot be read (the request is deferred).
using Lookup = std::function<Result<std::optional<std::string>>(std::string_view key)>;

class Agent {
 public:
  Agent(AgentSettings s, Dns& dns, const tls::Context* tls_ctx, Lookup sasl_passwords, Lookup tls_policy)
      : s_(std::move(s)), dns_(dns), tls_(tls_ctx), sasl_(std::move(sasl_passwords)), policy_(std::move(tls_policy)) {}
  ~Agent();

  // Serves one request; the reply is always a protocol message (status=error for a
  // request that makes no sense). Log lines go to lib/log.
  ipc::Message serve(const ipc::Message& request);
  // Closes a cached connection that has been idle too long (call when idle).
  void expire_cache();
  // Says QUIT on the cached connection, if any (the process is about to exit).
  void close_cache();
  // Called before a session that verifies certificates (verify, secure, dane with
  // TLSA records) is opened: loads the trust anchors the first time (setup.cc).
  void set_trust_loader(std::function<Status()> f) { load_trust_ = std::move(f); }

 private:
  // The steps of serve(), in order (agent.cc).
  struct Request;
  struct Target;
  enum class HopStep { Use, Skip, Stop };
  // Opens the queue file and checks the request against it; an Error refuses the
  // request. A file that cannot be used defers every recipient.
  Status open_message(Request& r);
  // Finds the next hops and tries them; keeps a session still good for the next request.
  void deliver(Request& r);
  // The literal address, the cached session's destination (no lookup yet), or DNS.
  resolver::Plan first_plan(const Target& t);
  // First, a cached connection to the destination (after RSET).
  std::unique_ptr<Session> try_cached(Request& r, const Target& t);
  // Then the next hops in order, within the address and session limits, until no
  // recipient is pending.
  void try_hops(Request& r, const Target& t, resolver::Plan& plan, std::unique_ptr<Session>& se);
  // A hop's credentials and, for DANE, TLSA records. Skip: this hop's TLSA lookup
  // failed; Stop: a table or the trust anchors cannot be read.
  HopStep peer_for(Request& r, const Target& t, const resolver::Plan& plan, const resolver::NextHop& hop, Peer* peer);
  bool lookup_tlsa(Request& r, uint16_t port, const resolver::NextHop& hop, Peer* peer);
  // A session; opportunistic TLS that fails in the handshake is tried once in the clear.
  Result<std::unique_ptr<Session>> open_session(const Request& r, Peer& peer);
  // Sends to the pending recipients: a local error (the queue file) defers them; a
  // site error is the reason for what stays pending, and drops the session.
  void send_on(Request& r, std::unique_ptr<Session>& se, const char* what);
  void keep_session(std::unique_ptr<Session> se, const std::string& key);
  // Writes each final outcome's status byte; one that cannot be written is a deferral.
  void record_outcomes(Request& r);
  // The reply, and a log line per recipient (queue::log_delivery).
  ipc::Message reply_and_log(const Request& r);
  // Table keys: "[host]:port" (port as used), the next hop as written, the domain and
  // its parents (".parent"); credentials also by the MX host name.
  Status tls_level_for(const std::string& nexthop_label, const std::string& domain, uint16_t port, TlsLevel* out);
  Status credentials_for(const std::string& nexthop_label, const std::string& host, uint16_t port,
                         std::string* user, std::string* pass);

  AgentSettings s_;
  Dns& dns_;
  const tls::Context* tls_;
  Lookup sasl_;
  Lookup policy_;
  std::function<Status()> load_trust_;
  std::unique_ptr<Session> cached_;
  std::string cached_key_;
};

}  // namespace postilion::smtp_client
