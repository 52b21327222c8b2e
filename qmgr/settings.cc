// qmgr/settings.cc - parameters of the queue manager.
#include "qmgr/settings.h"

#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/config/config.h"
#include "lib/config/value.h"
#include "lib/log/log.h"

namespace postilion::qmgr {

namespace {

// non_smtpd_milters and the milter_* parameters smtpd uses too, for qmgr's pickup;
// receive_override_options=no_milters turns them off, as it does Postfix's cleanup.
Status pickup_milters_from(const Getter& get, DaemonConfig& c) {
  auto words = [&](const char* name) { return str::split(get(name), ", \t"); };
  for (const auto& o : words("receive_override_options"))
    if (o == "no_milters") return {};
  PickupMilterConfig& p = c.pickup_milters;
  milter::MilterConfig& m = p.milters;
  m.filters = words("non_smtpd_milters");
  for (const auto& f : m.filters)
    if (f.rfind("inet:", 0) != 0 && f.rfind("unix:", 0) != 0)
      return Error("non_smtpd_milters: \"" + str::printable(f, 100) + "\" is not inet:host:port or unix:/path").set_permanent();
  if (m.filters.empty()) return {};
  auto proto = str::parse_int(str::trim(get("milter_protocol")));
  if (!proto || (*proto != 2 && *proto != 3 && *proto != 4 && *proto != 6))
    return Error("milter_protocol: not 2, 3, 4 or 6").set_permanent();
  m.protocol = static_cast<uint32_t>(*proto);
  m.default_action = std::string(str::trim(get("milter_default_action")));
  if (m.default_action != "tempfail" && m.default_action != "reject" && m.default_action != "accept" &&
      m.default_action != "quarantine")
    return Error("milter_default_action: \"" + str::printable(m.default_action, 40) +
                 "\" is not tempfail, reject, accept or quarantine").set_permanent();
  for (auto [name, out] : {std::pair{"milter_connect_timeout", &m.connect_timeout_ms},
                           std::pair{"milter_command_timeout", &m.command_timeout_ms},
                           std::pair{"milter_content_timeout", &m.content_timeout_ms}}) {
    auto t = config::parse_time_value(get(name));
    if (!t) return Error(std::string(name) + ": bad time value").set_permanent();
    *out = *t * 1000;
  }
  // In the order of milter::Stage.
  const char* macro_params[milter::kStages] = {"milter_connect_macros", "milter_helo_macros", "milter_mail_macros",
                                               "milter_rcpt_macros", "milter_data_macros", "milter_end_of_data_macros",
                                               "milter_end_of_header_macros"};
  for (uint32_t i = 0; i < milter::kStages; ++i) m.macros[i] = words(macro_params[i]);
  auto size = config::parse_size_value(get("message_size_limit"));
  m.max_body = size && *size ? *size : milter::kMaxPacket * 64ULL;
  p.maildrop_dir = file::join(c.queue_directory, "maildrop");
  p.myhostname = get("myhostname");
  p.daemon_name = get("milter_macro_daemon_name");
  p.macro_v = get("milter_macro_v");
  return {};
}

}  // namespace

Result<DaemonConfig> settings_from(const Getter& get, std::vector<std::unique_ptr<maps::MapList>>* maps) {
  DaemonConfig c;
  auto time = [&](const char* name, int64_t* out) -> Status {
    auto t = config::parse_time_value(get(name));
    if (!t) return Error(std::string(name) + ": bad time value \"" + str::printable(get(name), 40) + "\"").set_permanent();
    *out = *t;
    return {};
  };
  auto number = [&](const char* name, int* out) -> Status {
    auto n = str::parse_int(str::trim(get(name)));
    if (!n || *n < 0 || *n > 1000000) return Error(std::string(name) + ": bad number").set_permanent();
    *out = static_cast<int>(*n);
    return {};
  };
  auto& m = c.manager;
  c.queue_directory = get("queue_directory");
  m.queue_directory = c.queue_directory;
  m.route.myhostname = str::lower(get("myhostname"));
  m.route.mydestination = str::split(str::lower(get("mydestination")), ", \t");
  auto domains = [&](const char* name) { return str::split(str::lower(get(name)), ", \t"); };
  m.route.virtual_alias_domains = domains("virtual_alias_domains");
  m.route.virtual_mailbox_domains = domains("virtual_mailbox_domains");
  m.route.relay_domains = domains("relay_domains");
  m.route.relayhost = get("relayhost");
  m.route.recipient_delimiter = get("recipient_delimiter");
  // "transport" or "transport:nexthop"; local's nexthop is not used.
  auto split_transport = [&](const char* name, std::string* transport, std::string* nexthop) -> Status {
    std::string v = get(name);
    size_t colon = v.find(':');
    *transport = std::string(str::trim(v.substr(0, colon)));
    if (nexthop) *nexthop = colon == std::string::npos ? "" : std::string(str::trim(v.substr(colon + 1)));
    if (transport->empty()) return Error(std::string(name) + ": a transport name is required").set_permanent();
    return {};
  };
  for (Status st : {split_transport("default_transport", &m.route.default_transport, &m.route.default_nexthop),
                    split_transport("local_transport", &m.route.local_transport, nullptr),
                    split_transport("relay_transport", &m.route.relay_transport, &m.route.relay_nexthop),
                    split_transport("virtual_transport", &m.route.virtual_transport, &m.route.virtual_nexthop)})
    if (!st) return st.error();
  for (Status st : {number("local_sender_message_rate_limit", &m.local_sender_message_rate_limit),
                    number("local_sender_recipient_rate_limit", &m.local_sender_recipient_rate_limit)})
    if (!st) return st.error();
  // content_filter here is what qmgr's pickup records for mail from sendmail/postdrop.
  m.content_filter = std::string(str::trim(get("content_filter")));
  if (!m.content_filter.empty()) {
    auto e = m.content_filter.find(':') == std::string::npos ? std::nullopt : parse_transport_entry(m.content_filter);
    if (!e || e->transport.empty())
      return Error("content_filter: \"" + str::printable(m.content_filter, 100) + "\" is not transport:nexthop").set_permanent();
  }
  m.route.default_filter_nexthop = std::string(str::trim(get("default_filter_nexthop")));
  m.notice.myhostname = m.route.myhostname;
  m.notice.double_bounce_sender = get("double_bounce_sender");
  m.notice.postmaster = get("bounce_notice_recipient");
  for (auto [name, lookup] : {std::pair{"virtual_alias_maps", &m.route.virtual_alias_map},
                              std::pair{"virtual_mailbox_maps", &m.route.virtual_mailbox_map},
                              std::pair{"transport_maps", &m.route.transport_map}}) {
    std::string spec = get(name);
    if (str::trim(spec).empty()) continue;
    auto list = maps::MapList::open(spec);
    if (!list) return Error(std::string(name) + ": " + list.error().str()).set_permanent();
    maps->push_back(std::make_unique<maps::MapList>(std::move(*list)));
    maps::MapList* ml = maps->back().get();
    std::string pname = name;
    *lookup = [ml, pname](std::string_view key) -> std::optional<std::string> {
      auto v = ml->lookup(key);
      if (!v) {
        // A table that cannot be read: no answer now. The message still routes by
        // the rest of the rules; the warning tells the admin why.
        log::warn("%s lookup of %s failed: %s", pname.c_str(), str::printable(key, 100).c_str(), v.error().c_str());
        return std::nullopt;
      }
      return *v;
    };
  }
  Status st;
  if (!(st = time("minimal_backoff_time", &m.minimal_backoff_time))) return st.error();
  if (!(st = time("maximal_backoff_time", &m.maximal_backoff_time))) return st.error();
  if (!(st = time("maximal_queue_lifetime", &m.maximal_queue_lifetime))) return st.error();
  if (!(st = time("bounce_queue_lifetime", &m.bounce_queue_lifetime))) return st.error();
  if (!(st = time("delay_warning_time", &m.delay_warning_time))) return st.error();
  if (!(st = time("queue_run_delay", &c.queue_run_delay))) return st.error();
  if (c.queue_run_delay < 1) c.queue_run_delay = 1;
  int procs = 0, rcpt = 0, local_rcpt = 0, active = 0;
  if (!(st = number("default_transport_concurrency_limit", &procs))) return st.error();
  if (!(st = number("default_destination_recipient_limit", &rcpt))) return st.error();
  if (!(st = number("local_destination_recipient_limit", &local_rcpt))) return st.error();
  if (!(st = number("qmgr_message_active_limit", &active))) return st.error();
  int recycle = 0;
  if (!(st = number("queue_file_recycle_limit", &recycle))) return st.error();
  c.queue_file_recycle_limit = static_cast<size_t>(std::max(0, recycle));
  // Per-transport scheduling: <prefix>_destination_concurrency_limit and friends where
  // main.conf knows them (local, smtp, relay), else the default_* values.
  auto limits_for = [&](const std::string& prefix, Limits* l) -> Status {
    auto param = [&](const char* suffix, const char* fallback) {
      std::string n = prefix + suffix;
      return config::find_param(n) ? n : std::string(fallback);
    };
    l->transport = procs;
    Status s;
    int64_t delay = 0;
    if (!(s = number(param("_destination_concurrency_limit", "default_destination_concurrency_limit").c_str(), &l->destination)) ||
        !(s = number(param("_initial_destination_concurrency", "initial_destination_concurrency").c_str(), &l->initial)) ||
        !(s = number(param("_destination_concurrency_failed_cohort_limit",
                           "default_destination_concurrency_failed_cohort_limit").c_str(), &l->failed_cohort_limit)) ||
        !(s = time(param("_destination_rate_delay", "default_destination_rate_delay").c_str(), &delay)))
      return s;
    if (l->initial < 1) return Error(prefix + ": initial destination concurrency must be at least 1").set_permanent();
    l->rate_delay_ms = delay * 1000;
    for (auto [suffix, out] : {std::pair{"_destination_concurrency_positive_feedback", &l->positive},
                               std::pair{"_destination_concurrency_negative_feedback", &l->negative}}) {
      std::string name = param(suffix, ("default" + std::string(suffix)).c_str());
      std::string value = get(name.c_str());
      auto f = parse_feedback(value);
      if (!f)
        return Error(name + ": \"" + str::printable(value, 60) + "\" is not a feedback amount (N, N/M or N/concurrency, 0 to 1)")
            .set_permanent();
      *out = *f;
    }
    return {};
  };
  if (!(st = limits_for("default", &m.default_limits))) return st.error();
  // local_* apply to $local_transport whatever its name; the others by transport name.
  if (!(st = limits_for("local", &m.limits[m.route.local_transport]))) return st.error();
  for (const std::string& t : {std::string("smtp"), std::string("relay"), m.route.default_transport,
                               m.route.relay_transport, m.route.virtual_transport}) {
    if (t == m.route.local_transport || m.limits.count(t)) continue;
    if (!(st = limits_for(t, &m.limits[t]))) return st.error();
  }
  m.default_recipient_limit = rcpt;
  m.recipient_limits[m.route.local_transport] = local_rcpt;
  m.message_active_limit = static_cast<size_t>(std::max(1, active));
  if (Status ms = pickup_milters_from(get, c); !ms) return ms.error();
  return c;
}

}  // namespace postilion::qmgr
