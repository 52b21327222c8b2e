// pop3d/main.cc - entry point of pop3d(8), the POP3 server (ports 110 and 995).
// Usage: pop3d [-c config_dir] [-o name=value]... -l [addr:]port...
// The listener accepts and, per connection, runs this program again in session mode
// (-S, the client on fd 0): a fresh process image for every client. See session.h.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/config/config.h"
#include "lib/event/event.h"
#include "lib/event/listener.h"
#include "lib/log/log.h"
#include "lib/pop3/reply.h"
#include "lib/tls/tls.h"
#include "pop3d/session.h"
#include "pop3d/settings.h"

using namespace postilion;

namespace {

std::string peer_ip(const sockaddr* sa) {
  char buf[INET6_ADDRSTRLEN] = "unknown";
  if (sa && sa->sa_family == AF_INET)
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, buf, sizeof buf);
  else if (sa && sa->sa_family == AF_INET6)
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, buf, sizeof buf);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_dir = SYSCONFDIR "/postilion", client_ip;
  std::vector<std::string> overrides, listens;
  bool session_mode = false;
  int opt;
  while ((opt = getopt(argc, argv, "c:o:l:a:Sv")) != -1) {
    if (opt == 'c') config_dir = optarg;
    else if (opt == 'o') overrides.push_back(optarg);
    else if (opt == 'l') listens.push_back(optarg);
    else if (opt == 'a') client_ip = optarg;
    else if (opt == 'S') session_mode = true;
    else if (opt != 'v') {
      std::fprintf(stderr, "usage: pop3d [-c config_dir] [-o name=value]... -l [addr:]port...\n");
      return 2;
    }
  }
  log::init("pop3d");
  pop3d::Settings settings;
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
    settings = pop3d::Settings::from_config(cfg);
  } catch (const config::ConfigError& e) {
    log::fatal("%s", e.what());
  }
  signal(SIGPIPE, SIG_IGN);
  // The TLS context is loaded while still root (the key may be readable by root only)
  // and inherited by the login process.
  tls::Context tls_ctx;
  if (!settings.cert_file.empty()) {
    auto ctx = tls::Context::server({.cert_file = settings.cert_file, .key_file = settings.key_file});
    if (!ctx) log::fatal("TLS: %s", ctx.error().c_str());
    tls_ctx = std::move(*ctx);
  }
  const tls::Context* tls = tls_ctx.valid() ? &tls_ctx : nullptr;

  if (session_mode) {
    log::info("connect from [%s]", client_ip.c_str());
    // The client moves off fd 0 into an owner that the session can close: after the
    // fork only the login process keeps it.
    UniqueFd client(::fcntl(0, F_DUPFD_CLOEXEC, 3));
    if (!client) log::fatal("session: no client on fd 0: %s", std::strerror(errno));
    if (auto null = file::open("/dev/null", O_RDWR); !null || ::dup2(null->get(), 0) < 0)
      log::fatal("session: cannot put /dev/null on fd 0");
    return pop3d::run_session(settings, tls, client_ip, std::move(client));
  }

  std::string self(4096, '\0');
  ssize_t n = ::readlink("/proc/self/exe", self.data(), self.size() - 1);
  if (n <= 0) log::fatal("cannot find my own program: readlink /proc/self/exe: %s", std::strerror(errno));
  self.resize(static_cast<size_t>(n));
  event::EventBase base;
  std::set<pid_t> children;
  std::vector<event::Listener> listeners;
  auto on_accept = [&](UniqueFd fd, const sockaddr* sa, int) {
    std::string ip = peer_ip(sa);
    if (static_cast<int64_t>(children.size()) >= settings.client_limit) {
      log::warn("client limit %lld reached; refusing [%s]", static_cast<long long>(settings.client_limit), ip.c_str());
      (void)!::write(fd.get(), "-ERR [SYS/TEMP] too many connections, try again later\r\n", 55);
      return;
    }
    pid_t pid = ::fork();
    if (pid < 0) {
      log::warn("fork: %s", std::strerror(errno));
      return;
    }
    if (pid == 0) {
      // Listening sockets are close-on-exec; the client becomes fd 0 of the new image.
      if (::dup2(fd.get(), 0) < 0) _exit(1);
      std::vector<std::string> args = {self, "-S", "-c", config_dir, "-a", ip};
      for (const auto& o : overrides) {
        args.push_back("-o");
        args.push_back(o);
      }
      std::vector<char*> av;
      for (auto& a : args) av.push_back(a.data());
      av.push_back(nullptr);
      ::execv(self.c_str(), av.data());
      _exit(127);
    }
    children.insert(pid);
  };
  for (const auto& l : listens) {
    auto colon = l.rfind(':');
    std::string host = colon == std::string::npos ? "" : l.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    auto port = str::parse_uint(colon == std::string::npos ? l : l.substr(colon + 1));
    if (!port || *port == 0 || *port > 65535) log::fatal("-l %s: bad port", l.c_str());
    auto fd = event::listen_inet(host, static_cast<uint16_t>(*port));
    if (!fd) log::fatal("%s", fd.error().c_str());
    listeners.emplace_back(base, std::move(*fd), on_accept);
    log::info("listening on %s%s", event::inet_label(host, static_cast<uint16_t>(*port)).c_str(),
              settings.wrappermode ? " (TLS wrapper mode)" : "");
  }
  if (listeners.empty()) log::fatal("nothing to listen on (give -l [addr:]port)");
  event::Signal chld(base, SIGCHLD, [&] {
    int st;
    pid_t p;
    while ((p = ::waitpid(-1, &st, WNOHANG)) > 0) {
      children.erase(p);
      if (WIFSIGNALED(st)) log::warn("session process %d killed by signal %d", static_cast<int>(p), WTERMSIG(st));
    }
  });
  event::Signal term(base, SIGTERM, [&] { base.loopbreak(); });
  event::Signal intr(base, SIGINT, [&] { base.loopbreak(); });
  base.loop();
  return 0;
}
