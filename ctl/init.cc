// ctl/init.cc - `postilionctl init`: writes a fresh, working instance (main.conf,
// master.conf, aliases, spool, optionally a self-signed certificate) into CONFIG_DIR.
// `postilionctl install` (install.cc) writes the system's instance with the same code.
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
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
#define LIBEXECDIR "/usr/local/libexec/postilion"
#endif
#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR "/var"
#endif

namespace postilion::ctl {
namespace {

struct OptionSpec {
  const char* name;
  std::string InitOptions::*value;  // nullptr: a flag
  bool InitOptions::*flag;
  const char* help;
};

const OptionSpec kOptions[] = {
    {"listen", &InitOptions::listen, nullptr, "ADDR   address of every inet service (default 127.0.0.1; all: every address)"},
    {"smtp-port", &InitOptions::smtp_port, nullptr, "N   SMTP (default 25; 0 = off)"},
    {"submission-port", &InitOptions::submission_port, nullptr, "N   submission, AUTH required (default 587)"},
    {"smtps-port", &InitOptions::smtps_port, nullptr, "N   SMTP over implicit TLS (default 465)"},
    {"pop3-port", &InitOptions::pop3_port, nullptr, "N   POP3 (default 110)"},
    {"pop3s-port", &InitOptions::pop3s_port, nullptr, "N   POP3 over implicit TLS (default 995)"},
    {"imap-port", &InitOptions::imap_port, nullptr, "N   IMAP (default 143)"},
    {"imaps-port", &InitOptions::imaps_port, nullptr, "N   IMAP over implicit TLS (default 993)"},
    {"hostname", &InitOptions::hostname, nullptr, "NAME   myhostname (default: this host's name)"},
    {"domain", &InitOptions::domain, nullptr, "NAME   mydomain (default: hostname minus its first label)"},
    {"spool", &InitOptions::spool, nullptr, "DIR   queue_directory (default " LOCALSTATEDIR "/spool/postilion)"},
    {"prefix", &InitOptions::prefix, nullptr, "DIR   installed tree; daemons in DIR/libexec/postilion"},
    {"user", &InitOptions::user, nullptr, "NAME   mail_owner (default: you; `postilion` for root)"},
    {"maillog", &InitOptions::maillog, nullptr, "FILE   maillog_file (default: syslog)"},
    {"tls-selfsigned", nullptr, &InitOptions::tls_selfsigned, "   make a self-signed certificate for the hostname"},
    {"force", nullptr, &InitOptions::force, "   overwrite an existing instance"},
};

void init_usage(FILE* out) {
  std::fprintf(out, "usage: postilionctl [-c CONFIG_DIR] init [OPTIONS]\n"
                    "Writes main.conf, master.conf and the spool of a new instance.\n"
                    "Services whose program is not installed are left out of master.conf.\n");
  for (const OptionSpec& o : kOptions) std::fprintf(out, "  --%s %s\n", o.name, o.help);
  std::fprintf(out, "  --help   this text\n");
}

// Returns false (after a message) on a bad option.
bool parse_options(const std::vector<std::string>& args, InitOptions* opt, bool* help) {
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    if (a == "--help" || a == "-h") {
      *help = true;
      return true;
    }
    if (!a.starts_with("--")) {
      complain("init: unexpected argument: " + a);
      return false;
    }
    std::string name = a.substr(2), value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
      has_value = true;
    }
    const OptionSpec* spec = nullptr;
    for (const OptionSpec& o : kOptions)
      if (name == o.name) spec = &o;
    if (!spec) {
      complain("init: unknown option --" + name + " (see init --help)");
      return false;
    }
    if (spec->flag) {
      opt->*(spec->flag) = true;
      continue;
    }
    if (!has_value) {
      if (i + 1 >= args.size()) {
        complain("init: --" + name + " needs a value");
        return false;
      }
      value = args[++i];
    }
    opt->*(spec->value) = value;
  }
  return true;
}

std::string this_host() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || !buf[0]) return "localhost.localdomain";
  std::string h = buf;
  if (h.find('.') == std::string::npos) h += ".localdomain";
  return h;
}

std::string invoking_user() {
  if (geteuid() == 0) return "postilion";
  if (const passwd* pw = getpwuid(geteuid())) return pw->pw_name;
  return "postilion";
}

bool valid_port(const std::string& s) {
  auto v = str::parse_uint(s);
  return v && *v <= 65535;
}

// Only parameters this build knows are written, so the file always loads.
void put(std::string* out, const char* name, const std::string& value) {
  if (config::find_param(name)) *out += std::string(name) + " = " + value + "\n";
}

std::string option_args(const std::vector<std::pair<const char*, const char*>>& opts) {
  std::string s;
  for (auto& [name, value] : opts)
    if (config::find_param(name)) s += std::string(" -o ") + name + "=" + value;
  return s;
}

const std::string kOff = "0";

}  // namespace

std::string master_conf_text(const InitOptions& o, const std::string& daemon_dir) {
  auto have = [&](const char* prog) { return access((daemon_dir + "/" + prog).c_str(), X_OK) == 0; };
  // "all": services without an address listen on every one (inet_interfaces = all).
  std::string host = o.listen == "all"                          ? ""
                     : o.listen.find(':') != std::string::npos ? "[" + o.listen + "]"
                                                               : o.listen;
  std::string t =
      "# master.conf - the service table of this Postilion instance (see master.conf(5)).\n"
      "# service           type  private unpriv chroot wakeup maxproc command + args\n";
  auto line = [&](const std::string& service, const char* type, const char* priv, const char* unpriv,
                  const char* wakeup, const char* maxproc, const std::string& command) {
    char buf[512];
    std::snprintf(buf, sizeof buf, "%-19s %-5s %-7s %-6s %-6s %-6s %-7s %s\n", service.c_str(), type,
                  priv, unpriv, "n", wakeup, maxproc, command.c_str());
    t += buf;
  };
  struct Inet {
    const std::string& port;
    const char* prog;
    std::vector<std::pair<const char*, const char*>> opts;
  };
  // Implicit-TLS services and required STARTTLS need a certificate; without one they
  // are left out (and submission offers AUTH only where smtpd allows it without TLS).
  const bool tls = o.tls_selfsigned;
  std::vector<std::pair<const char*, const char*>> submission = {
      {"smtpd_sasl_auth_enable", "yes"}, {"smtpd_sasl_auth_required", "yes"}};
  if (tls) submission.push_back({"smtpd_tls_security_level", "encrypt"});
  const Inet inets[] = {
      {o.smtp_port, "smtpd", {}},
      {o.submission_port, "smtpd", submission},
      {tls ? o.smtps_port : kOff, "smtpd",
       {{"smtpd_tls_wrappermode", "yes"},
        {"smtpd_sasl_auth_enable", "yes"},
        {"smtpd_sasl_auth_required", "yes"}}},
      {o.pop3_port, "pop3d", {}},
      {tls ? o.pop3s_port : kOff, "pop3d", {{"pop3d_tls_wrappermode", "yes"}}},
      {o.imap_port, "imapd", {}},
      {tls ? o.imaps_port : kOff, "imapd", {{"imapd_tls_wrappermode", "yes"}}},
  };
  for (const Inet& s : inets) {
    if (s.port == "0" || !have(s.prog)) continue;
    // pop3d and imapd start as root: each session becomes the mailbox owner after
    // login, and the pre-login process drops to mail_owner by itself.
    const char* unpriv = std::string(s.prog) == "pop3d" || std::string(s.prog) == "imapd" ? "n" : "-";
    line(host.empty() ? s.port : host + ":" + s.port, "inet", "n", unpriv, "-", "-", s.prog + option_args(s.opts));
  }
  if (o.smtp_port != "0" && have("smtpd") && have("postscreen")) {
    // postscreen(8) is opt-in, as in Postfix: these two lines replace smtpd's on the port.
    std::string smtp = host.empty() ? o.smtp_port : host + ":" + o.smtp_port;
    t += "# To screen clients with postscreen(8), replace the " + smtp + " smtpd line with:\n";
    t += "#" + std::string(1, ' ');
    line(smtp, "inet", "n", "-", "-", "1", "postscreen");
    t += "#" + std::string(1, ' ');
    line("smtpd", "pass", "-", "-", "-", "-", "smtpd");
  }
  struct Unix {
    const char* name;
    const char* priv;
    const char* unpriv;
    const char* wakeup;
    const char* maxproc;
    const char* prog = nullptr;  // nullptr: the program named like the service
  };
  // qmgr is one process woken up periodically; local and virtual run as root to
  // deliver as the recipient (virtual: as the mailbox's owner uid); auth runs as root
  // because it alone reads /etc/shadow; the rest are unprivileged. showq is public
  // (public/showq, for postdrop -p / -f: mailq and sendmail -q of every local user).
  // anvil is one process: smtpd's per-client counts.
  // relay is the smtp client again, for relay_domains (relay_transport), as in Postfix.
  const Unix unixes[] = {
      {"qmgr", "-", "-", "60", "1"}, {"resolver", "-", "-", "-", "1"}, {"auth", "-", "n", "-", "-"},
      {"local", "-", "n", "-", "-"},  {"smtp", "-", "-", "-", "-"},      {"showq", "n", "-", "-", "-"},
      {"anvil", "-", "-", "-", "1"}, {"relay", "-", "-", "-", "-", "smtp"}, {"virtual", "-", "n", "-", "-"},
  };
  for (const Unix& s : unixes) {
    const char* prog = s.prog ? s.prog : s.name;
    if (have(prog)) line(s.name, "unix", s.priv, s.unpriv, s.wakeup, s.maxproc, prog);
  }
  // The Prometheus exporter is off by default: it needs metrics_listen too.
  if (have("metrics")) {
    t += "# Prometheus metrics: set metrics_listen = 127.0.0.1:9154 in main.conf, then remove the '#':\n#";
    line("metrics", "unix", "-", "-", "-", "1", "metrics");
  }
  return t;
}

int cmd_init(const Context& ctx) {
  InitOptions o;
  bool help = false;
  if (!parse_options(ctx.args, &o, &help)) return kError;
  if (help) {
    init_usage(stdout);
    return kOk;
  }
  return write_instance(ctx, o);
}

int write_instance(const Context& ctx, InitOptions o) {
  for (const auto* p : {&o.smtp_port, &o.submission_port, &o.smtps_port, &o.pop3_port,
                        &o.pop3s_port, &o.imap_port, &o.imaps_port})
    if (!valid_port(*p)) {
      complain("init: bad port number: " + *p);
      return kError;
    }
  if (o.hostname.empty()) o.hostname = this_host();
  if (o.domain.empty()) {
    auto dot = o.hostname.find('.');
    o.domain = dot == std::string::npos ? "localdomain" : o.hostname.substr(dot + 1);
  }
  if (o.spool.empty()) o.spool = LOCALSTATEDIR "/spool/postilion";
  if (o.user.empty()) o.user = invoking_user();
  std::string daemon_dir = o.prefix.empty() ? LIBEXECDIR : o.prefix + "/libexec/postilion";
  if (getpwnam(o.user.c_str()) == nullptr) {
    complain("init: user " + o.user + " does not exist (create it, or give --user)");
    return kError;
  }

  const std::string main_path = file::join(ctx.config_dir, "main.conf");
  const std::string master_path = file::join(ctx.config_dir, "master.conf");
  if (!o.force && (file::exists(main_path) || file::exists(master_path))) {
    complain("init: " + ctx.config_dir + " already holds an instance (use --force to overwrite)");
    return kError;
  }
  if (auto st = file::make_dirs(ctx.config_dir, 0755); !st) {
    complain("init: " + st.error().str());
    return kError;
  }

  std::string m =
      "# main.conf - this Postilion instance (see postilion.conf(5)); written by\n"
      "# `postilionctl init`. Every parameter not set here has its built-in default:\n"
      "# `postilionctl config -d` lists them.\n";
  put(&m, "myhostname", o.hostname);
  put(&m, "mydomain", o.domain);
  put(&m, "myorigin", o.myorigin);
  put(&m, "mydestination", "$myhostname, localhost.$mydomain, localhost, $mydomain");
  put(&m, "inet_interfaces", o.listen);
  put(&m, "queue_directory", o.spool);
  put(&m, "daemon_directory", daemon_dir);
  put(&m, "mail_owner", o.user);
  if (!o.maillog.empty()) put(&m, "maillog_file", o.maillog);
  // The instance's own aliases (the built-in default is the system's /etc/aliases,
  // which a private instance neither owns nor may find compiled); install's are the system's.
  const std::string aliases = o.aliases.empty() ? file::join(ctx.config_dir, "aliases") : o.aliases;
  put(&m, "alias_maps", "hash:" + aliases);
  put(&m, "alias_database", "hash:" + aliases);
  if (o.tls_selfsigned) {
    std::string tls_dir = file::join(ctx.config_dir, "tls");
    std::string cert = tls_dir + "/cert.pem", key = tls_dir + "/key.pem";
    if (auto st = file::make_dirs(tls_dir, 0755); !st) {
      complain("init: " + st.error().str());
      return kError;
    }
    if (auto st = write_selfsigned(cert, key, o.hostname); !st) {
      complain("init: certificate: " + st.error().str());
      return kError;
    }
    for (const char* svc : {"smtpd", "pop3d", "imapd"}) {
      put(&m, (std::string(svc) + "_tls_cert_file").c_str(), cert);
      put(&m, (std::string(svc) + "_tls_key_file").c_str(), key);
    }
    put(&m, "smtpd_tls_security_level", "may");
  }
  for (const auto& [name, value] : o.more) put(&m, name.c_str(), value);

  // Validate what we are about to write with the same code every daemon uses.
  try {
    config::Config cfg = config::Config::parse(m, main_path, ctx.config_dir);
    (void)config::parse_master_conf(master_conf_text(o, daemon_dir), cfg, master_path);
  } catch (const config::ConfigError& e) {
    complain(std::string("init: generated configuration is invalid: ") + e.what());
    return kError;
  }
  if (auto st = file::write_file_atomic(main_path, m, 0644); !st) {
    complain("init: " + st.error().str());
    return kError;
  }
  if (auto st = file::write_file_atomic(master_path, master_conf_text(o, daemon_dir), 0644); !st) {
    complain("init: " + st.error().str());
    return kError;
  }
  if (!file::exists(aliases)) {
    std::string text =
        "# aliases - local aliases of this instance (see aliases(5)); after a change run\n"
        "# `postilionctl map build -a " + aliases + "` or newaliases.\n"
        "postmaster: root\n";
    if (auto st = file::write_file_atomic(aliases, text, 0644); !st) {
      complain("init: " + st.error().str());
      return kError;
    }
  }
  if (auto st = maps::build(aliases, maps::BuildOptions{.syntax = maps::Syntax::Aliases}); !st) {
    complain("init: " + st.error().str());
    return kError;
  }
  auto cfg = load_config(ctx);
  if (!cfg) return kBadConfig;
  if (auto st = create_spool(*cfg); !st) {
    complain("init: spool: " + st.error().str());
    return kError;
  }
  std::printf("postilionctl: instance written to %s (spool %s, daemons %s)\n",
              ctx.config_dir.c_str(), o.spool.c_str(), daemon_dir.c_str());
  return kOk;
}

}  // namespace postilion::ctl
