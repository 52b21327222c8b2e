// lib/log/log.cc - the log sinks: syslog, stderr, maillog_file.
#include "lib/log/log.h"

#include <fcntl.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>

#include "lib/base/file.h"
#include "lib/base/strings.h"

namespace postilion::log {
namespace {

struct State {
  std::string ident = "postilion";  // "postilion/smtpd"
  std::string hostname = "localhost";
  Sink sink = Sink::Stderr;
  int file_fd = -1;
  bool also_stderr = false;
  pid_t pid = 0;
};

State& state() {
  static State s;
  return s;
}

void emit(int priority, const char* prefix, const char* fmt, va_list ap) {
  char body[4096];
  std::vsnprintf(body, sizeof body, fmt, ap);
  std::string msg = std::string(prefix) + body;
  State& s = state();
  if (s.pid == 0) s.pid = ::getpid();
  std::string tagged = str::format("%s[%d]: %s", s.ident.c_str(), static_cast<int>(s.pid), msg.c_str());
  switch (s.sink) {
    case Sink::Syslog:
      ::syslog(priority, "%s", msg.c_str());
      break;
    case Sink::File: {
      char stamp[64];
      time_t now = ::time(nullptr);
      struct tm tm;
      ::localtime_r(&now, &tm);
      ::strftime(stamp, sizeof stamp, "%b %e %H:%M:%S", &tm);
      std::string full = str::format("%s %s %s\n", stamp, s.hostname.c_str(), tagged.c_str());
      (void)file::write_all(s.file_fd, full);  // one write: O_APPEND keeps lines whole
      break;
    }
    case Sink::Stderr:
      break;
  }
  if (s.sink == Sink::Stderr || s.also_stderr) {
    std::string full = tagged + "\n";
    (void)file::write_all(2, full);
  }
}

}  // namespace

void init(std::string_view service, std::string_view syslog_name) {
  State& s = state();
  s.ident = std::string(syslog_name) + "/" + std::string(service);
  s.pid = ::getpid();
  char host[256];
  if (::gethostname(host, sizeof host) == 0) {
    host[sizeof host - 1] = '\0';
    std::string h = host;
    s.hostname = h.substr(0, h.find('.'));
  }
  if (s.sink == Sink::Syslog) {
    ::closelog();
    ::openlog(s.ident.c_str(), LOG_PID | LOG_NDELAY, LOG_MAIL);
  }
}

void use_stderr() { state().sink = Sink::Stderr; }

void use_syslog() {
  State& s = state();
  s.sink = Sink::Syslog;
  ::openlog(s.ident.c_str(), LOG_PID | LOG_NDELAY, LOG_MAIL);
}

Status use_file(const std::string& path) {
  auto fd = file::open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
  if (!fd) return fd.error();
  State& s = state();
  if (s.file_fd >= 0) ::close(s.file_fd);
  s.file_fd = fd->release();
  s.sink = Sink::File;
  return {};
}

Sink sink() { return state().sink; }
void reset_pid() { state().pid = ::getpid(); }
void also_stderr(bool on) { state().also_stderr = on; }

#define PST_LOG_BODY(prio, prefix)  \
  va_list ap;                       \
  va_start(ap, fmt);                \
  emit(prio, prefix, fmt, ap);      \
  va_end(ap)

void info(const char* fmt, ...) { PST_LOG_BODY(LOG_INFO, ""); }
void warn(const char* fmt, ...) { PST_LOG_BODY(LOG_WARNING, "warning: "); }
void error(const char* fmt, ...) { PST_LOG_BODY(LOG_ERR, "error: "); }

void fatal(const char* fmt, ...) {
  PST_LOG_BODY(LOG_CRIT, "fatal: ");
  std::exit(1);
}

void panic(const char* fmt, ...) {
  PST_LOG_BODY(LOG_CRIT, "panic: ");
  std::abort();
}

void line(std::string_view text) { info("%.*s", static_cast<int>(text.size()), text.data()); }

}  // namespace postilion::log
