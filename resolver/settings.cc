// resolver/settings.cc - resolver parameters into Settings.
#include "resolver/settings.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include "lib/base/strings.h"

namespace postilion::resolver {

namespace {
bool valid_server(const std::string& s) {
  // address[@port]
  std::string addr = s, port;
  if (auto at = s.find('@'); at != std::string::npos) {
    addr = s.substr(0, at);
    port = s.substr(at + 1);
    auto p = str::parse_uint(port);
    if (!p || *p == 0 || *p > 65535) return false;
  }
  in6_addr buf;
  return inet_pton(AF_INET, addr.c_str(), &buf) == 1 || inet_pton(AF_INET6, addr.c_str(), &buf) == 1;
}
}  // namespace

std::vector<std::string> own_addresses(const std::vector<std::string>& interfaces) {
  std::vector<std::string> out;
  for (const auto& i : interfaces) {
    if (str::iequals(i, "all")) {
      ifaddrs* ifa = nullptr;
      if (getifaddrs(&ifa) != 0) continue;
      for (ifaddrs* p = ifa; p; p = p->ifa_next) {
        if (!p->ifa_addr) continue;
        char buf[INET6_ADDRSTRLEN];
        if (p->ifa_addr->sa_family == AF_INET)
          inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(p->ifa_addr)->sin_addr, buf, sizeof buf);
        else if (p->ifa_addr->sa_family == AF_INET6)
          inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(p->ifa_addr)->sin6_addr, buf, sizeof buf);
        else
          continue;
        out.emplace_back(buf);
      }
      freeifaddrs(ifa);
    } else if (str::iequals(i, "loopback-only") || str::iequals(i, "localhost")) {
      out.emplace_back("127.0.0.1");
      out.emplace_back("::1");
    } else {
      std::string a = i;
      if (a.size() > 2 && a.front() == '[' && a.back() == ']') a = a.substr(1, a.size() - 2);
      out.push_back(a);
    }
  }
  return out;
}

Result<Settings> settings_from(const std::function<std::string(const char*)>& get) {
  Settings s;
  for (const auto& srv : str::split(get("dns_servers"))) {
    if (!valid_server(srv)) return Error("dns_servers: bad server " + str::printable(srv, 100)).set_permanent();
    s.servers.push_back(srv);
  }
  s.trust_anchor_file = get("dnssec_trust_anchor_file");
  std::string protos = str::lower(get("inet_protocols"));
  if (protos == "all" || protos.empty()) {
    s.ipv4 = s.ipv6 = true;
  } else {
    s.ipv4 = s.ipv6 = false;
    for (const auto& p : str::split(protos)) {
      if (p == "ipv4") s.ipv4 = true;
      else if (p == "ipv6") s.ipv6 = true;
      else return Error("inet_protocols: bad value " + str::printable(p, 40)).set_permanent();
    }
  }
  auto num = [&](const char* name, int64_t lo, int64_t hi, int64_t* out) -> Status {
    auto v = str::parse_int(get(name));
    if (!v || *v < lo || *v > hi) return Error(std::string(name) + ": bad value").set_permanent();
    *out = *v;
    return {};
  };
  int64_t v;
  if (auto st = num("resolver_query_timeout", 1, 300, &v); !st) return st.error();
  s.query_timeout_ms = static_cast<int>(v * 1000);
  if (auto st = num("resolver_cache_size", 0, 10000000, &v); !st) return st.error();
  s.cache_size = static_cast<size_t>(v);
  if (auto st = num("resolver_cache_max_ttl", 0, 604800, &v); !st) return st.error();
  s.max_ttl = static_cast<uint32_t>(v);
  if (auto st = num("resolver_negative_ttl", 0, 86400, &v); !st) return st.error();
  s.negative_ttl = static_cast<uint32_t>(v);
  s.me.names.push_back(str::lower(get("myhostname")));
  auto ifs = str::split(get("inet_interfaces"));
  for (const auto& p : str::split(get("proxy_interfaces"))) ifs.push_back(p);
  s.me.addresses = own_addresses(ifs);
  return s;
}

}  // namespace postilion::resolver
