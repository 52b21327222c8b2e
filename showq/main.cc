// showq/main.cc - entry point of showq(8): lists the queue and passes flush
// requests on to qmgr for local users, on public/showq (reached through the set-gid
// postdrop(1) -p and -f), run by master(8) through lib/service as mail_owner.
// `showq --standalone [-c DIR] [-s SOCKET] [-o name=value]...` runs it without a master.
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "lib/base/file.h"
#include "lib/event/event.h"
#include "lib/ipc/message.h"
#include "lib/ipc/protocols.h"
#include "lib/queue/queue_control.h"
#include "lib/service/service.h"
#include "showq/server.h"

using namespace postilion;

namespace {

const std::vector<std::string_view> kParams = {"queue_directory"};

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

}  // namespace

int main(int argc, char** argv) {
  service::Spec spec{.name = "showq", .kind = service::Kind::Stream};
  spec.params = &kParams;
  spec.socket = ipc::proto::kShowqSocket;
  spec.socket_mode = 0660;
  spec.post_jail = [](service::Context& ctx) {
    ctx.keep(make_server(ctx.loop(), ctx.config().str("queue_directory")));
  };
  spec.on_accept = [](service::Context& ctx, UniqueFd fd) {
    ctx.get<showq::Server>().accept(std::move(fd), [&ctx] { ctx.session_end(); });
  };
  return service::run(argc, argv, spec);
}
