// smtp/setup.h - smtp(8)'s parameters (lib/config/params/smtp.def) turned into a
// ready Agent: settings, the client TLS context (DANE-enabled), the tables and the
// resolver connection. Errors here are configuration errors: fatal at start.
// The system trust store is read (not parsed) at start, before a chroot could hide it,
// and parsed only when a session first verifies a certificate: parsing ~150 CA
// certificates costs each process tens of milliseconds that most relaying never needs.
#pragma once

#include <memory>
#include <string>

#include "lib/base/result.h"
#include "lib/config/config.h"
#include "lib/maps/maps.h"
#include "lib/tls/tls.h"
#include "smtp/agent.h"

namespace postilion::smtp_client {

class Runtime {
 public:
  static Result<std::unique_ptr<Runtime>> create(const config::Config& cfg, const std::string& service);
  Agent& agent() { return *agent_; }

 private:
  Runtime() = default;
  Status load_trust();
  tls::Context tls_;
  std::unique_ptr<ResolverDns> dns_;
  maps::MapList sasl_maps_;
  maps::MapList policy_maps_;
  std::unique_ptr<Agent> agent_;
  std::string trust_pem_;       // the default CA file, not yet in the context's store
  std::string trust_name_;
  bool trust_loaded_ = false;
};

}  // namespace postilion::smtp_client
