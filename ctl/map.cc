// ctl/map.cc - `postilionctl map build [-a] FILE` (text table -> FILE.db) and
// `map query FILE KEY`, both through lib/maps, the code every daemon looks up with.
#include <cstdio>

#include "ctl/ctl.h"
#include "lib/maps/maps.h"

namespace postilion::ctl {
namespace {

int build(const std::vector<std::string>& args) {
  maps::BuildOptions opt;
  std::string path;
  for (const auto& a : args) {
    if (a == "-a") opt.syntax = maps::Syntax::Aliases;  // aliases(5) syntax: "name: value"
    else if (path.empty() && !a.starts_with("-")) path = a;
    else {
      complain("usage: postilionctl map build [-a] FILE");
      return kError;
    }
  }
  if (path.empty()) {
    complain("usage: postilionctl map build [-a] FILE");
    return kError;
  }
  std::vector<std::string> warnings;
  if (auto st = maps::build(path, opt, &warnings); !st) {
    // Bad lines are the table's problem (file:line each); anything else is the system's.
    complain(st.error().str());
    return st.error().temporary() ? kError : kBadConfig;
  }
  for (const auto& w : warnings) complain("warning: " + w);
  return kOk;
}

int query(const std::vector<std::string>& args) {
  if (args.size() != 2) {
    complain("usage: postilionctl map query FILE KEY");
    return kError;
  }
  std::string spec = args[0].find(':') != std::string::npos && !args[0].starts_with("/")
                         ? args[0]
                         : "hash:" + args[0];
  auto map = maps::open(spec);
  if (!map) {
    complain(spec + ": " + map.error().str());
    return kError;
  }
  auto v = (*map)->lookup(args[1]);
  if (!v) {
    complain(spec + ": " + v.error().str());
    return kError;
  }
  if (!*v) return kNotRunning;  // exit 1: no such key
  std::printf("%s\n", (*v)->c_str());
  return kOk;
}

}  // namespace

int cmd_map(const Context& ctx) {
  if (!ctx.args.empty()) {
    std::vector<std::string> rest(ctx.args.begin() + 1, ctx.args.end());
    if (ctx.args[0] == "build") return build(rest);
    if (ctx.args[0] == "query") return query(rest);
  }
  complain("usage: postilionctl map build [-a] FILE | map query FILE KEY");
  return kError;
}

}  // namespace postilion::ctl
