// local/server.cc - local(8)'s per-process state, and the request loop of the delivery
// agents built here (local, virtual).
#include "local/server.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/ipc/message.h"
#include "lib/ipc/protocols.h"
#include "lib/log/log.h"
#include "lib/mail/header.h"
#include "lib/mailbox/maildir.h"
#include "lib/queue/delivery_log.h"
#include "lib/queue/queue_writer.h"
#include "lib/queue/spool.h"
#include "lib/service/service.h"
#include "local/agent.h"

namespace postilion::local {
namespace {

constexpr int kIdleRequestMs = 3600 * 1000;  // between requests on one connection
constexpr int kReplyWriteMs = 60000;

}  // namespace

Outcome queue_forward(const std::string& queue_dir, const std::string& sender, const std::string& address,
                      const std::string& text) {
  queue::Spool spool(queue_dir);
  std::string dir = spool.dir(queue::Folder::Incoming);
  auto w = queue::QueueWriter::create(dir);
  if (!w) return Outcome::defer("4.3.0", "cannot queue forward: " + w.error().str());
  auto& qw = **w;
  Status s = qw.sender(sender);
  if (s) s = qw.recipient(address);
  if (s) s = qw.append_content(mail::to_crlf(text));
  struct stat st;
  if (s && ::stat(dir.c_str(), &st) == 0 && ::geteuid() == 0 && ::chown(qw.temp_path().c_str(), st.st_uid, st.st_gid) != 0)
    s = Error::from_errno("chown " + qw.temp_path());
  if (!s) return Outcome::defer("4.3.0", "cannot queue forward: " + s.error().str());
  auto id = qw.commit();
  if (!id) return Outcome::defer("4.3.0", "cannot queue forward: " + id.error().str());
  ipc::Message wake;
  wake.set("cmd", "wakeup").set("id", *id).set("queue", "incoming");
  (void)ipc::call(file::join(queue_dir, ipc::proto::kQmgrSocket), wake, 2000);
  return Outcome::sent("forwarded as " + *id);
}

Result<std::optional<std::string>> ConfigTable::lookup(const std::string& key) {
  if (str::trim(specs).empty()) return Error(param + " is not set");
  if (!list) {
    auto opened = maps::MapList::open(specs);
    if (!opened) return Error(param + " " + specs + ": " + opened.error().str());
    list = std::make_unique<maps::MapList>(std::move(*opened));
  }
  return list->lookup(key);
}

Server::Server(AllSettings all)
    : all_(std::move(all)),
      aliases_{"alias_maps", all_.alias_maps, nullptr},
      command_maps_{"mailbox_command_maps", all_.mailbox_command_maps, nullptr} {
  // Unset tables are not consulted at all (no alias, no per-user command).
  SystemEnv::AliasLookup alias_fn;
  if (!str::trim(all_.alias_maps).empty())
    alias_fn = [this](const std::string& key) { return aliases_.lookup(key); };
  std::string qdir = all_.queue_directory;
  env_ = std::make_unique<SystemEnv>(
      all_.system, alias_fn, maildir_writer(),
      [qdir](const std::string& s, const std::string& a, const std::string& t) { return queue_forward(qdir, s, a, t); });
  if (!str::trim(all_.mailbox_command_maps).empty())
    env_->set_command_maps([this](const std::string& key) { return command_maps_.lookup(key); });
}

bool Server::serve_one(int fd) {
  return serve_one_request(fd, AgentStyle{}, [this](const ipc::Message& req, std::vector<DeliveryLog>* lines) {
    return serve_request(req, all_.queue_directory, all_.delivery, *env_, lines);
  });
}

bool serve_one_request(int fd, const AgentStyle& style, const RequestHandler& handle) {
  auto req = ipc::read_message(fd, kIdleRequestMs);
  if (!req) {
    if (req.error().code() != ECONNRESET) log::warn("bad request: %s", req.error().c_str());
    return false;
  }
  std::vector<DeliveryLog> lines;
  ipc::Message reply = handle(*req, &lines);
  for (const auto& l : lines) {
    if (l.status == "warning") {
      log::warn("%s: %s: %s", l.queue_id.c_str(), str::printable(l.recipient).c_str(), str::printable(l.text).c_str());
    } else if (l.expanded || style.logs_outcomes) {
      // qmgr logs the recipients of an agent that does not (local); the bounced
      // destinations of an expansion only the agent knows.
      queue::log_delivery({l.queue_id, l.recipient, l.orig_recipient, style.relay, l.dsn, l.status, l.text, l.times});
    }
  }
  bool ok = reply.get_or("status", "") == "ok";
  if (!ok) log::warn("refused a request: %s", reply.get_or("text", "").c_str());
  if (Status s = ipc::write_message(fd, reply, kReplyWriteMs); !s) {
    log::warn("cannot reply: %s", s.error().c_str());
    return false;
  }
  return ok;
}

void agent_signals() {
  ::signal(SIGPIPE, SIG_IGN);
  ::signal(SIGALRM, SIG_DFL);
}

int run_agent(int argc, char** argv, const char* name, const std::vector<std::string_view>* params,
              std::function<ServeOne(service::Context&)> setup) {
  service::Spec spec{.name = name, .kind = service::Kind::Stream};
  spec.params = params;
  spec.max_clients = 1;  // busy while serving one client: the master starts another process
  // Stand-alone, several processes accept on the one socket, as the master would run.
  spec.standalone_processes = 4;
  spec.post_jail = [setup](service::Context& ctx) {
    agent_signals();
    ctx.keep(std::make_unique<ServeOne>(setup(ctx)));
  };
  // Blocking from a request to its reply, bounded by the request's deadlines: one
  // delivery at a time per process.
  spec.on_accept = [](service::Context& ctx, UniqueFd fd) {
    ctx.serve_blocking(std::move(fd), ctx.get<ServeOne>());
  };
  return service::run(argc, argv, spec);
}

SystemEnv::MaildirWriter maildir_writer() {
  return [](const std::string& dir, const std::string& text) -> Status {
    auto d = mailbox::deliver(dir, text);
    if (!d) return d.error();
    return {};
  };
}

}  // namespace postilion::local
