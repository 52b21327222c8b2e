// smtpd/main.cc - entry point of smtpd(8), the SMTP server (ports 25, 587, 465), run
// by master(8) through lib/service. `smtpd --standalone [-c DIR] [-o name=value]...
// -l [addr:]port...` runs it without a master (tests, debugging).
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "lib/base/strings.h"
#include "lib/config/config.h"
#include "lib/event/listener.h"
#include "lib/log/log.h"
#include "lib/service/service.h"
#include "smtpd/server.h"

using namespace postilion;

namespace {

const std::vector<std::string_view> kParams = {
    "myhostname", "queue_directory", "mydestination", "relay_domains", "mynetworks",
    "message_size_limit", "smtpd_banner", "smtpd_timeout", "smtpd_recipient_limit",
    "smtpd_sasl_auth_enable", "smtpd_tls_security_level", "smtpd_tls_wrappermode",
    "smtpd_tls_cert_file", "smtpd_tls_key_file", "smtpd_client_restrictions"};

std::unique_ptr<smtpd::Server> g_server;

int standalone(int argc, char** argv) {
  std::string config_dir = SYSCONFDIR "/postilion";
  std::vector<std::string> overrides, listens;
  int opt;
  while ((opt = getopt(argc, argv, "c:o:l:v")) != -1) {
    if (opt == 'c') config_dir = optarg;
    else if (opt == 'o') overrides.push_back(optarg);
    else if (opt == 'l') listens.push_back(optarg);
    else if (opt != 'v') {
      std::fprintf(stderr, "usage: smtpd --standalone [-c config_dir] [-o name=value]... -l [addr:]port...\n");
      return 2;
    }
  }
  log::init("smtpd");
  smtpd::Settings settings;
  try {
    config::Config cfg = config::Config::load(config_dir);
    for (const auto& o : overrides) {
      auto eq = o.find('=');
      if (eq == std::string::npos) throw config::ConfigError("-o " + o + ": expected name=value");
      cfg.set(o.substr(0, eq), o.substr(eq + 1));
    }
    if (!cfg.str("maillog_file").empty()) {
      if (auto st = log::use_file(cfg.str("maillog_file")); !st) log::warn("%s", st.error().c_str());
    }
    settings = smtpd::Settings::from_config(cfg);
  } catch (const config::ConfigError& e) {
    log::fatal("%s", e.what());
  }
  signal(SIGPIPE, SIG_IGN);
  signal(SIGXFSZ, SIG_IGN);  // a file size limit is a write error (452), not death
  event::EventBase base;
  smtpd::Server server(base, settings);
  if (auto st = server.init(); !st) log::fatal("%s", st.error().c_str());
  server.start();
  std::vector<event::Listener> listeners;
  for (const auto& l : listens) {
    auto colon = l.rfind(':');
    std::string host = colon == std::string::npos ? "" : l.substr(0, colon);
    auto port = str::parse_uint(colon == std::string::npos ? l : l.substr(colon + 1));
    if (!port || *port == 0 || *port > 65535) log::fatal("-l %s: bad port", l.c_str());
    auto fd = event::listen_inet(host, static_cast<uint16_t>(*port));
    if (!fd) log::fatal("%s", fd.error().c_str());
    listeners.emplace_back(base, std::move(fd.value()), [&server](UniqueFd c, const sockaddr* sa, int len) {
      server.accept(std::move(c), sa, static_cast<socklen_t>(len));
    });
  }
  event::Signal term(base, SIGTERM, [&base] { base.loopbreak(); });
  event::Signal intr(base, SIGINT, [&base] { base.loopbreak(); });
  base.loop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--standalone") == 0) return standalone(argc - 1, argv + 1);
  service::Spec spec{.name = "smtpd", .kind = service::Kind::Stream};
  spec.params = &kParams;
  spec.pre_jail = [](service::Context& ctx) {  // certificate and maps, as root
    // Log as postilion/smtpd whatever the master.conf service is called (127.0.0.1:25).
    log::init("smtpd", ctx.config().str("syslog_name"));
    g_server = std::make_unique<smtpd::Server>(ctx.loop(), smtpd::Settings::from_config(ctx.config()));
    g_server->set_service_name(ctx.name());  // anvil counts per master.conf service
    if (auto st = g_server->init(); !st) log::fatal("%s", st.error().c_str());
  };
  spec.post_jail = [](service::Context& ctx) {
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN);  // a file size limit is a write error (452), not death
    g_server->set_on_session_end([&ctx] { ctx.session_end(); });
    g_server->start();
  };
  spec.on_accept = [](service::Context&, UniqueFd fd) { g_server->accept(std::move(fd)); };
  int status = service::run(argc, argv, spec);
  // The loop the server's events belong to is gone with run()'s context, so the
  // server is not destroyed; a commit still in flight never got its 250.
  _exit(status);
}
