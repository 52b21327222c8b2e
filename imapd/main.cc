// imapd/main.cc - entry point of imapd(8), the IMAP server (ports 143 and 993), run by
// master(8) through lib/service. Other forms:
//   imapd --standalone [-c DIR] [-o name=value]... -l [addr:]port...   (no master)
//   imapd --session -c DIR -a CLIENT_IP [-o name=value]...             (one client on fd 0)
// The listener only accepts; each client is served by a session (imapd/session.h).
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/config/config.h"
#include "lib/event/event.h"
#include "lib/event/listener.h"
#include "lib/ipc/anvil_client.h"
#include "lib/ipc/protocols.h"
#include "lib/log/log.h"
#include "lib/service/service.h"
#include "lib/tls/tls.h"
#include "pop3d/launcher.h"
#include "imapd/session.h"
#include "imapd/settings.h"

using namespace postilion;

namespace {

const std::vector<std::string_view> kParams = {
    "queue_directory", "mail_owner", "imapd_timeout", "imapd_tls_wrappermode", "imapd_tls_cert_file",
    "imapd_tls_key_file", "imapd_plaintext_auth", "imapd_line_limit", "imapd_literal_limit", "imapd_appendlimit",
    "imapd_auth_timeout", "imapd_auth_failure_limit", "imapd_error_limit", "imapd_client_limit",
    "imapd_client_connection_count_limit", "imapd_client_connection_rate_limit",
    "imapd_client_connection_limit_exceptions", "anvil_rate_time_unit", "anvil_timeout"};

// Options of --session: -c, -o, -a.
struct Args {
  std::string config_dir = SYSCONFDIR "/postilion", client_ip;
  std::vector<std::string> overrides;
};

Args parse(int argc, char** argv, const char* usage) {
  Args a;
  int opt;
  while ((opt = getopt(argc, argv, "c:o:a:v")) != -1) {
    if (opt == 'c') a.config_dir = optarg;
    else if (opt == 'o') a.overrides.push_back(optarg);
    else if (opt == 'a') a.client_ip = optarg;
    else if (opt != 'v') {
      std::fprintf(stderr, "usage: %s\n", usage);
      std::exit(2);
    }
  }
  return a;
}

imapd::Settings load(const Args& a) {
  try {
    config::Config cfg = config::Config::load(a.config_dir);
    for (const auto& o : a.overrides) {
      auto eq = o.find('=');
      if (eq == std::string::npos) throw config::ConfigError("-o " + o + ": expected name=value");
      cfg.set(o.substr(0, eq), o.substr(eq + 1));
    }
    log::init("imapd", cfg.str("syslog_name"));
    if (!cfg.str("maillog_file").empty()) {
      if (auto st = log::use_file(cfg.str("maillog_file")); !st) log::warn("%s", st.error().c_str());
    } else {
      log::use_syslog();
    }
    return imapd::Settings::from_config(cfg);
  } catch (const config::ConfigError& e) {
    log::fatal("%s", e.what());
  }
}

// The TLS context is loaded while still root (the key may be readable by root only)
// and inherited by the login process.
tls::Context load_tls(const imapd::Settings& s) {
  if (s.cert_file.empty()) return {};
  auto ctx = tls::Context::server({.cert_file = s.cert_file, .key_file = s.key_file});
  if (!ctx) log::fatal("TLS: %s", ctx.error().c_str());
  return std::move(*ctx);
}

// The listener's TLS context (wrapper mode; loaded as root), for the refusals it sends.
tls::Context g_tls;

// The per-client connection limits, counted by anvil(8) under the master.conf service
// name: imap and imaps sessions from one client are counted apart, as smtpd's are.
void set_limits(pop3d::Launcher& l, event::EventBase& base, const imapd::Settings& s, const std::string& service) {
  ipc::AnvilLimits limits{s.connection_count_limit, s.connection_rate_limit, s.rate_time_unit_ms};
  auto anvil = std::make_unique<ipc::AnvilClient>(base, file::join(s.queue_directory, ipc::proto::kAnvilSocket),
                                                  service, limits, static_cast<int>(s.anvil_timeout_ms));
  l.set_limits(std::move(anvil), s.limit_exceptions, s.wrappermode, &g_tls);
}

int session(int argc, char** argv) {
  Args a = parse(argc, argv, "imapd --session -c config_dir -a client_ip [-o name=value]...");
  log::init("imapd");
  imapd::Settings s = load(a);
  signal(SIGPIPE, SIG_IGN);
  tls::Context tls = load_tls(s);
  log::info("connect from [%s]", a.client_ip.c_str());
  // The client moves off fd 0 into an owner that the session can close: after the
  // fork only the login process keeps it.
  UniqueFd client(::fcntl(0, F_DUPFD_CLOEXEC, 3));
  if (!client) log::fatal("session: no client on fd 0: %s", std::strerror(errno));
  if (auto null = file::open("/dev/null", O_RDWR); !null || ::dup2(null->get(), 0) < 0)
    log::fatal("session: cannot put /dev/null on fd 0");
  return imapd::run_session(s, tls.valid() ? &tls : nullptr, a.client_ip, std::move(client));
}

int standalone(int argc, char** argv) {
  int rc = 0;
  service::Standalone sa = service::standalone_setup("imapd", argc, argv, &rc);
  if (!sa.config) return rc;
  imapd::Settings s;
  try {
    s = imapd::Settings::from_config(*sa.config);
  } catch (const config::ConfigError& e) {
    log::fatal("%s", e.what());
  }
  g_tls = load_tls(s);  // a bad certificate stops the listener, not each session
  event::EventBase base;
  pop3d::Launcher launcher(base, sa.config_dir, sa.overrides, s.client_limit);
  set_limits(launcher, base, s, "imapd");
  std::vector<event::Listener> listeners;
  for (const auto& l : sa.listens) {
    std::string label;
    auto fd = event::listen_inet_spec(l, &label);
    if (!fd) log::fatal("%s", fd.error().c_str());
    listeners.emplace_back(base, std::move(*fd), [&](UniqueFd c, const sockaddr*, int) { launcher.launch(std::move(c)); });
    log::info("listening on %s%s", label.c_str(), s.wrappermode ? " (TLS wrapper mode)" : "");
  }
  if (listeners.empty()) log::fatal("nothing to listen on (give -l [addr:]port)");
  event::Signal term(base, SIGTERM, [&] { base.loopbreak(); });
  event::Signal intr(base, SIGINT, [&] { base.loopbreak(); });
  base.loop();
  return 0;
}

std::unique_ptr<pop3d::Launcher> g_launcher;

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--standalone") == 0) return standalone(argc - 1, argv + 1);
  if (argc > 1 && std::strcmp(argv[1], "--session") == 0) return session(argc - 1, argv + 1);
  service::Spec spec{.name = "imapd", .kind = service::Kind::Stream};
  spec.params = &kParams;
  spec.pre_jail = [](service::Context& ctx) {
    log::init("imapd", ctx.config().str("syslog_name"));
    imapd::Settings s = imapd::Settings::from_config(ctx.config());
    g_tls = load_tls(s);  // kept for refusing clients over their limits in wrapper mode
    if (::geteuid() == 0 && ctx.options().unprivileged)
      log::warn("running as mail_owner: sessions cannot switch to the mailbox owner and must "
                "read the TLS key and config as mail_owner (master.conf should say n in the unpriv "
                "column for imapd)");
    std::vector<std::string> overrides;
    for (const auto& [n, v] : ctx.options().overrides) overrides.push_back(n + "=" + v);
    g_launcher = std::make_unique<pop3d::Launcher>(ctx.loop(), ctx.options().config_dir, overrides,
                                                   s.client_limit, [&ctx] { ctx.session_end(); });
    set_limits(*g_launcher, ctx.loop(), s, ctx.name());
  };
  spec.on_accept = [](service::Context& ctx, UniqueFd fd) {
    if (!g_launcher->launch(std::move(fd))) ctx.session_end();
  };
  int status = service::run(argc, argv, spec);
  _exit(status);
}
