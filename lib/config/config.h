// lib/config/config.h - main.conf: every parameter Postilion knows, with its built-in
// default, type and validation, and the values an instance sets.
// Loading throws ConfigError ("main.conf:12: ...") - it happens only while starting,
// before any event loop; service::run() catches it and prints "fatal: ...".
// Getters never throw: every value was validated (after $name expansion) at load time.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace postilion::config {

// Kinds of values and how they are written:
//   String  any text               Int   decimal integer (may be negative)
//   Bool    yes|no                 Time  integer with unit s, m, h, d, w (default s)
//   Size    integer bytes, or with k, m, g (1024-based)
//   List    words separated by commas and/or whitespace
//   Restrictions  a List of smtpd restrictions (lib/config/restrictions.h): every word
//           must be one smtpd runs, with the argument it needs
enum class Type { String, Int, Bool, Time, Size, List, Restrictions };

struct ParamSpec {
  const char* name;
  const char* default_value;  // may reference other parameters as $name or ${name}
  Type type;
  const char* doc;            // one line, shown by `postilionctl config -d`
};

// Computed defaults: some defaults come from the system, not from the table. A
// default_value that is exactly one of these markers is computed when the parameter
// is not set explicitly (a value written in main.conf or by set() is never computed):
//   kDefaultFqdn          the host's fully qualified name: gethostname(), and when that
//                         has no dot, getaddrinfo()'s canonical name; when neither has
//                         a dot, "<name>.localdomain". Lower case; computed once per
//                         process (myhostname).
//   kDefaultParentDomain  $myhostname minus its first label (mydomain).
inline constexpr std::string_view kDefaultFqdn = "@fqdn";
inline constexpr std::string_view kDefaultParentDomain = "@domain";
// The value kDefaultFqdn stands for (also for `postilionctl init`).
std::string system_fqdn();

// All parameters of all daemons, from lib/config/params/*.def (one file per concern).
std::span<const ParamSpec> all_params();
const ParamSpec* find_param(std::string_view name);

// Debian's form of myorigin: "/etc/mailname" names a file whose first word is the
// domain (lower-cased). A missing or empty file gives fallback ($myhostname for
// myorigin); anything but a domain name in it, or a file that cannot be read, is a
// ConfigError.
std::string origin_from_file(const std::string& path, const std::string& fallback);

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// main.conf syntax: "name = value" lines; a line starting with white space continues
// the previous one; blank lines and lines whose first non-blank is '#' are ignored; the
// last of several lines for one name wins. Values may use $name, ${name}, $(name),
// ${name?text} (text when name is not empty), ${name:text} (text when it is) and $$ (a
// '$'); expansion is recursive. An unknown name, a loop, a bad value (checked after
// expansion against the parameter's Type) or an unknown parameter is a ConfigError
// "FILE:LINE: ..." saying what is expected. $home, $user, $extension, $recipient,
// $domain and $local are per-delivery variables and stay in the value as written.
class Config {
 public:
  // Reads CONFIG_DIR/main.conf. A missing file is an error; an empty file is fine.
  static Config load(const std::string& config_dir);
  // Parses text as if it were a main.conf named `filename` (tests, `config -n`).
  static Config parse(std::string_view text, const std::string& filename = "main.conf",
                      const std::string& config_dir = ".");

  // Overrides one value (master.conf -o name=value, command-line -o); validated.
  void set(std::string_view name, std::string_view value);
  // Overrides several values at once (all -o of one service): validated together, so
  // a rule over two parameters (the open relay test of smtpd_relay_restrictions and
  // smtpd_recipient_restrictions) sees them all; on error none is set.
  void set_all(const std::vector<std::pair<std::string, std::string>>& values);

  const std::string& config_dir() const { return config_dir_; }

  // Expanded values. Asking for a parameter not in all_params() is a bug: PANIC.
  std::string str(std::string_view name) const;
  int64_t integer(std::string_view name) const;
  bool boolean(std::string_view name) const;
  int64_t seconds(std::string_view name) const;
  uint64_t bytes(std::string_view name) const;
  std::vector<std::string> list(std::string_view name) const;

  // The text as written (unexpanded) and whether it is the built-in default. For a
  // computed default (kDefaultFqdn, kDefaultParentDomain) raw() is the computed value.
  std::string raw(std::string_view name) const;
  bool is_default(std::string_view name) const;
  // name -> raw value of every parameter set explicitly, sorted by name.
  const std::map<std::string, std::string, std::less<>>& explicit_values() const { return values_; }

 private:
  void rebuild();  // re-expands and re-validates every parameter; throws ConfigError
  std::string where(std::string_view name) const;  // "main.conf:12: " or ""
  const std::string& expanded(std::string_view name) const;

  std::string config_dir_;
  std::map<std::string, std::string, std::less<>> values_;    // explicit, raw
  std::map<std::string, std::string, std::less<>> lines_;     // name -> "file:line"
  std::map<std::string, std::string, std::less<>> expanded_;  // every parameter
};

// One line of master.conf:
//   service type private unpriv chroot wakeup maxproc command [args...]
// service: a name (unix), or [addr:]port / [v6addr]:port / name:port (inet).
struct ServiceEntry {
  // Pass: a unix socket in private/ (or public/) on which another daemon (postscreen)
  // hands over accepted clients by descriptor passing, as Postfix's `pass` type.
  enum class Type { Inet, Unix, Pass };
  std::string name;            // as written in the first column
  Type type = Type::Unix;
  std::string host;            // inet: address to bind ("" = all); unix: ""
  uint16_t port = 0;           // inet
  bool private_ = true;        // unix: socket in private/ (y) or public/ (n); "-" is y for
                               // unix and n for inet
  bool unprivileged = true;    // run as mail_owner (y) or root (n)
  bool chroot = false;         // chroot into queue_directory
  int wakeup = 0;              // seconds; 0 = none
  int maxproc = 0;             // 0 = default_process_limit ("-" is already replaced by
                               // default_process_limit's value when parsed)
  std::string command;         // program name in daemon_directory
  std::vector<std::string> args;  // e.g. -o smtpd_tls_wrappermode=yes
  std::string file;            // where it was defined, for messages
  int line = 0;
};

// Reads CONFIG_DIR/master.conf. Throws ConfigError ("master.conf:7: ...") on a bad line.
std::vector<ServiceEntry> load_master_conf(const Config& cfg);
std::vector<ServiceEntry> parse_master_conf(std::string_view text, const Config& cfg,
                                            const std::string& filename = "master.conf");

}  // namespace postilion::config
