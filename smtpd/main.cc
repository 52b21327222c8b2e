// smtpd/main.cc - entry point of smtpd(8), the SMTP server (ports 25, 587, 465), run
// by master(8) through lib/service. `smtpd --standalone [-c DIR] [-o name=value]...
// -l [addr:]port...` runs it without a master (tests, debugging).
#include <signal.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

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
  int rc = 0;
  service::Standalone setup = service::standalone_setup("smtpd", argc, argv, &rc);
  if (!setup.config) return rc;
  smtpd::Settings settings;
  try {
    settings = smtpd::Settings::from_config(*setup.config);
  } catch (const config::ConfigError& e) {
    log::fatal("%s", e.what());
  }
  signal(SIGXFSZ, SIG_IGN);  // a file size limit is a write error (452), not death
  event::EventBase base;
  smtpd::Server server(base, settings);
  if (auto st = server.init(); !st) log::fatal("%s", st.error().c_str());
  server.start();
  std::vector<event::Listener> listeners;
  for (const auto& l : setup.listens) {
    auto fd = event::listen_inet_spec(l);
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
