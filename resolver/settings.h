// resolver/settings.h - the resolver's parameters (lib/config/params/resolver.def) read
// into Settings, and this host's identity for loop detection.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "lib/base/result.h"
#include "resolver/engine.h"

namespace postilion::resolver {

// get(name) returns the expanded value of a parameter. Bad values are an Error
// ("dns_servers: bad address x"), reported at start.
Result<Settings> settings_from(const std::function<std::string(const char*)>& get);

// Addresses this host listens on for mail: inet_interfaces and proxy_interfaces
// ("all" = every configured interface address).
std::vector<std::string> own_addresses(const std::vector<std::string>& interfaces);

}  // namespace postilion::resolver
