// local/settings.h - local(8)'s parameters (lib/config/params/local.def and the shared
// ones) read into Settings and SystemSettings.
#pragma once

#include <functional>
#include <map>
#include <string>

#include "lib/base/result.h"
#include "local/deliver.h"
#include "local/system_env.h"

namespace postilion::local {

using Getter = std::function<std::string(const char*)>;

struct AllSettings {
  Settings delivery;
  SystemSettings system;
  std::string queue_directory;
  std::string alias_maps;
  std::string mailbox_command_maps;
};

Result<AllSettings> settings_from(const Getter& get);

}  // namespace postilion::local
