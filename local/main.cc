// local/main.cc - entry point of local(8), the local delivery agent, run by master(8)
// through lib/service; each connection is served in a child process. `local --standalone
// [-c DIR] [-s PATH] [-o name=value]...` runs it without a master (tests, debugging).
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <cstdio>
#include <optional>
#include <cstring>
#include <string>

#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/mail/header.h"
#include "lib/config/config.h"
#include "lib/event/event.h"
#include "lib/event/listener.h"
#include "lib/ipc/message.h"
#include "lib/ipc/protocols.h"
#include "lib/log/log.h"
#include "lib/mailbox/maildir.h"
#include "lib/maps/maps.h"
#include "lib/queue/queue_writer.h"
#include "lib/queue/spool.h"
#include "lib/service/service.h"
#include "local/agent.h"
#include "local/settings.h"

using namespace postilion;

namespace {

// Queues a forwarded copy (alias or .forward to a remote address) into incoming/,
// owned by the spool's owner so qmgr can read it, and wakes qmgr.
local::Outcome forward(const std::string& queue_dir, const std::string& sender, const std::string& address,
                       const std::string& text) {
  queue::Spool spool(queue_dir);
  std::string dir = spool.dir(queue::Folder::Incoming);
  auto w = queue::QueueWriter::create(dir);
  if (!w) return local::Outcome::defer("4.3.0", "cannot queue forward: " + w.error().str());
  auto& qw = **w;
  Status s = qw.sender(sender);
  if (s) s = qw.recipient(address);
  if (s) s = qw.append_content(mail::to_crlf(text));
  struct stat st;
  if (s && ::stat(dir.c_str(), &st) == 0 && ::geteuid() == 0 && ::chown(qw.temp_path().c_str(), st.st_uid, st.st_gid) != 0)
    s = Error::from_errno("chown " + qw.temp_path());
  if (!s) return local::Outcome::defer("4.3.0", "cannot queue forward: " + s.error().str());
  auto id = qw.commit();
  if (!id) return local::Outcome::defer("4.3.0", "cannot queue forward: " + id.error().str());
  ipc::Message wake;
  wake.set("cmd", "wakeup").set("id", *id).set("queue", "incoming");
  (void)ipc::call(file::join(queue_dir, ipc::proto::kQmgrSocket), wake, 2000);
  return local::Outcome::sent("forwarded as " + *id);
}

void serve(UniqueFd conn, const local::AllSettings& all) {
  auto req = ipc::read_message(conn.get(), 60000);
  if (!req) {
    log::warn("bad request: %s", req.error().c_str());
    return;
  }
  std::unique_ptr<maps::MapList> aliases;
  local::SystemEnv::AliasLookup alias_fn;
  if (!str::trim(all.alias_maps).empty()) {
    auto list = maps::MapList::open(all.alias_maps);
    if (list) aliases = std::make_unique<maps::MapList>(std::move(*list));
    std::string why = list ? "" : list.error().str();
    alias_fn = [&aliases, why, &all](const std::string& key) -> Result<std::optional<std::string>> {
      if (!aliases) return Error("alias_maps " + all.alias_maps + ": " + why);
      return aliases->lookup(key);
    };
  }
  std::string qdir = all.queue_directory;
  local::SystemEnv env(all.system, alias_fn,
                       [](const std::string& dir, const std::string& text) -> Status {
                         auto d = mailbox::deliver(dir, text);
                         if (!d) return d.error();
                         return {};
                       },
                       [qdir](const std::string& s, const std::string& a, const std::string& t) {
                         return forward(qdir, s, a, t);
                       });
  std::vector<local::DeliveryLog> lines;
  ipc::Message reply = local::serve_request(*req, all.queue_directory, all.delivery, env, &lines);
  for (const auto& l : lines) {
    if (l.status == "warning") log::warn("%s: %s: %s", l.queue_id.c_str(), str::printable(l.recipient).c_str(), str::printable(l.text).c_str());
  }
  if (reply.get_or("status", "") != "ok") log::warn("refused a request: %s", reply.get_or("text", "").c_str());
  if (Status s = ipc::write_message(conn.get(), reply, 60000); !s) log::warn("cannot reply: %s", s.error().c_str());
}

// Serves one connection in a child process: deliveries block (commands, locks), and
// the child's crash or time-out is confined to one request.
void spawn(UniqueFd conn, const local::AllSettings& all) {
  pid_t pid = ::fork();
  if (pid < 0) {
    log::warn("fork: %s", std::strerror(errno));
    return;  // qmgr sees the connection close: a defer
  }
  if (pid == 0) {
    ::signal(SIGCHLD, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    log::reset_pid();
    int flags = ::fcntl(conn.get(), F_GETFL);
    ::fcntl(conn.get(), F_SETFL, flags & ~O_NONBLOCK);
    serve(std::move(conn), all);
    ::_exit(0);
  }
}

const std::vector<std::string_view> kParams = {
    "queue_directory", "myhostname", "mydestination", "recipient_delimiter", "home_mailbox",
    "mail_spool_directory", "alias_maps", "default_privs", "command_time_limit",
    "allow_mail_to_commands", "allow_mail_to_files", "local_home_root", "mailbox_size_limit"};

std::optional<local::AllSettings> g_settings;
std::unique_ptr<event::Signal> g_reaper;

int standalone(int argc, char** argv) {
  int rc = 0;
  service::Standalone sa = service::standalone_setup("local", argc, argv, &rc);
  if (!sa.config) return rc;
  const config::Config& conf = *sa.config;
  std::string socket_path = sa.socket_path;
  auto get = [&](const char* n) { return conf.str(n); };
  auto all = local::settings_from([&](const char* n) {
    if (std::string_view(n) == "mailbox_size_limit") return std::to_string(conf.bytes(n));
    return get(n);
  });
  if (!all) log::fatal("%s", all.error().c_str());
  if (socket_path.empty()) socket_path = get("queue_directory") + "/" + ipc::proto::kPrivateDir + "local";
  event::EventBase base;
  auto fd = ipc::listen_unix(socket_path, 0600);
  if (!fd) log::fatal("%s", fd.error().c_str());
  event::Listener listener(base, std::move(*fd), [&](UniqueFd conn, const sockaddr*, int) { spawn(std::move(conn), *all); });
  event::Signal chld(base, SIGCHLD, [] {
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
  });
  event::Signal term(base, SIGTERM, [&] { base.loopbreak(); });
  event::Signal intr(base, SIGINT, [&] { base.loopbreak(); });
  base.loop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--standalone") == 0) return standalone(argc - 1, argv + 1);
  service::Spec spec{.name = "local", .kind = service::Kind::Stream};
  spec.params = &kParams;
  spec.post_jail = [](service::Context& ctx) {
    auto all = local::settings_from([&](const char* n) {
      // Sizes may carry a unit (k, m, g): hand over plain bytes.
      if (std::string_view(n) == "mailbox_size_limit") return std::to_string(ctx.config().bytes(n));
      return ctx.config().str(n);
    });
    if (!all) throw config::ConfigError(all.error().str());
    g_settings = std::move(*all);
    ::signal(SIGPIPE, SIG_IGN);
    g_reaper = std::make_unique<event::Signal>(ctx.loop(), SIGCHLD, [] {
      while (::waitpid(-1, nullptr, WNOHANG) > 0) {
      }
    });
  };
  spec.on_accept = [](service::Context& ctx, UniqueFd fd) {
    spawn(std::move(fd), *g_settings);
    ctx.session_end();
  };
  int rc = service::run(argc, argv, spec);
  (void)g_reaper.release();
  return rc;
}
