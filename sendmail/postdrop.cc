// sendmail/postdrop.cc - postdrop(1): writes one message from sendmail(1) into maildrop/.
// Installed set-group-id to setgid_group; trusts nothing from its caller: a set-gid
// postdrop ignores -c and MAIL_CONFIG unless the caller is root.
#include <sysexits.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <optional>
#include <string>

#include "lib/base/file.h"
#include "lib/config/config.h"
#include "lib/ipc/message.h"
#include "lib/ipc/protocols.h"
#include "lib/queue/spool.h"
#include "sendmail/drop.h"

using namespace postilion;

int main(int argc, char** argv) {
  std::string config_dir = std::string(SYSCONFDIR) + "/postilion";
  bool privileged = ::getegid() != ::getgid() || ::geteuid() != ::getuid();
  bool may_choose = !privileged || ::getuid() == 0;
  if (may_choose && std::getenv("MAIL_CONFIG")) config_dir = std::getenv("MAIL_CONFIG");
  int c;
  while ((c = getopt(argc, argv, "c:rv")) != -1) {
    if (c == 'c') {
      if (!may_choose) {
        std::fprintf(stderr, "postdrop: fatal: -c is for root only\n");
        return EX_NOPERM;
      }
      config_dir = optarg;
    } else if (c != 'r' && c != 'v') {
      std::fprintf(stderr, "usage: postdrop [-c config_dir]\n");
      return EX_USAGE;
    }
  }
  std::optional<config::Config> cfg;
  try {
    cfg = config::Config::load(config_dir);
  } catch (const config::ConfigError& e) {
    std::fprintf(stderr, "postdrop: fatal: %s\n", e.what());
    return EX_CONFIG;
  }
  queue::Spool spool(cfg->str("queue_directory"));
  auto id = sendmail::drop(0, spool.dir(queue::Folder::Maildrop), ::getuid(), cfg->bytes("message_size_limit"));
  if (!id) {
    std::fprintf(stderr, "postdrop: fatal: %s\n", id.error().c_str());
    return id.error().temporary() ? EX_TEMPFAIL : EX_DATAERR;
  }
  // Wake qmgr when we may reach it (root, or a private instance); otherwise it finds
  // the file on its next scan of maildrop/.
  ipc::Message wake;
  wake.set("cmd", "wakeup").set("queue", "maildrop").set("id", *id);
  (void)ipc::call(file::join(spool.top(), ipc::proto::kQmgrSocket), wake, 1000);
  std::printf("%s\n", id->c_str());
  return EX_OK;
}
