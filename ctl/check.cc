// ctl/check.cc - `postilionctl check`: configuration, spool, certificates and programs;
// each problem printed with its remedy; exit 2 when there is any.
#include <pwd.h>
#include <unistd.h>

#include <cstdio>
#include <set>

#include "ctl/ctl.h"
#include "ctl/spool.h"
#include "ctl/tls_files.h"
#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/maps/maps.h"

namespace postilion::ctl {
namespace {

bool ends_with(std::string_view s, std::string_view suffix) { return s.ends_with(suffix); }

// Every <prefix>_tls_cert_file with its <prefix>_tls_key_file, when set.
void check_certificates(const config::Config& cfg, std::vector<Problem>* out) {
  for (const config::ParamSpec& p : config::all_params()) {
    std::string_view name = p.name;
    if (!ends_with(name, "_cert_file")) continue;
    std::string key_name = std::string(name.substr(0, name.size() - 10)) + "_key_file";
    std::string cert = cfg.str(name);
    if (cert.empty()) continue;
    std::string key = config::find_param(key_name) ? cfg.str(key_name) : "";
    if (key.empty()) key = cert;  // key and certificate in one file
    if (access(cert.c_str(), R_OK) != 0) {
      out->push_back({std::string(name) + " = " + cert + ": not readable",
                      "create it (postilionctl init --tls-selfsigned makes a test one) or fix the path"});
      continue;
    }
    if (access(key.c_str(), R_OK) != 0) {
      out->push_back({key_name + " = " + key + ": not readable",
                      "fix the path, or the file's owner and mode (0600, owner root or mail_owner)"});
      continue;
    }
    if (auto st = check_cert_and_key(cert, key); !st)
      out->push_back({st.error().str(), "install a matching certificate and key, both in PEM"});
  }
}

void check_programs(const config::Config& cfg, const std::vector<config::ServiceEntry>& services,
                    std::vector<Problem>* out) {
  std::string dir = cfg.str("daemon_directory");
  std::set<std::string> progs = {"master"};
  for (const auto& s : services) progs.insert(s.command);
  for (const auto& p : progs) {
    std::string path = file::join(dir, p);
    if (access(path.c_str(), X_OK) != 0)
      out->push_back({path + ": program missing or not executable",
                      "install Postilion (make install), fix daemon_directory, or remove the "
                      "service from master.conf"});
  }
}

// showq (when installed) must be a public unix service: without it mailq and
// sendmail -q fail for every user but root and mail_owner.
void check_showq(const config::Config& cfg, const std::vector<config::ServiceEntry>& services,
                 std::vector<Problem>* out) {
  if (access(file::join(cfg.str("daemon_directory"), "showq").c_str(), X_OK) != 0) return;
  for (const auto& s : services) {
    if (s.command != "showq") continue;
    if (s.type == config::ServiceEntry::Type::Unix && !s.private_ && s.name == "showq") return;
    out->push_back({"master.conf: showq must be `showq unix n ...` (socket public/showq)",
                    "write its line as: showq unix n - n - - showq"});
    return;
  }
  out->push_back({"master.conf has no showq service: mailq and sendmail -q fail for users other than root and "
                  "mail_owner",
                  "add the line: showq unix n - n - - showq"});
}

// postscreen hands the clients that pass to the pass service smtpd_service_name
// (its -o override when it has one): without it every client that passes is refused.
void check_postscreen(const config::Config& cfg, const std::vector<config::ServiceEntry>& services,
                      std::vector<Problem>* out) {
  for (const auto& s : services) {
    if (s.command != "postscreen") continue;
    std::string name = cfg.str("smtpd_service_name");
    for (size_t i = 0; i + 1 < s.args.size(); ++i)
      if (s.args[i] == "-o" && s.args[i + 1].starts_with("smtpd_service_name="))
        name = s.args[i + 1].substr(std::string_view("smtpd_service_name=").size());
    bool found = false;
    for (const auto& p : services)
      if (p.type == config::ServiceEntry::Type::Pass && p.private_ && p.name == name) found = true;
    if (!found)
      out->push_back({"master.conf: " + s.name + " runs postscreen, but there is no pass service \"" + name +
                          "\" to hand clients to: every client that passes is refused",
                      "add the line: " + name + " pass - - n - - smtpd"});
  }
}

// Mail for virtual_mailbox_domains goes to virtual_transport: without a service of that
// name it waits in the queue. virtual(8) runs as root (it writes as each mailbox's
// owner) and needs its base folder and tables, or it defers everything.
void check_virtual(const config::Config& cfg, const std::vector<config::ServiceEntry>& services,
                   std::vector<Problem>* out) {
  if (str::trim(cfg.str("virtual_mailbox_domains")).empty()) return;
  std::string transport = cfg.str("virtual_transport");
  transport = transport.substr(0, transport.find(':'));
  const config::ServiceEntry* svc = nullptr;
  for (const auto& s : services)
    if (s.name == transport && s.type == config::ServiceEntry::Type::Unix) svc = &s;
  if (!svc) {
    out->push_back({"virtual_mailbox_domains is set but master.conf has no " + transport +
                        " service: that mail waits in the queue",
                    transport == "virtual" ? "add the line: virtual unix - n - - - virtual"
                                           : "add the service, or set virtual_transport"});
    return;
  }
  if (svc->command != "virtual") return;  // another agent (lmtp, smtp): its own settings
  if (svc->unprivileged && getuid() == 0)
    out->push_back({"master.conf: " + svc->name + " runs as mail_owner and cannot write as the mailbox owners",
                    "write its line as: " + svc->name + " unix - n - - - virtual"});
  for (const char* p : {"virtual_mailbox_base", "virtual_mailbox_maps", "virtual_uid_maps", "virtual_gid_maps"})
    if (str::trim(cfg.str(p)).empty())
      out->push_back({std::string(p) + " is not set: virtual(8) defers all mail for virtual_mailbox_domains",
                      "set it (see virtual(8))"});
  std::string base = std::string(str::trim(cfg.str("virtual_mailbox_base")));
  if (!base.empty() && base[0] != '/')
    out->push_back({"virtual_mailbox_base = " + base + ": not an absolute path", "name the folder from /"});
}

// Every table named by a *_maps or *_checks parameter: a bad spec or a regexp/pcre/cidr
// table with a bad line (each reported as FILE:LINE) would stop the daemon that reads
// it. A table that is only missing (a hash .db not built yet) is not reported here.
void check_tables(const config::Config& cfg, std::vector<Problem>* out) {
  for (const config::ParamSpec& p : config::all_params()) {
    std::string_view name = p.name;
    if (!name.ends_with("_maps") && !name.ends_with("_checks")) continue;
    for (const std::string& spec : maps::split_specs(cfg.str(name))) {
      auto m = maps::open(spec);
      if (m || m.error().temporary()) continue;
      for (const std::string& line : str::split_exact(m.error().str(), '\n'))
        out->push_back({std::string(name) + " = " + spec + ": " + line,
                        "fix that line of the table (see regexp_table(5), pcre_table(5), cidr_table(5))"});
    }
  }
}

}  // namespace

int cmd_check(const Context& ctx) {
  auto cfg = load_config(ctx);
  if (!cfg) return kBadConfig;
  std::vector<Problem> problems;
  std::vector<config::ServiceEntry> services;
  try {
    services = config::load_master_conf(*cfg);
  } catch (const config::ConfigError& e) {
    problems.push_back({e.what(), "fix that line of master.conf (see master.conf(5))"});
  }
  std::string owner = cfg->str("mail_owner");
  if (!getpwnam(owner.c_str()))
    problems.push_back({"mail_owner " + owner + " is not a user",
                        "create it (useradd --system " + owner + ") or set mail_owner"});
  for (auto& p : check_spool(*cfg)) problems.push_back(std::move(p));
  check_certificates(*cfg, &problems);
  check_programs(*cfg, services, &problems);
  check_showq(*cfg, services, &problems);
  check_virtual(*cfg, services, &problems);
  check_postscreen(*cfg, services, &problems);
  check_tables(*cfg, &problems);
  for (const auto& p : problems)
    std::printf("problem: %s\n  remedy: %s\n", p.what.c_str(), p.remedy.c_str());
  if (!problems.empty()) {
    std::printf("check: %zu problem%s\n", problems.size(), problems.size() == 1 ? "" : "s");
    return kBadConfig;
  }
  std::printf("check: ok (%s)\n", ctx.config_dir.c_str());
  return kOk;
}

}  // namespace postilion::ctl
