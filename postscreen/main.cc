// postscreen/main.cc - postscreen(8): the screen in front of smtpd(8) on port 25 (see
// man/postscreen.8 and postscreen/server.h). One unprivileged process serves every new
// client on one event loop; a client that passes goes to smtpd through the `pass`
// service smtpd_service_name. `postscreen --standalone -l [addr:]port [-c DIR]
// [-o name=value]...` runs it without master (smtpd's pass socket must then exist).
#include <sys/resource.h>

#include <memory>
#include <string>
#include <vector>

#include "lib/config/config.h"
#include "lib/log/log.h"
#include "lib/service/service.h"
#include "postscreen/server.h"

using namespace postilion;

namespace {

const std::vector<std::string_view> kParams = {
    "queue_directory", "myhostname", "smtpd_banner", "mynetworks", "postscreen_access_list",
    "postscreen_denylist_action", "postscreen_blacklist_action", "postscreen_greet_wait", "postscreen_greet_banner",
    "postscreen_greet_action", "postscreen_greet_ttl", "postscreen_dnsbl_sites", "postscreen_dnsbl_threshold",
    "postscreen_dnsbl_allowlist_threshold", "postscreen_dnsbl_whitelist_threshold", "postscreen_dnsbl_action",
    "postscreen_dnsbl_reply_map", "postscreen_dnsbl_timeout", "postscreen_dnsbl_ttl", "postscreen_cache_map",
    "postscreen_cache_retention_time", "postscreen_cache_cleanup_interval",
    "postscreen_client_connection_count_limit", "postscreen_pre_queue_limit",
    "postscreen_command_time_limit", "smtpd_service_name"};

// Each client holds one descriptor (two while its DNS lists are asked): the soft limit
// on open files goes up to the hard one, and a hard limit below what
// postscreen_pre_queue_limit allows is reported, since past it accept() fails (EMFILE).
void raise_open_files(const config::Config& cfg) {
  struct rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &rl);
  }
  int64_t want = 2 * cfg.integer("postscreen_pre_queue_limit") + 64;
  if (rl.rlim_max != RLIM_INFINITY && static_cast<int64_t>(rl.rlim_max) < want)
    log::warn("open file limit %llu is below %lld (2 x postscreen_pre_queue_limit + 64): clients past it are "
              "refused by the kernel; raise ulimit -n",
              static_cast<unsigned long long>(rl.rlim_max), static_cast<long long>(want));
}

}  // namespace

int main(int argc, char** argv) {
  service::Spec spec{.name = "postscreen", .kind = service::Kind::Stream};
  spec.params = &kParams;
  spec.inet = true;
  spec.ignore_max_use = true;  // one process holds every client (maxproc 1)
  // As root, before the jail, as Postfix's postscreen opens its cache: the cache file
  // (created in queue_directory, which only root may write) and the access tables.
  spec.pre_jail = [](service::Context& ctx) {
    raise_open_files(ctx.config());
    auto& server = ctx.keep(std::make_unique<postscreen::Server>(
        ctx.loop(), service::required(postscreen::Settings::from_config(ctx.config()))));
    service::required(server.init());
  };
  spec.on_accept = [](service::Context& ctx, UniqueFd fd) {
    ctx.get<postscreen::Server>().accept(std::move(fd), [&ctx] { ctx.session_end(); });
  };
  return service::run(argc, argv, spec);
}
