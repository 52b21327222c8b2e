// sendmail/main.cc - sendmail(1), mailq(1), newaliases(1): the sendmail interface.
// Mail is handed to postdrop(1), the only writer of maildrop/; see sendmail(1). The queue
// listing (-bp, mailq) and flush (-q) of users other than root and mail_owner go through
// postdrop -p / -f to showq(8).
#include <sys/wait.h>
#include <sysexits.h>
#include <pwd.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>

#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/config/config.h"
#include "lib/ipc/message.h"
#include "lib/ipc/protocols.h"
#include "lib/mail/dsn.h"
#include "lib/maps/maps.h"
#include "lib/queue/queue_control.h"
#include "sendmail/compose.h"
#include "sendmail/drop.h"
#include "sendmail/options.h"
#include "sendmail/smtp_mode.h"

using namespace postilion;

namespace {

std::string prog = "sendmail";

int die(int code, const std::string& why) {
  std::fprintf(stderr, "%s: fatal: %s\n", prog.c_str(), why.c_str());
  return code;
}

std::string postdrop_path(const config::Config& cfg) {
  char self[4096];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    self[n] = '\0';
    std::string beside = file::join(file::dirname(self), "postdrop");
    if (::access(beside.c_str(), X_OK) == 0) return beside;
  }
  return file::join(cfg.str("command_directory"), "postdrop");
}

// Runs postdrop with the envelope and content on its standard input. Returns "" and
// the queue id, or the reason.
std::string run_postdrop(const config::Config& cfg, const sendmail::Envelope& env, const std::string& content,
                         std::string* id, int* code) {
  int in[2], out[2];
  if (::pipe(in) != 0 || ::pipe(out) != 0) return "pipe failed";
  std::string path = postdrop_path(cfg);
  pid_t pid = ::fork();
  if (pid < 0) return "fork failed";
  if (pid == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::close(in[0]), ::close(in[1]), ::close(out[0]), ::close(out[1]);
    std::string dir = cfg.config_dir();
    const char* argv[] = {"postdrop", "-c", dir.c_str(), nullptr};
    ::execv(path.c_str(), const_cast<char**>(argv));
    std::fprintf(stderr, "%s: fatal: cannot run %s: %s\n", prog.c_str(), path.c_str(), std::strerror(errno));
    ::_exit(EX_UNAVAILABLE);
  }
  UniqueFd wr(in[1]), rd(out[0]);
  ::close(in[0]);
  ::close(out[1]);
  ::signal(SIGPIPE, SIG_IGN);
  Status s = sendmail::write_envelope(wr.get(), env);
  if (s) s = file::write_all(wr.get(), content);
  wr.reset();
  auto said = file::read_all(rd.get(), 4096);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  *code = WIFEXITED(status) ? WEXITSTATUS(status) : EX_SOFTWARE;
  if (*code != 0) return "postdrop failed";
  if (!s) return s.error().str();
  *id = said ? std::string(str::trim(*said)) : "";
  return "";
}

std::vector<sendmail::DropRecipient> drop_recipients(const sendmail::Options& o, const std::vector<std::string>& rcpts) {
  unsigned notify = o.notify.empty() ? 0 : mail::parse_notify(o.notify).value_or(0);
  std::vector<sendmail::DropRecipient> out;
  for (const auto& r : rcpts) out.push_back({r, "", notify});
  return out;
}

// Root and mail_owner read the spool and reach qmgr themselves; everyone else goes
// through the set-gid postdrop to showq(8) on public/showq.
bool spool_owner(const config::Config& cfg) {
  if (::getuid() == 0) return true;
  struct passwd* pw = ::getpwnam(cfg.str("mail_owner").c_str());
  return pw && pw->pw_uid == ::getuid();
}

// Runs `postdrop -c CONFIG_DIR flag` with our standard streams; returns its exit status.
int postdrop_mode(const config::Config& cfg, const char* flag) {
  std::string path = postdrop_path(cfg);
  std::string dir = cfg.config_dir();
  std::fflush(stdout);
  pid_t pid = ::fork();
  if (pid < 0) return die(EX_OSERR, "fork failed");
  if (pid == 0) {
    const char* argv[] = {"postdrop", "-c", dir.c_str(), flag, nullptr};
    ::execv(path.c_str(), const_cast<char**>(argv));
    std::fprintf(stderr, "%s: fatal: cannot run %s: %s\n", prog.c_str(), path.c_str(), std::strerror(errno));
    ::_exit(EX_UNAVAILABLE);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : EX_SOFTWARE;
}

int list_queue(const config::Config& cfg) {
  if (!spool_owner(cfg)) return postdrop_mode(cfg, "-p");
  queue::SpoolStore store(cfg.str("queue_directory"));
  if (::access(store.spool().dir(queue::Folder::Active).c_str(), R_OK | X_OK) != 0)
    return die(EX_NOPERM, "cannot read the queue: " + std::string(std::strerror(errno)));
  std::fputs(queue::format_mailq(queue::list_queue(store)).c_str(), stdout);
  return EX_OK;
}

int new_aliases(const config::Config& cfg) {
  int rc = EX_OK;
  for (const auto& spec : maps::split_specs(cfg.str("alias_maps"))) {
    if (!spec.starts_with("hash:")) continue;
    std::vector<std::string> warnings;
    maps::BuildOptions opts;
    opts.syntax = maps::Syntax::Aliases;
    Status s = maps::build(spec.substr(5), opts, &warnings);
    for (const auto& w : warnings) std::fprintf(stderr, "%s: warning: %s\n", prog.c_str(), w.c_str());
    if (!s) {
      std::fprintf(stderr, "%s: fatal: %s\n", prog.c_str(), s.error().c_str());
      rc = s.error().temporary() ? EX_TEMPFAIL : EX_DATAERR;
    }
  }
  return rc;
}

int flush(const config::Config& cfg) {
  if (!spool_owner(cfg)) return postdrop_mode(cfg, "-f");
  ipc::Message m;
  m.set("cmd", "flush");
  auto r = ipc::call(file::join(cfg.str("queue_directory"), ipc::proto::kQmgrSocket), m, 10000);
  if (!r) return die(EX_UNAVAILABLE, "cannot reach qmgr: " + r.error().str());
  return EX_OK;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  if (!args.empty()) prog = file::basename(args[0]);
  auto parsed = sendmail::parse_options(args);
  if (!parsed.options) return die(EX_USAGE, parsed.error);
  const sendmail::Options& o = *parsed.options;
  for (const auto& w : o.warnings) std::fprintf(stderr, "%s: warning: %s\n", prog.c_str(), w.c_str());
  std::string config_dir = !o.config_dir.empty() ? o.config_dir
                           : std::getenv("MAIL_CONFIG") ? std::getenv("MAIL_CONFIG")
                                                        : std::string(SYSCONFDIR) + "/postilion";
  std::optional<config::Config> cfg;
  try {
    cfg = config::Config::load(config_dir);
  } catch (const config::ConfigError& e) {
    return die(EX_CONFIG, e.what());
  }
  switch (o.mode) {
    case sendmail::Mode::ListQueue: return list_queue(*cfg);
    case sendmail::Mode::NewAliases: return new_aliases(*cfg);
    case sendmail::Mode::Flush: return flush(*cfg);
    default: break;
  }
  struct passwd* pw = ::getpwuid(::getuid());
  sendmail::Who who;
  who.login = pw ? pw->pw_name : std::to_string(::getuid());
  who.uid = ::getuid();
  who.myhostname = cfg->str("myhostname");
  who.myorigin = cfg->str("myorigin");
  who.now = static_cast<int64_t>(::time(nullptr));
  who.unique = str::format("%lld.%lld.%d", static_cast<long long>(file::now_us() / 1000000),
                           static_cast<long long>(file::now_us() % 1000000), static_cast<int>(::getpid()));
  uint64_t max = cfg->bytes("message_size_limit");
  if (o.mode == sendmail::Mode::Smtp) {
    return sendmail::smtp_session(std::cin, std::cout, who.myhostname,
        [&](const std::string& sender, const std::vector<std::string>& rcpts, const std::string& content, std::string* id) {
          sendmail::Envelope env{sender, drop_recipients(o, rcpts), o.envid, o.ret};
          int code = 0;
          return run_postdrop(*cfg, env, content, id, &code);
        }, max ? max : SIZE_MAX);
  }
  std::string input;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0) {
    input.append(buf, n);
    if (max && input.size() > max + 65536) return die(EX_DATAERR, "message too large");
  }
  auto p = sendmail::prepare(o, input, who);
  if (!p.error.empty()) return die(p.exit_code, p.error);
  sendmail::Envelope env{p.sender, drop_recipients(o, p.recipients), o.envid, o.ret};
  std::string id;
  int code = 0;
  if (std::string why = run_postdrop(*cfg, env, p.content, &id, &code); !why.empty())
    return code ? code : die(EX_TEMPFAIL, why);
  if (o.verbose) std::fprintf(stderr, "%s: queued as %s\n", prog.c_str(), id.c_str());
  return EX_OK;
}
