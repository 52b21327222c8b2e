// ctl/main.cc - entry point of postilionctl(8), the administration command: picks the
// configuration directory and hands the rest to one command group.
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "ctl/ctl.h"
#include "lib/log/log.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif

namespace {

using namespace postilion::ctl;

struct Command {
  const char* name;
  int (*run)(const Context&);
};

const Command kCommands[] = {
    {"init", cmd_init},     {"start", cmd_start}, {"stop", cmd_stop},
    {"reload", cmd_reload}, {"status", cmd_status}, {"check", cmd_check},
    {"config", cmd_config}, {"map", cmd_map},       {"queue", cmd_queue},
    {"user", cmd_user},     {"install", cmd_install},
};

void usage(FILE* out) {
  std::fprintf(out,
               "usage: postilionctl [-c CONFIG_DIR] COMMAND [ARGS]\n"
               "  init [OPTIONS]            write a new instance (see init --help)\n"
               "  install [--hostname NAME]   make this host's mail system (see install --help)\n"
               "  start | stop | reload     control the master\n"
               "  status                    services and pids\n"
               "  check                     verify config, spool, certificates, programs\n"
               "  config [-n|-d|-x] [name[=value]...]   show or set main.conf values\n"
               "  map build FILE | map query FILE KEY   lookup tables\n"
               "  queue [-j] | queue show ID | queue flush\n"
               "  queue hold|release|delete|requeue ID|ALL|ADDRESS   the mail queue\n"
               "  user hash [yescrypt|sha512]   hash a password read without echo\n"
               "CONFIG_DIR defaults to %s/postilion. Exit: 0 ok, 1 not running, "
               "2 bad config, 3 other error.\n",
               SYSCONFDIR);
}

}  // namespace

int main(int argc, char** argv) {
  postilion::log::init("postilionctl");
  postilion::log::use_stderr();
  Context ctx;
  ctx.config_dir = std::string(SYSCONFDIR) + "/postilion";
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; ++i) {
    std::string_view a = argv[i];
    if (a == "-c" && i + 1 < argc) {
      ctx.config_dir = argv[++i];
    } else if (a.starts_with("-c") && a.size() > 2) {
      ctx.config_dir = std::string(a.substr(2));
    } else if (a == "-h" || a == "--help") {
      usage(stdout);
      return kOk;
    } else {
      usage(stderr);
      return kError;
    }
  }
  if (i >= argc) {
    usage(stderr);
    return kError;
  }
  std::string_view word = argv[i];
  ctx.args.assign(argv + i + 1, argv + argc);
  for (const Command& c : kCommands)
    if (word == c.name) return c.run(ctx);
  complain("unknown command: " + std::string(word));
  usage(stderr);
  return kError;
}
