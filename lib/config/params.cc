// lib/config/params.cc - the table of every parameter, built from params/*.def.
#include <algorithm>
#include <string_view>
#include <vector>

#include "lib/config/config.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR "/var"
#endif
#ifndef LIBEXECDIR
#define LIBEXECDIR "/usr/lib/postilion"
#endif
#ifndef SBINDIR
#define SBINDIR "/usr/sbin"
#endif

namespace postilion::config {
namespace {

// The folders of an installation follow configure (--sysconfdir, --localstatedir,
// --libexecdir, --sbindir), so the programs find what `make install` put in place; the
// .def files show the values of a Debian installation.
constexpr const char* installed(std::string_view name, const char* def) {
  if (name == "config_directory") return SYSCONFDIR "/postilion";
  if (name == "queue_directory") return LOCALSTATEDIR "/spool/postilion";
  if (name == "daemon_directory") return LIBEXECDIR;
  if (name == "command_directory") return SBINDIR;
  return def;
}

#define PARAM(name, def, type, doc) {#name, installed(#name, def), Type::type, doc},
const ParamSpec kParams[] = {
#include "lib/config/params/global.def"
#include "lib/config/params/master.def"
#include "lib/config/params/tls.def"
#include "lib/config/params/smtpd.def"
#include "lib/config/params/postscreen.def"
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
