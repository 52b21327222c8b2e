// lib/config/master_conf.cc - reading master.conf, the service table.
#include <arpa/inet.h>
#include <netdb.h>

#include <cctype>
#include <optional>
#include <set>

#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/config/config.h"
#include "lib/config/value.h"

namespace postilion::config {
namespace {

bool yes_no(const std::string& v, bool def, const std::string& at, const char* column) {
  if (v == "-") return def;
  if (v == "y") return true;
  if (v == "n") return false;
  throw ConfigError(at + ": " + column + ": expected y, n or \"-\", got \"" + str::printable(v, 40) + "\"");
}

int number(std::string v, int def, const std::string& at, const char* column, bool allow_q) {
  if (v == "-") return def;
  if (allow_q && !v.empty() && v.back() == '?') v.pop_back();
  auto n = str::parse_int(v);
  if (!n || *n < 0 || *n > 1000000)
    throw ConfigError(at + ": " + column + ": expected a number or \"-\", got \"" + str::printable(v, 40) + "\"");
  return static_cast<int>(*n);
}

uint16_t port_of(const std::string& p, const std::string& at) {
  if (auto n = str::parse_int(p)) {
    if (*n < 1 || *n > 65535) throw ConfigError(at + ": port out of range: " + str::printable(p, 40));
    return static_cast<uint16_t>(*n);
  }
  struct servent* se = ::getservbyname(p.c_str(), "tcp");
  if (!se) throw ConfigError(at + ": unknown service port \"" + str::printable(p, 40) + "\"");
  return ntohs(static_cast<uint16_t>(se->s_port));
}

bool ipv6_literal(const std::string& a) {
  in6_addr x;
  return ::inet_pton(AF_INET6, a.c_str(), &x) == 1;
}

// A host name or an IPv4 address: letters, digits, '-', '.', '_'.
bool host_name(const std::string& h) {
  if (h.empty() || h.size() > 253) return false;
  for (char c : h)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_') return false;
  return true;
}

// inet service column: port, host:port, [v6]:port.
void split_inet(const std::string& s, ServiceEntry& e, const std::string& at) {
  if (!s.empty() && s[0] == '[') {
    size_t close = s.find(']');
    if (close == std::string::npos || close + 1 >= s.size() || s[close + 1] != ':')
      throw ConfigError(at + ": expected [address]:port, got \"" + str::printable(s, 60) + "\"");
    e.host = s.substr(1, close - 1);
    if (!ipv6_literal(e.host))
      throw ConfigError(at + ": bad IPv6 address \"" + str::printable(e.host, 60) + "\"");
    e.port = port_of(s.substr(close + 2), at);
    return;
  }
  size_t colon = s.rfind(':');
  if (colon == std::string::npos) {
    e.port = port_of(s, at);
    return;
  }
  e.host = s.substr(0, colon);
  if (e.host == "*") e.host.clear();
  if (e.host.find(':') != std::string::npos)
    throw ConfigError(at + ": write IPv6 addresses in brackets: [" + str::printable(e.host, 60) + "]:port");
  if (!e.host.empty() && !host_name(e.host))
    throw ConfigError(at + ": bad host name \"" + str::printable(e.host, 60) + "\"");
  e.port = port_of(s.substr(colon + 1), at);
}

}  // namespace

std::vector<ServiceEntry> load_master_conf(const Config& cfg) {
  std::string path = file::join(cfg.config_dir(), "master.conf");
  auto text = file::read_file(path, 16 << 20);
  if (!text) throw ConfigError(text.error().str());
  return parse_master_conf(*text, cfg, path);
}

std::vector<ServiceEntry> parse_master_conf(std::string_view text, const Config& cfg,
                                            const std::string& filename) {
  auto logical = logical_lines(text, filename, "a service");

  int default_maxproc = static_cast<int>(cfg.integer("default_process_limit"));
  std::vector<ServiceEntry> out;
  std::set<std::string> seen;
  for (const auto& l : logical) {
    std::string at = filename + ":" + std::to_string(l.line);
    auto f = str::split(l.text, " \t\r");
    if (f.size() < 8)
      throw ConfigError(at + ": expected \"service type private unpriv chroot wakeup maxproc command [args]\", got " +
                        std::to_string(f.size()) + " fields");
    ServiceEntry e;
    e.file = filename;
    e.line = l.line;
    e.name = f[0];
    if (f[1] == "inet") {
      e.type = ServiceEntry::Type::Inet;
      split_inet(e.name, e, at);
    } else if (f[1] == "unix" || f[1] == "pass") {
      e.type = f[1] == "unix" ? ServiceEntry::Type::Unix : ServiceEntry::Type::Pass;
      for (char c : e.name)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.')
          throw ConfigError(at + ": bad unix service name \"" + str::printable(e.name, 40) + "\"");
    } else {
      throw ConfigError(at + ": type: expected inet, unix or pass, got \"" + str::printable(f[1], 40) + "\"");
    }
    // inet services are the same when they listen on the same address and port,
    // however written ("smtp", "25", "*:25").
    std::string key = e.type == ServiceEntry::Type::Inet ? "inet/" + e.host + "/" + std::to_string(e.port)
                                                         : "unix/" + e.name;
    if (!seen.insert(key).second)
      throw ConfigError(at + ": duplicate service \"" + str::printable(e.name, 60) + "\" (" + f[1] + ")");
    e.private_ = yes_no(f[2], e.type != ServiceEntry::Type::Inet, at, "private");
    e.unprivileged = yes_no(f[3], true, at, "unpriv");
    e.chroot = yes_no(f[4], false, at, "chroot");
    e.wakeup = number(f[5], 0, at, "wakeup", true);
    e.maxproc = number(f[6], default_maxproc, at, "maxproc", false);
    e.command = f[7];
    if (e.command.find('/') != std::string::npos || e.command == "." || e.command == "..")
      throw ConfigError(at + ": command: a program name in daemon_directory, got \"" + str::printable(e.command, 60) + "\"");
    // The service runs with main.conf plus all its -o overrides: check them the same
    // way, all together as the service loads them (the error names the parameter).
    std::optional<Config> probe;
    std::vector<std::pair<std::string, std::string>> overrides;
    for (size_t i = 8; i < f.size(); ++i) {
      e.args.push_back(f[i]);
      if (f[i] == "-o") {
        if (i + 1 >= f.size()) throw ConfigError(at + ": -o without name=value");
        const std::string& kv = f[i + 1];
        size_t eq = kv.find('=');
        if (eq == std::string::npos) throw ConfigError(at + ": -o " + str::printable(kv, 80) + ": expected name=value");
        overrides.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
        e.args.push_back(kv);
        ++i;
      }
    }
    if (!overrides.empty()) {
      probe.emplace(cfg);
      try {
        probe->set_all(overrides);
      } catch (const ConfigError& err) {
        throw ConfigError(at + ": -o " + err.what());
      }
    }
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace postilion::config
