// ctl/config_cmd.cc - `postilionctl config`: shows effective, non-default or default
// values of main.conf parameters, and sets values by rewriting main.conf in place.
#include <cstdio>
#include <cstring>

#include "ctl/ctl.h"
#include "lib/base/file.h"
#include "lib/base/strings.h"

namespace postilion::ctl {
namespace {

enum class Show { Effective, NonDefault, Default };

}  // namespace

int cmd_config(const Context& ctx) {
  Show show = Show::Effective;
  bool expand = false;
  std::vector<std::string> names, assignments;
  for (const std::string& a : ctx.args) {
    if (a == "-n") show = Show::NonDefault;
    else if (a == "-d") show = Show::Default;
    else if (a == "-x") expand = true;
    else if (a.starts_with("-")) {
      complain("config: unknown option " + a);
      return kError;
    } else if (a.find('=') != std::string::npos) assignments.push_back(a);
    else names.push_back(a);
  }
  if (!assignments.empty() && (!names.empty() || show != Show::Effective)) {
    complain("config: give either name=value assignments or names to show, not both");
    return kError;
  }
  auto cfg = load_config(ctx);
  if (!cfg) return kBadConfig;

  if (!assignments.empty()) {
    const std::string path = file::join(ctx.config_dir, "main.conf");
    auto text = file::read_file(path);
    if (!text) {
      complain(text.error().str());
      return kError;
    }
    std::string updated = *text;
    for (const std::string& a : assignments) {
      auto eq = a.find('=');
      std::string name(str::trim(a.substr(0, eq))), value(str::trim(a.substr(eq + 1)));
      if (!config::find_param(name)) {
        complain("config: unknown parameter " + name + " (postilionctl config -d lists them)");
        return kBadConfig;
      }
      updated = set_main_conf_value(updated, name, value);
    }
    // The whole new file must load, with every reference expanded, before it replaces the old.
    try {
      (void)config::Config::parse(updated, path, ctx.config_dir);
    } catch (const config::ConfigError& e) {
      complain(std::string("config: not changed: ") + e.what());
      return kBadConfig;
    }
    if (auto st = file::write_file_atomic(path, updated, 0644); !st) {
      complain(st.error().str());
      return kError;
    }
    return kOk;
  }

  auto print = [&](const config::ParamSpec& p) {
    std::string v;
    switch (show) {
      case Show::Default: v = p.default_value; break;
      case Show::NonDefault:
      case Show::Effective: v = expand ? cfg->str(p.name) : cfg->raw(p.name); break;
    }
    std::printf("%s = %s\n", p.name, v.c_str());
  };
  if (!names.empty()) {
    int rc = kOk;
    for (const auto& n : names) {
      const config::ParamSpec* p = config::find_param(n);
      if (!p) {
        complain("config: unknown parameter " + n);
        rc = kBadConfig;
        continue;
      }
      if (show == Show::NonDefault && cfg->is_default(n)) continue;
      print(*p);
    }
    return rc;
  }
  for (const config::ParamSpec& p : config::all_params()) {
    if (show == Show::NonDefault && cfg->is_default(p.name)) continue;
    print(p);
  }
  return kOk;
}

}  // namespace postilion::ctl
