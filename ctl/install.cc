// ctl/install.cc - `postilionctl install`: makes Postilion this host's mail system
// (run by the Debian package's postinst, and safe to run again). The system users and
// groups, then either a new instance written by `init`'s code (every address, the
// system's /etc/aliases and /etc/mailname, a self-signed certificate) or, when one is
// there, the same instance kept as it is with its spool, aliases database and mailbox
// services brought in step with what is installed.
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include "ctl/ctl.h"
#include "ctl/instance.h"
#include "ctl/spool.h"
#include "ctl/tls_files.h"
#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/maps/maps.h"

#ifndef LIBEXECDIR
#define LIBEXECDIR "/usr/lib/postilion"
#endif
#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR "/var"
#endif
#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif

namespace postilion::ctl {
namespace {

const char* const kMailOwner = "postilion";
const char* const kDropGroup = "postdrop";
const char* const kVirtualUser = "vmail";
const std::string kVirtualBase = LOCALSTATEDIR "/mail/vhosts";
const std::string kAliases = SYSCONFDIR "/aliases";
const std::string kMailname = SYSCONFDIR "/mailname";
// Services install adds to master.conf when their program is installed later (the
// mailbox package) and takes out when it is removed.
const char* const kMailboxPrograms[] = {"pop3d", "imapd"};

// Runs argv (no shell) and waits; true when it exits 0.
bool run(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    execvp(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return false;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

Status ensure_group(const std::string& name) {
  if (getgrnam(name.c_str())) return {};
  std::printf("postilionctl: adding system group %s\n", name.c_str());
  if (!run({"groupadd", "--system", name})) return Error("groupadd --system " + name + " failed");
  return {};
}

// A system account that cannot log in, with a group of its own name.
Status ensure_user(const std::string& name, const std::string& home, const std::string& gecos) {
  if (getpwnam(name.c_str())) return {};
  if (auto st = ensure_group(name); !st) return st;
  std::printf("postilionctl: adding system user %s\n", name.c_str());
  if (!run({"useradd", "--system", "--gid", name, "--home-dir", home, "--no-create-home", "--shell",
            "/usr/sbin/nologin", "--comment", gecos, name}))
    return Error("useradd --system " + name + " failed");
  return {};
}

// The aliases database is rebuilt when it is missing or older than its source.
Status refresh_aliases(const std::string& aliases) {
  struct stat src {}, db {};
  if (stat(aliases.c_str(), &src) != 0) return {};
  if (stat((aliases + ".db").c_str(), &db) == 0 && db.st_mtime >= src.st_mtime) return {};
  std::printf("postilionctl: building %s.db\n", aliases.c_str());
  return maps::build(aliases, maps::BuildOptions{.syntax = maps::Syntax::Aliases});
}

// The program a master.conf line runs (its eighth field), "" for comments, blank and
// continuation lines.
std::string command_of(const std::string& line) {
  if (line.empty() || line[0] == '#' || line[0] == ' ' || line[0] == '\t') return "";
  auto fields = str::split(line, " \t");
  return fields.size() >= 8 ? fields[7] : "";
}

bool mailbox_program(const std::string& prog) {
  return std::find(std::begin(kMailboxPrograms), std::end(kMailboxPrograms), prog) != std::end(kMailboxPrograms);
}

Status sync_mailbox_services(const Context& ctx, const config::Config& cfg) {
  const std::string path = file::join(ctx.config_dir, "master.conf");
  auto text = file::read_file(path, 1 << 20);
  if (!text) return text.error();
  const std::string daemon_dir = cfg.str("daemon_directory");
  InitOptions o;
  o.listen = "all";
  o.tls_selfsigned = !cfg.str("imapd_tls_cert_file").empty() && !cfg.str("pop3d_tls_cert_file").empty();
  std::vector<std::string> changes;
  std::string out = mailbox_services_in_step(
      *text, master_conf_text(o, daemon_dir),
      [&](const std::string& prog) { return access(file::join(daemon_dir, prog).c_str(), X_OK) == 0; },
      &changes);
  if (changes.empty()) return {};
  for (const auto& c : changes) std::printf("postilionctl: %s: %s\n", path.c_str(), c.c_str());
  try {  // what is written must load
    (void)config::parse_master_conf(out, cfg, path);
  } catch (const config::ConfigError& e) {
    return Error(std::string("master.conf with the mailbox services in step: ") + e.what());
  }
  return file::write_file_atomic(path, out, 0644);
}

// The certificate install made, made again when it was removed.
Status refresh_certificate(const Context& ctx, const config::Config& cfg) {
  const std::string cert = cfg.str("smtpd_tls_cert_file"), key = cfg.str("smtpd_tls_key_file");
  const std::string own = file::join(ctx.config_dir, "tls");
  if (cert != own + "/cert.pem" || key != own + "/key.pem") return {};
  if (file::exists(cert) && file::exists(key)) return {};
  std::printf("postilionctl: writing a self-signed certificate for %s\n", cfg.str("myhostname").c_str());
  if (auto st = file::make_dirs(own, 0755); !st) return st;
  return write_selfsigned(cert, key, cfg.str("myhostname"));
}

void install_usage(FILE* out) {
  std::fprintf(out,
               "usage: postilionctl [-c CONFIG_DIR] install [--hostname NAME]\n"
               "Makes Postilion this host's mail system (as root; safe to run again): the users\n"
               "%s, %s and the group %s, the spool, and CONFIG_DIR's main.conf and\n"
               "master.conf (every address: ports 25, 587, 465, 110, 995, 143, 993) with a\n"
               "self-signed certificate, when there are none; %s and its database.\n",
               kMailOwner, kVirtualUser, kDropGroup, kAliases.c_str());
}

}  // namespace

std::string mailbox_services_in_step(const std::string& text, const std::string& template_text,
                                     const std::function<bool(const std::string&)>& installed,
                                     std::vector<std::string>* changes) {
  std::vector<std::string> lines = str::split_exact(text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  std::string out;
  bool dropping = false;
  std::vector<std::string> present;
  for (const auto& line : lines) {
    bool continuation = !line.empty() && (line[0] == ' ' || line[0] == '\t');
    if (continuation && dropping) continue;
    dropping = false;
    std::string prog = command_of(line);
    if (mailbox_program(prog) && !installed(prog)) {
      changes->push_back("taken out (" + prog + " is not installed): " + line);
      dropping = true;
      continue;
    }
    if (mailbox_program(prog)) present.push_back(prog);
    out += line + "\n";
  }
  for (const std::string& line : str::split_exact(template_text, '\n')) {
    std::string prog = command_of(line);
    if (!mailbox_program(prog) || !installed(prog) ||
        std::find(present.begin(), present.end(), prog) != present.end())
      continue;
    changes->push_back("added: " + line);
    out += line + "\n";
  }
  return changes->empty() ? text : out;
}

int cmd_install(const Context& ctx) {
  std::string hostname;
  for (size_t i = 0; i < ctx.args.size(); ++i) {
    const std::string& a = ctx.args[i];
    if (a == "--help" || a == "-h") {
      install_usage(stdout);
      return kOk;
    }
    if (a == "--hostname" && i + 1 < ctx.args.size()) {
      hostname = ctx.args[++i];
    } else if (a.starts_with("--hostname=")) {
      hostname = a.substr(11);
    } else {
      complain("install: unexpected argument: " + a + " (see install --help)");
      return kError;
    }
  }
  if (geteuid() != 0) {
    complain("install: run as root (it adds system users and writes " + ctx.config_dir + ")");
    return kError;
  }
  umask(022);
  for (Status st : {ensure_group(kDropGroup),
                    ensure_user(kMailOwner, LOCALSTATEDIR "/spool/postilion", "Postilion mail system"),
                    ensure_user(kVirtualUser, kVirtualBase, "Postilion virtual mailboxes")})
    if (!st) {
      complain("install: " + st.error().str());
      return kError;
    }

  const std::string main_path = file::join(ctx.config_dir, "main.conf");
  const std::string master_path = file::join(ctx.config_dir, "master.conf");
  const bool have_main = file::exists(main_path), have_master = file::exists(master_path);
  if (have_main != have_master) {
    complain("install: " + (have_main ? master_path : main_path) + " is missing beside " +
             (have_main ? main_path : master_path) +
             " (move the other away to have both written again, or write it)");
    return kBadConfig;
  }
  if (!have_main) {
    const passwd* vmail = getpwnam(kVirtualUser);
    InitOptions o;
    o.listen = "all";
    o.hostname = hostname;
    o.user = kMailOwner;
    o.aliases = kAliases;
    // Debian's mail name: the domain of this host's unqualified senders.
    o.myorigin = kMailname;
    o.tls_selfsigned = true;
    if (vmail) {
      o.more = {{"virtual_mailbox_base", kVirtualBase},
                {"virtual_uid_maps", "static:" + std::to_string(vmail->pw_uid)},
                {"virtual_gid_maps", "static:" + std::to_string(vmail->pw_gid)}};
    }
    if (!file::exists(kAliases))
      std::printf("postilionctl: writing %s (postmaster: root)\n", kAliases.c_str());
    if (int rc = write_instance(ctx, o); rc != kOk) return rc;
    bool named = false;
    try {
      named = !config::origin_from_file(kMailname, "").empty();
    } catch (const config::ConfigError&) {
      named = true;  // a bad file is load_config's to report, below
    }
    if (!named)
      std::printf("postilionctl: %s is missing or empty: myorigin is $myhostname until it names the domain\n",
                  kMailname.c_str());
  }

  // Also on every later run: what an upgrade or the administrator may have disturbed.
  auto cfg = load_config(ctx);
  if (!cfg) return kBadConfig;
  for (Status st : {create_spool(*cfg), refresh_certificate(ctx, *cfg)})
    if (!st) {
      complain("install: " + st.error().str());
      return kError;
    }
  if (const passwd* vmail = getpwnam(kVirtualUser); vmail && cfg->str("virtual_mailbox_base") == kVirtualBase &&
                                                     !file::exists(kVirtualBase)) {
    if (mkdir(kVirtualBase.c_str(), 0750) != 0 || chown(kVirtualBase.c_str(), vmail->pw_uid, vmail->pw_gid) != 0) {
      complain("install: " + Error::from_errno(kVirtualBase).str());
      return kError;
    }
  }
  for (const std::string& spec : str::split(cfg->str("alias_database"), " \t,")) {
    if (!spec.starts_with("hash:")) continue;
    if (auto st = refresh_aliases(spec.substr(5)); !st) {
      complain("install: " + st.error().str());
      return kError;
    }
  }
  if (have_main) {
    if (auto st = sync_mailbox_services(ctx, *cfg); !st) {
      complain("install: " + st.error().str());
      return kError;
    }
    std::printf("postilionctl: kept the instance in %s (spool %s)\n", ctx.config_dir.c_str(),
                cfg->str("queue_directory").c_str());
  }
  return kOk;
}

}  // namespace postilion::ctl
