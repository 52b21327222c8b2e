// lib/log/log.h - one line per event, in Postfix's shape:
//   postilion/smtpd[1234]: 4F3A2B1C9D: client=host[192.0.2.7]
// to syslog (facility mail), stderr (foreground) or a maillog_file (O_APPEND, one
// write per line so processes never interleave). Severity is a prefix: warning:,
// error:, fatal:, panic:. Escape peer text with str::printable before logging it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "lib/base/result.h"

namespace postilion::log {

enum class Sink { Stderr, Syslog, File };

// Sets the program name shown as "<syslog_name>/<service>[pid]". Call first.
void init(std::string_view service, std::string_view syslog_name = "postilion");
void use_stderr();
// Sends the lines to syslog(3) as facility mail, or the given facility (a LOG_* value of
// <syslog.h>, as facility_named() gives for main.conf's syslog_facility).
void use_syslog();
void use_syslog(int facility);
// The facility named by syslog_facility: "mail", "daemon", "user", "local0" ... "local7";
// nullopt for any other name.
std::optional<int> facility_named(std::string_view name);
// Appends to path (created 0644 if missing). On failure the sink is unchanged.
Status use_file(const std::string& path);
Sink sink();
// Re-reads the pid (after fork).
void reset_pid();
// Also copy every line to stderr (used by foreground tools).
void also_stderr(bool on);

void info(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void warn(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void error(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
// Logs "fatal: ..." and exits with status 1.
[[noreturn]] void fatal(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
// Logs "panic: ..." and aborts; the master restarts the service.
[[noreturn]] void panic(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// Whole line, already formatted (severity prefix included by the caller).
void line(std::string_view text);

// One info line tagged "<syslog_name>/<service>[pid]" instead of this program's name:
// for work a program does in Postfix's place for another of Postfix's programs (qmgr
// picking up maildrop/ logs as postilion/pickup, the name log tools look for). With
// syslog the ident is switched for the call: only for single-threaded programs.
void info_as(std::string_view service, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace postilion::log

#define PANIC(...) ::postilion::log::panic(__VA_ARGS__)
