// qmgr/settings.h - the queue manager's parameters (lib/config/params/qmgr.def and the
// shared ones: myhostname, mydestination, relayhost, ...) read into DaemonConfig, and
// the tables it consults (virtual_alias_maps, transport_maps) opened.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "lib/base/result.h"
#include "lib/maps/maps.h"
#include "qmgr/daemon.h"

namespace postilion::qmgr {

using Getter = std::function<std::string(const char*)>;

// Reads every parameter through get (expanded values). The maps are opened here and
// kept alive by *maps for the Lookup functions. Bad values are an Error naming them.
Result<DaemonConfig> settings_from(const Getter& get, std::vector<std::unique_ptr<maps::MapList>>* maps);

}  // namespace postilion::qmgr
