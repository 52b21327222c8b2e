// master/control.h - the master's control socket, queue_directory/pid/master.ctl (0600),
// speaking lib/ipc messages, one request and one reply per connection:
//   request  cmd=status | reload | stop
//   reply    status=ok|error [text=...]; for status also pid=N, ready=1|0 and one
//            `service` attribute per master.conf entry:
//            "NAME KEY procs=N/MAX avail=N starts=N crashes=N pids=P,P|- [throttled=Ns]"
#pragma once

#include <map>
#include <memory>
#include <string>

#include "lib/event/event.h"
#include "lib/event/listener.h"
#include "lib/ipc/message.h"
#include "master/supervisor.h"

namespace postilion::master {

class Control {
 public:
  Control(event::EventBase& base, Supervisor& sup);
  ~Control();
  // Binds the socket (replacing a stale one). Start-up error: Result.
  Status open(const std::string& path);
  void close();

 private:
  struct Conn;
  void accepted(UniqueFd fd);
  ipc::Message handle(const ipc::Message& req);
  event::EventBase& base_;
  Supervisor& sup_;
  event::Listener listener_;
  std::string path_;
  std::map<Conn*, std::unique_ptr<Conn>> conns_;
  event::Timer stop_later_;
};

}  // namespace postilion::master
