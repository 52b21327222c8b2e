// ctl/queue.cc - `postilionctl queue` and `postilionctl user hash`: the queue as the
// administrator sees it (listing, show, flush, hold, release, delete, requeue) and
// password hashes for the virtual-user table.
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "ctl/ctl.h"
#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/ipc/message.h"
#include "lib/ipc/protocols.h"
#include "lib/password/password.h"
#include "lib/queue/queue_control.h"
#include "lib/queue/queue_file.h"
#include "lib/queue/queue_id.h"
#include "lib/queue/queue_list.h"
#include "lib/queue/spool_store.h"

namespace postilion::ctl {
namespace {

void queue_usage() {
  std::fprintf(stderr,
               "usage: postilionctl queue [-j]                  list (mailq format, or JSON lines)\n"
               "       postilionctl queue show ID               envelope and content of one message\n"
               "       postilionctl queue flush                 retry every deferred message now\n"
               "       postilionctl queue hold|release|delete|requeue ID|ALL|ADDRESS\n");
}

// Tells qmgr to look again; a stopped qmgr finds the change at its next start anyway.
void wake_qmgr(const config::Config& cfg, const char* cmd) {
  ipc::Message m;
  m.set("cmd", cmd);
  auto r = ipc::call(file::join(cfg.str("queue_directory"), ipc::proto::kQmgrSocket), m, 5000);
  if (!r) std::fprintf(stderr, "postilionctl: note: qmgr not reached (%s); it will see the change when it runs\n",
                       r.error().c_str());
}

int show(queue::SpoolStore& store, const std::string& id) {
  if (!queue::valid_id(id)) {
    complain("queue show: not a queue id: " + str::printable(id, 60));
    return kError;
  }
  for (const char* q : {"maildrop", "incoming", "active", "deferred", "hold", "corrupt"}) {
    auto opened = store.open(q, id);
    if (!opened) continue;
    if (opened->parsed.status != queue::Parse::Complete) {
      std::printf("%s/%s: unreadable: %s\n", q, id.c_str(), opened->parsed.error.c_str());
      return kError;
    }
    const queue::QueueFile& f = opened->parsed.file;
    std::printf("queue: %s\nid: %s\nsender: <%s>\n", q, id.c_str(), str::printable(f.sender).c_str());
    for (const auto& [k, v] : f.attributes) std::printf("attribute: %s=%s\n", k.c_str(), str::printable(v).c_str());
    for (const auto& r : f.recipients)
      std::printf("recipient: <%s> %s\n", str::printable(r.address).c_str(), queue::status_name(r.status));
    std::printf("\n");
    std::fflush(stdout);
    auto st = queue::stream_content(opened->fd.get(), f, [](std::string_view chunk) {
      return file::write_all(1, chunk);
    });
    if (!st) {
      complain("queue show: " + st.error().str());
      return kError;
    }
    return kOk;
  }
  complain("queue show: no message " + id);
  return kNotRunning;
}

}  // namespace

int cmd_queue(const Context& ctx) {
  auto cfg = load_config(ctx);
  if (!cfg) return kBadConfig;
  queue::SpoolStore store(cfg->str("queue_directory"));
  const auto& a = ctx.args;
  if (a.empty() || (a.size() == 1 && a[0] == "-j")) {
    auto entries = queue::list_queue(store);
    if (!a.empty()) {
      for (const auto& e : entries) std::printf("%s\n", queue::format_json(e).c_str());
    } else {
      std::fputs(queue::format_mailq(entries).c_str(), stdout);
    }
    return kOk;
  }
  if (a[0] == "show" && a.size() == 2) return show(store, a[1]);
  if (a[0] == "flush" && a.size() == 1) {
    wake_qmgr(*cfg, "flush");
    return kOk;
  }
  static const std::pair<const char*, queue::Operation> kOps[] = {
      {"hold", queue::Operation::Hold}, {"release", queue::Operation::Release},
      {"delete", queue::Operation::Delete}, {"requeue", queue::Operation::Requeue}};
  for (const auto& [name, op] : kOps) {
    if (a[0] != name) continue;
    if (a.size() != 2) break;
    auto r = queue::control(store, op, a[1]);
    for (const auto& id : r.done) std::printf("%s: %s\n", id.c_str(), name);
    for (const auto& e : r.errors) complain(std::string("queue ") + name + ": " + e);
    if (r.done.empty() && r.errors.empty()) std::printf("postilionctl: queue %s: no message matches %s\n", name, a[1].c_str());
    wake_qmgr(*cfg, op == queue::Operation::Requeue || op == queue::Operation::Release ? "flush" : "wakeup");
    return r.errors.empty() ? kOk : kError;
  }
  queue_usage();
  return kError;
}

int cmd_user(const Context& ctx) {
  const auto& a = ctx.args;
  if (a.empty() || a[0] != "hash" || a.size() > 2) {
    std::fprintf(stderr, "usage: postilionctl user hash [yescrypt|sha512]   (password read from the terminal or stdin)\n");
    return kError;
  }
  std::string prefix = "$y$";
  if (a.size() == 2) {
    if (a[1] == "sha512") prefix = "$6$";
    else if (a[1] != "yescrypt") {
      complain("user hash: unknown method " + a[1] + " (yescrypt or sha512)");
      return kError;
    }
  }
  // Read without echo when stdin is a terminal.
  bool tty = ::isatty(0);
  struct termios saved{};
  if (tty) {
    std::fprintf(stderr, "password: ");
    ::tcgetattr(0, &saved);
    struct termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(0, TCSAFLUSH, &quiet);
  }
  std::string password;
  std::getline(std::cin, password);
  if (tty) {
    ::tcsetattr(0, TCSAFLUSH, &saved);
    std::fprintf(stderr, "\n");
  }
  if (!password.empty() && password.back() == '\r') password.pop_back();
  if (password.empty()) {
    complain("user hash: empty password");
    return kError;
  }
  auto h = password::hash_password(password, prefix);
  if (!h) {
    complain("user hash: " + h.error().str());
    return kError;
  }
  std::printf("%s\n", h->c_str());
  return kOk;
}

}  // namespace postilion::ctl
