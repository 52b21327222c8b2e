// master/main.cc - entry point of master(8), the Postilion supervisor: reads main.conf
// and master.conf, holds the spool's lock, opens listeners, runs the services.
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/ipc/protocols.h"
#include "lib/log/log.h"
#include "master/control.h"
#include "master/supervisor.h"

using namespace postilion;

namespace {

[[noreturn]] void usage() {
  std::fprintf(stderr, "usage: master [-f] [-v] [-c config_dir]\n");
  std::exit(2);
}

// Takes the spool's lock (flock on pid/master.pid): one master per queue_directory.
UniqueFd lock_spool(const std::string& queue_dir) {
  std::string dir = file::join(queue_dir, "pid");
  if (auto st = file::make_dirs(dir, 0755); !st) log::fatal("%s", st.error().c_str());
  std::string path = file::join(dir, "master.pid");
  auto fd = file::open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (!fd) log::fatal("%s", fd.error().c_str());
  if (::flock(fd->get(), LOCK_EX | LOCK_NB) != 0) {
    auto text = file::read_file(path, 64);
    std::string pid = text ? std::string(str::trim(*text)) : "?";
    log::fatal("the master is already running (pid %s) for queue_directory %s", pid.c_str(), queue_dir.c_str());
  }
  return std::move(*fd);
}

void write_pid(int fd) {
  std::string text = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size()))
    log::fatal("pid/master.pid: %s", std::strerror(errno));
}

void daemonize() {
  for (int i = 0; i < 2; ++i) {
    pid_t pid = ::fork();
    if (pid < 0) log::fatal("fork: %s", std::strerror(errno));
    if (pid > 0) ::_exit(0);
    if (i == 0) ::setsid();
  }
  UniqueFd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (null) {
    for (int fd = 0; fd <= 2; ++fd) ::dup2(null.get(), fd);
    if (null.get() <= 2) null.release();  // it is one of 0-2 now: keep it open
  }
  log::reset_pid();
}

// True when stderr already goes to path (postilionctl start points it at the mail log),
// so that lines are not written twice.
bool stderr_is(const std::string& path) {
  struct stat a, b;
  return ::fstat(2, &a) == 0 && ::stat(path.c_str(), &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_dir = SYSCONFDIR "/postilion";
  bool foreground = false, verbose = false;
  int opt;
  while ((opt = ::getopt(argc, argv, "c:fv")) != -1) {
    switch (opt) {
      case 'c': config_dir = optarg; break;
      case 'f': foreground = true; break;
      case 'v': verbose = true; break;
      default: usage();
    }
  }
  if (optind != argc) usage();
  log::init("master");
  log::use_stderr();

  // Everything that can be wrong with the configuration is found here, before anything
  // is started: file:line on stderr, exit 1.
  std::unique_ptr<config::Config> cfg;
  std::vector<config::ServiceEntry> entries;
  try {
    cfg = std::make_unique<config::Config>(config::Config::load(config_dir));
    entries = config::load_master_conf(*cfg);
  } catch (const std::exception& e) {
    log::fatal("%s", e.what());
  }
  log::init("master", cfg->str("syslog_name"));
  std::string maillog = cfg->str("maillog_file");
  if (!maillog.empty()) {
    bool echo = !stderr_is(maillog);
    if (auto st = log::use_file(maillog); !st) log::fatal("maillog_file: %s", st.error().c_str());
    log::also_stderr(echo);
  } else if (!foreground) {
    std::string name = cfg->str("syslog_facility");
    auto facility = log::facility_named(name);
    if (!facility) log::fatal("syslog_facility: unknown facility \"%s\"", name.c_str());
    log::use_syslog(*facility);
    log::init("master", cfg->str("syslog_name"));
    log::also_stderr(true);
  }
  std::string queue_dir = cfg->str("queue_directory");
  UniqueFd lock = lock_spool(queue_dir);
  ::signal(SIGPIPE, SIG_IGN);

  event::EventBase base;
  master::Supervisor sup(base, config_dir, verbose);
  master::Control control(base, sup);
  // Listeners are opened before going into the background, so that an address in use
  // is a start-up error with file:line and exit status 1, and nothing runs.
  try {
    sup.open(*cfg, entries);
  } catch (const std::exception& e) {
    log::fatal("%s", e.what());
  }
  if (auto st = control.open(file::join(queue_dir, ipc::proto::kMasterSocket)); !st)
    log::fatal("control socket: %s", st.error().c_str());
  if (!foreground) {
    daemonize();
    base.reinit_after_fork();
  }
  log::also_stderr(foreground && !maillog.empty() && !stderr_is(maillog));
  write_pid(lock.get());

  // Signals are handled in the loop; set them up before the first child exists.
  event::Signal hup(base, SIGHUP, [&] {
    log::info("reload requested by SIGHUP");
    if (auto st = sup.reload(); !st) log::error("reload: %s", st.error().c_str());
  });
  event::Signal term(base, SIGTERM, [&] { sup.stop(); });
  event::Signal intr(base, SIGINT, [&] { sup.stop(); });

  log::info("daemon started -- version %s, configuration %s", cfg->str("mail_version").c_str(), config_dir.c_str());
  if (::geteuid() != 0) {
    struct passwd* pw = ::getpwuid(::geteuid());
    std::string me = pw ? pw->pw_name : std::to_string(::geteuid());
    log::warn("running as %s, not root: every service runs as %s", me.c_str(), me.c_str());
  }
  sup.start();
  base.loop();
  control.close();
  ::unlink(file::join(queue_dir, "pid/master.pid").c_str());
  log::info("stopped");
  return 0;
}
