// lib/log/log.cc - the log sinks: syslog, stderr, maillog_file.
#include "lib/log/log.h"

#include <fcntl.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "lib/base/file.h"
#include "lib/base/strings.h"

namespace postilion::log {
namespace {

struct State {
  std::string ident = "postilion";  // "postilion/smtpd"
  std::string syslog_name = "postilion";
  std::string other_ident;          // info_as(): "postilion/pickup"
  std::string hostname = "localhost";
  Sink sink = Sink::Stderr;
  int facility = LOG_MAIL;
  int file_fd = -1;
  bool also_stderr = false;
  pid_t pid = 0;
};

State& state() {
  static State s;
  return s;
}

// "Nov 29 07:59:34 host " for the current second, made once a second per thread:
// localtime_r and strftime cost more than the rest of a log line.
std::string_view file_stamp(const State& s) {
  thread_local time_t cached_second = -1;
  thread_local char stamp[320];
  thread_local size_t stamp_len = 0;
  thread_local std::string cached_host;
  time_t now = ::time(nullptr);
  if (now != cached_second || cached_host != s.hostname) {
    struct tm tm;
    ::localtime_r(&now, &tm);
    size_t n = ::strftime(stamp, sizeof stamp, "%b %e %H:%M:%S ", &tm);
    int m = std::snprintf(stamp + n, sizeof stamp - n, "%s ", s.hostname.c_str());
    stamp_len = n + (m > 0 ? std::min<size_t>(static_cast<size_t>(m), sizeof stamp - n - 1) : 0);
    cached_second = now;
    cached_host = s.hostname;
  }
  return std::string_view(stamp, stamp_len);
}

// The line is formatted once into one buffer: [stamp host ]ident[pid]: prefix body\n.
// ident is s.ident, or another for info_as().
void emit(int priority, const char* prefix, const char* fmt, va_list ap, const std::string* ident = nullptr) {
  State& s = state();
  if (s.pid == 0) s.pid = ::getpid();
  char line[4608];
  constexpr size_t kLast = sizeof line - 1;  // the newline's place, always kept free
  size_t len = 0;
  auto append = [&](std::string_view piece) {
    size_t n = std::min(piece.size(), kLast - len);
    std::memcpy(line + len, piece.data(), n);
    len += n;
  };
  // vsnprintf-style output into the rest of the buffer (at most limit bytes of it).
  auto appended = [&](int n, size_t limit) {
    if (n > 0) len += std::min({static_cast<size_t>(n), limit > 0 ? limit - 1 : 0, kLast - len});
  };
  size_t tag_start = 0;
  if (s.sink == Sink::File) {
    append(file_stamp(s));
    tag_start = len;
  }
  append(ident ? *ident : s.ident);
  char pid[32];
  std::snprintf(pid, sizeof pid, "[%d]: ", static_cast<int>(s.pid));
  append(pid);
  size_t msg_start = len;
  append(prefix);
  // 4096 bytes of message at the most; the rest of the buffer is for the stamp and tag.
  size_t room = std::min<size_t>(kLast - len + 1, 4096);
  appended(std::vsnprintf(line + len, room, fmt, ap), room);
  line[len++] = '\n';
  switch (s.sink) {
    case Sink::Syslog:
      // openlog() on an open log only changes the ident (the socket stays).
      if (ident) ::openlog(ident->c_str(), LOG_PID | LOG_NDELAY, s.facility);
      ::syslog(priority, "%.*s", static_cast<int>(len - 1 - msg_start), line + msg_start);
      if (ident) ::openlog(s.ident.c_str(), LOG_PID | LOG_NDELAY, s.facility);
      break;
    case Sink::File:
      (void)file::write_all(s.file_fd, std::string_view(line, len));  // one write: O_APPEND keeps lines whole
      break;
    case Sink::Stderr:
      break;
  }
  if (s.sink == Sink::Stderr || s.also_stderr)
    (void)file::write_all(2, std::string_view(line + tag_start, len - tag_start));
}

}  // namespace

void init(std::string_view service, std::string_view syslog_name) {
  State& s = state();
  s.syslog_name = std::string(syslog_name);
  s.ident = s.syslog_name + "/" + std::string(service);
  s.pid = ::getpid();
  char host[256];
  if (::gethostname(host, sizeof host) == 0) {
    host[sizeof host - 1] = '\0';
    std::string h = host;
    s.hostname = h.substr(0, h.find('.'));
  }
  if (s.sink == Sink::Syslog) {
    ::closelog();
    ::openlog(s.ident.c_str(), LOG_PID | LOG_NDELAY, s.facility);
  }
}

void use_stderr() { state().sink = Sink::Stderr; }

void use_syslog() { use_syslog(LOG_MAIL); }

void use_syslog(int facility) {
  State& s = state();
  s.sink = Sink::Syslog;
  s.facility = facility;
  ::openlog(s.ident.c_str(), LOG_PID | LOG_NDELAY, facility);
}

std::optional<int> facility_named(std::string_view name) {
  static constexpr std::pair<std::string_view, int> kFacilities[] = {
      {"mail", LOG_MAIL},     {"daemon", LOG_DAEMON}, {"user", LOG_USER},     {"local0", LOG_LOCAL0},
      {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2}, {"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4},
      {"local5", LOG_LOCAL5}, {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7}};
  for (const auto& [n, f] : kFacilities)
    if (n == name) return f;
  return std::nullopt;
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

void info_as(std::string_view service, const char* fmt, ...) {
  State& s = state();
  s.other_ident = s.syslog_name + "/" + std::string(service);
  va_list ap;
  va_start(ap, fmt);
  emit(LOG_INFO, "", fmt, ap, &s.other_ident);
  va_end(ap);
}

}  // namespace postilion::log
