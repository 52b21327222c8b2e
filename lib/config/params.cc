// lib/config/params.cc - the table of every parameter, built from params/*.def.
#include <algorithm>
#include <vector>

#include "lib/config/config.h"

namespace postilion::config {
namespace {

#define PARAM(name, def, type, doc) {#name, def, Type::type, doc},
const ParamSpec kParams[] = {
#include "lib/config/params/global.def"
#include "lib/config/params/master.def"
#include "lib/config/params/tls.def"
#include "lib/config/params/smtpd.def"
#include "lib/config/params/qmgr.def"
#include "lib/config/params/local.def"
#include "lib/config/params/smtp.def"
#include "lib/config/params/resolver.def"
#include "lib/config/params/auth.def"
#include "lib/config/params/pop3d.def"
#include "lib/config/params/imapd.def"
};
#undef PARAM

// Sorted view for lookups by name.
const std::vector<const ParamSpec*>& sorted() {
  static const std::vector<const ParamSpec*> v = [] {
    std::vector<const ParamSpec*> out;
    for (const auto& p : kParams) out.push_back(&p);
    std::sort(out.begin(), out.end(), [](auto* a, auto* b) { return std::string_view(a->name) < b->name; });
    return out;
  }();
  return v;
}

}  // namespace

std::span<const ParamSpec> all_params() { return kParams; }

const ParamSpec* find_param(std::string_view name) {
  const auto& v = sorted();
  auto it = std::lower_bound(v.begin(), v.end(), name, [](const ParamSpec* p, std::string_view n) {
    return std::string_view(p->name) < n;
  });
  if (it != v.end() && (*it)->name == name) return *it;
  return nullptr;
}

}  // namespace postilion::config
