// master/supervisor.h - the master's service table at run time: listening sockets,
// child processes, spawn on demand, restart with backoff, crash-loop throttling,
// graceful reload and stop. See master(8); the argv/fd protocol with each child is
// described in lib/service/service.h.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lib/base/result.h"
#include "lib/base/unique_fd.h"
#include "lib/config/config.h"
#include "lib/event/event.h"

namespace postilion::master {

struct Child {
  pid_t pid = 0;
  bool available = true;  // a new process is counted as able to take a client
  int64_t started_ms = 0;
};

// One master.conf entry, for one generation of the configuration.
struct Service {
  config::ServiceEntry entry;
  std::string key;                  // listener identity: "inet 127.0.0.1:25", "unix private/qmgr"
  std::string label;                // for messages: "smtpd" or "127.0.0.1:25"
  bool boot = false;                // started at boot and kept running
  int maxproc = 1;
  std::vector<UniqueFd> listen_fds;
  std::vector<event::Event> watch;  // listener readable and nobody available -> spawn
  UniqueFd status_r, status_w;      // children report available/busy here
  event::Event status_ev;
  UniqueFd life_r, life_w;          // EOF on life_r tells children to finish and exit
  std::map<pid_t, Child> children;
  event::Timer hold_timer;          // restart delay / throttle expiry
  int64_t hold_until_ms = 0;
  int64_t window_start_ms = 0;
  int crashes_in_window = 0;
  int consecutive = 0;
  int starts = 0, crashes = 0;
  bool throttled = false;
};

class Supervisor {
 public:
  Supervisor(event::EventBase& base, std::string config_dir, bool verbose);
  ~Supervisor();

  // Opens every listener. Throws config::ConfigError with "master.conf:N: ..." when one
  // cannot be opened (start-up only, before the master goes into the background).
  void open(config::Config cfg, std::vector<config::ServiceEntry> entries);
  // Starts the boot services and watches the listeners; then the master is ready.
  void start();
  // Re-reads main.conf and master.conf; keeps listeners whose address is unchanged.
  // On a bad configuration nothing changes and the error is returned.
  Status reload();
  // Stops every child (SIGTERM, then SIGKILL after master_stop_timeout); the loop ends
  // when they are all gone.
  void stop();
  bool ready() const { return ready_; }
  bool stopping() const { return stopping_; }

  // One line per service for the control socket's status reply.
  std::vector<std::string> status_lines() const;
  const config::Config& config() const { return *cfg_; }

 private:
  std::unique_ptr<Service> make_service(const config::ServiceEntry& e,
                                        std::map<std::string, std::unique_ptr<Service>>* old, bool at_start);
  void arm(Service& s);
  Status spawn(Service& s);
  void reap();
  void child_exited(Service& s, pid_t pid, int status);
  void read_status(Service& s);
  void retire(Service& s);
  void maybe_finish_stop();
  std::string socket_path(const config::ServiceEntry& e) const;

  event::EventBase& base_;
  std::string config_dir_;
  bool verbose_;
  std::unique_ptr<config::Config> cfg_;
  std::vector<std::unique_ptr<Service>> services_;
  struct Retired {
    std::string label, key;
  };
  std::map<pid_t, Retired> retired_;  // old-generation children still running
  bool retired_with_key(const std::string& key) const;
  event::Signal chld_;
  event::Timer kill_timer_;
  bool ready_ = false;
  bool stopping_ = false;
};

}  // namespace postilion::master
