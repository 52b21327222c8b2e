// lib/config/fuzz_config.cc - libFuzzer target: input split at the first NUL into a
// main.conf and a master.conf; either may be rejected, neither may crash, and every
// value of an accepted main.conf must read back through its typed getter.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "lib/config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace postilion::config;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t nul = in.find('\0');
  std::string_view main_text = in.substr(0, nul);
  std::string_view master_text = nul == std::string_view::npos ? "" : in.substr(nul + 1);
  try {
    Config c = Config::parse(main_text);
    // The getters never fail on a loaded Config: each one checks its value here.
    for (const auto& p : all_params()) {
      switch (p.type) {
        case Type::String: (void)c.str(p.name); break;
        case Type::Int: (void)c.integer(p.name); break;
        case Type::Bool: (void)c.boolean(p.name); break;
        case Type::Time: (void)c.seconds(p.name); break;
        case Type::Size: (void)c.bytes(p.name); break;
        case Type::List:
        case Type::Restrictions: (void)c.list(p.name); break;
      }
      (void)c.raw(p.name);
    }
    (void)parse_master_conf(master_text, c);
  } catch (const ConfigError&) {
  }
  return 0;
}
