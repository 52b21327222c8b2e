// local/server.h - what one local(8) process keeps between requests: the settings, the
// alias table (opened once; a rebuilt .db is noticed by lib/maps) and the system
// environment; serves the delivery requests of one connection, one after another.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lib/config/config.h"
#include "lib/ipc/message.h"
#include "lib/maps/maps.h"
#include "lib/service/service.h"
#include "local/agent.h"
#include "local/settings.h"
#include "local/system_env.h"

namespace postilion::local {

// Tables named by a parameter (alias_maps, virtual_mailbox_maps, ...), opened at the
// first lookup and kept (a rebuilt .db is noticed by lib/maps); tables that could not
// be opened are tried again at the next lookup. Every failure, and an empty spec, is an
// Error: the recipient is deferred.
struct ConfigTable {
  std::string param, specs;
  std::unique_ptr<maps::MapList> list;
  Result<std::optional<std::string>> lookup(const std::string& key);
};

class Server {
 public:
  explicit Server(AllSettings all);
  // Reads one request from fd (blocking, bounded), delivers, logs, replies. False when
  // the connection is done: closed by the peer, garbage, a refused request or a failed
  // reply (the caller closes it).
  bool serve_one(int fd);
  SystemEnv& env() { return *env_; }

 private:
  AllSettings all_;
  ConfigTable aliases_, command_maps_;
  std::unique_ptr<SystemEnv> env_;
};

// Reads one request from fd (blocking, bounded), has `handle` serve it, logs the lines
// it gives, replies. Warnings and bounced expansion destinations are always logged;
// every recipient's outcome only when style.logs_outcomes (the agent's reply said
// logged=yes). False when the connection is done: closed by the peer, garbage, a
// refused request or a failed reply (the caller closes it).
using RequestHandler = std::function<ipc::Message(const ipc::Message& request, std::vector<DeliveryLog>* lines)>;
bool serve_one_request(int fd, const AgentStyle& style, const RequestHandler& handle);

// The signal setup of a delivery agent process: writes to a closed peer are errors,
// not deaths, and SIGALRM keeps its default action (the write watchdog of
// SystemEnv::with_euid).
void agent_signals();

// Runs a delivery agent through lib/service (under master(8), or --standalone): one
// client per process at a time (the process reports itself busy meanwhile, so the
// master starts more), its requests served one after another, blocking, by the
// function that setup returns. setup runs after the jail, with the agent signals set;
// what the function uses, setup keeps in ctx (Context::keep). It throws
// config::ConfigError for bad parameters (a fatal start).
using ServeOne = std::function<bool(int fd)>;
int run_agent(int argc, char** argv, const char* name, const std::vector<std::string_view>* params,
              std::function<ServeOne(service::Context&)> setup);

// The Maildir writer of the real environment (lib/mailbox deliver()).
SystemEnv::MaildirWriter maildir_writer();

// Queues a forwarded copy (alias or .forward to a remote address) into incoming/ of
// queue_dir, owned by the spool's owner so qmgr can read it, and wakes qmgr.
Outcome queue_forward(const std::string& queue_dir, const std::string& sender, const std::string& address,
                      const std::string& text);

}  // namespace postilion::local
