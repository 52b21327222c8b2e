// ctl/instance.h - writing an instance (main.conf, master.conf, aliases, spool): the
// work of `postilionctl init`, shared with `postilionctl install`.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "ctl/ctl.h"

namespace postilion::ctl {

struct InitOptions {
  std::string listen = "127.0.0.1";  // "all": every address (master.conf names none)
  std::string smtp_port = "25", submission_port = "587", smtps_port = "465";
  std::string pop3_port = "110", pop3s_port = "995", imap_port = "143", imaps_port = "993";
  std::string hostname, domain, spool, prefix, user, maillog;
  std::string myorigin = "$mydomain";
  std::string aliases;  // the aliases file; empty: CONFIG_DIR/aliases
  std::vector<std::pair<std::string, std::string>> more;  // further main.conf lines
  bool tls_selfsigned = false;
  bool force = false;
};

// Writes the instance o describes into ctx.config_dir: main.conf and master.conf
// (refused when there is one, unless o.force), the aliases file when it is missing and
// its database, the certificate when o.tls_selfsigned, and the spool. Returns an ExitCode.
int write_instance(const Context& ctx, InitOptions o);
// master.conf's text for o: the inet services on o's ports (implicit TLS only with a
// certificate) and the unix services, each only when its program is in daemon_dir.
std::string master_conf_text(const InitOptions& o, const std::string& daemon_dir);

// install: master.conf's text with its mailbox services (imapd, pop3d) in step with what
// is installed. A line running one whose program installed() says is gone is taken out
// with its continuation lines; the template_text line of each installed one that text
// has no line for is added; everything else is kept as written. One line per change
// goes to changes; with none, text comes back as it was.
std::string mailbox_services_in_step(const std::string& text, const std::string& template_text,
                                     const std::function<bool(const std::string&)>& installed,
                                     std::vector<std::string>* changes);

}  // namespace postilion::ctl
