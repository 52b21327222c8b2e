// showq/main.cc - entry point of showq(8): lists the queue and passes flush
// requests on to qmgr for local users, on public/showq (reached through the set-gid
// postdrop(1) -p and -f), run by master(8) through lib/service as mail_owner.
// `showq --standalone [-c DIR] [-s SOCKET] [-o name=value]...` runs it without a master.
#include <signal.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "lib/base/file.h"
#include "lib/event/event.h"
#include "lib/event/listener.h"
#include "lib/ipc/message.h"
#include "lib/ipc/protocols.h"
#include "lib/log/log.h"
#include "lib/queue/queue_control.h"
#include "lib/service/service.h"
#include "showq/server.h"

using namespace postilion;

namespace {

const std::vector<std::string_view> kParams = {"queue_directory"};

std::unique_ptr<showq::Server> g_server;

std::unique_ptr<showq::Server> make_server(event::EventBase& base, const std::string& queue_dir) {
  auto lister = [queue_dir]() -> Result<std::string> {
    queue::SpoolStore store(queue_dir);
    // list_queue skips what it cannot read; a spool closed to us is an error instead.
    std::string active = store.spool().dir(queue::Folder::Active);
    if (::access(active.c_str(), R_OK | X_OK) != 0) return Error::from_errno(active);
    return queue::format_mailq(queue::list_queue(store));
  };
  return std::make_unique<showq::Server>(base, lister, file::join(queue_dir, ipc::proto::kQmgrSocket));
}

int standalone(int argc, char** argv) {
  int rc = 0;
  service::Standalone sa = service::standalone_setup("showq", argc, argv, &rc);
  if (!sa.config) return rc;
  std::string queue_dir = sa.config->str("queue_directory");
  std::string socket_path = sa.socket_path.empty() ? file::join(queue_dir, ipc::proto::kShowqSocket) : sa.socket_path;
  event::EventBase base;
  auto server = make_server(base, queue_dir);
  auto fd = ipc::listen_unix(socket_path, 0660);
  if (!fd) log::fatal("%s", fd.error().c_str());
  event::Listener listener(base, std::move(*fd), [&](UniqueFd conn, const sockaddr*, int) { server->accept(std::move(conn)); });
  event::Signal term(base, SIGTERM, [&] { base.loopbreak(); });
  event::Signal intr(base, SIGINT, [&] { base.loopbreak(); });
  base.loop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--standalone") == 0) return standalone(argc - 1, argv + 1);
  service::Spec spec{.name = "showq", .kind = service::Kind::Stream};
  spec.params = &kParams;
  spec.post_jail = [](service::Context& ctx) { g_server = make_server(ctx.loop(), ctx.config().str("queue_directory")); };
  spec.on_accept = [](service::Context& ctx, UniqueFd fd) { g_server->accept(std::move(fd), [&ctx] { ctx.session_end(); }); };
  int rc = service::run(argc, argv, spec);
  // The loop owned the server's events; it is released, not destroyed, after run().
  (void)g_server.release();
  return rc;
}
