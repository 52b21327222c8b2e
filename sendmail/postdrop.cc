// sendmail/postdrop.cc - postdrop(1): writes one message from sendmail(1) into maildrop/;
// with -p prints the queue listing and with -f asks for a queue flush, both through
// showq(8) on public/showq (so mailq and sendmail -q work for every local user).
// Installed set-group-id to setgid_group; trusts nothing from its caller: a set-gid
// postdrop takes another configuration (-c, MAIL_CONFIG) only from root, or when that
// directory's main.conf belongs to root and nobody else may write it (an instance the
// administrator made), so a user cannot point it at a spool of their own choosing.
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>

#include "lib/base/file.h"
#include "lib/config/config.h"
#include "lib/ipc/message.h"
#include "lib/ipc/protocols.h"
#include "lib/queue/showq_protocol.h"
#include "lib/queue/spool.h"
#include "sendmail/drop.h"

using namespace postilion;

#ifdef __SANITIZE_ADDRESS__
// Sanitizer builds (configure --enable-sanitizers) only. Set-gid, postdrop is not
// dumpable: it cannot read its own /proc/self/environ, where the sanitizer runtime looks
// for ASAN_OPTIONS, and LeakSanitizer cannot stop a non-dumpable process to scan it, so
// every run as a user ended in "LeakSanitizer has encountered a fatal error" (exit 1).
// Leak checking is off here, as scripts/sanitizer-test has it for every other program.
extern "C" const char* __asan_default_options() { return "detect_leaks=0"; }
#endif

namespace {

bool admin_config(const std::string& dir) {
  struct stat st;
  std::string path = dir + "/main.conf";
  return ::stat(path.c_str(), &st) == 0 && st.st_uid == 0 && !(st.st_mode & (S_IWGRP | S_IWOTH));
}

constexpr int kShowqTimeoutMs = 60000;

// No socket, or nobody listening on it: the instance (or its showq line) is missing.
std::string why(const Error& e) {
  if (e.code() == ENOENT || e.code() == ECONNREFUSED) return e.str() + " (is the mail system running?)";
  return e.str();
}

// -p: the listing from showq on standard output.
int print_queue(const std::string& queue_dir) {
  auto text = queue::showq_list(file::join(queue_dir, ipc::proto::kShowqSocket), kShowqTimeoutMs);
  if (!text) {
    std::fprintf(stderr, "postdrop: fatal: cannot list the queue: %s\n", why(text.error()).c_str());
    return EX_UNAVAILABLE;
  }
  if (std::fwrite(text->data(), 1, text->size(), stdout) != text->size() || std::fflush(stdout) != 0) return EX_IOERR;
  return EX_OK;
}

// -f: showq passes the flush on to qmgr.
int flush_queue(const std::string& queue_dir) {
  Status s = queue::showq_flush(file::join(queue_dir, ipc::proto::kShowqSocket), kShowqTimeoutMs);
  if (!s) {
    std::fprintf(stderr, "postdrop: fatal: cannot flush the queue: %s\n", why(s.error()).c_str());
    return EX_UNAVAILABLE;
  }
  return EX_OK;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_dir = std::string(SYSCONFDIR) + "/postilion";
  bool privileged = ::getegid() != ::getgid() || ::geteuid() != ::getuid();
  bool may_choose = !privileged || ::getuid() == 0;
  if (std::getenv("MAIL_CONFIG") && (may_choose || admin_config(std::getenv("MAIL_CONFIG"))))
    config_dir = std::getenv("MAIL_CONFIG");
  char mode = 0;  // 0: drop a message; 'p': print the queue; 'f': flush it
  int c;
  while ((c = getopt(argc, argv, "c:fprv")) != -1) {
    if (c == 'c') {
      if (!may_choose && !admin_config(optarg)) {
        std::fprintf(stderr, "postdrop: fatal: -c: not an administrator's configuration\n");
        return EX_NOPERM;
      }
      config_dir = optarg;
    } else if ((c == 'p' || c == 'f') && (mode == 0 || mode == c)) {
      mode = static_cast<char>(c);
    } else if (c != 'r' && c != 'v') {
      std::fprintf(stderr, "usage: postdrop [-c config_dir] [-p | -f]\n");
      return EX_USAGE;
    }
  }
  if (optind != argc) {
    std::fprintf(stderr, "usage: postdrop [-c config_dir] [-p | -f]\n");
    return EX_USAGE;
  }
  std::optional<config::Config> cfg;
  try {
    cfg = config::Config::load(config_dir);
  } catch (const config::ConfigError& e) {
    std::fprintf(stderr, "postdrop: fatal: %s\n", e.what());
    return EX_CONFIG;
  }
  if (mode == 'p') return print_queue(cfg->str("queue_directory"));
  if (mode == 'f') return flush_queue(cfg->str("queue_directory"));
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
