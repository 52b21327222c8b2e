// ctl/conf_edit.cc - rewrites one parameter of main.conf text in place, keeping every
// other line (comments included) as it was.
#include "ctl/ctl.h"
#include "lib/base/strings.h"

namespace postilion::ctl {
namespace {

// Does this physical line start the setting of name ("name = ..." or "name=...")?
bool sets(std::string_view line, std::string_view name) {
  if (!line.starts_with(name)) return false;
  std::string_view rest = str::trim(line.substr(name.size()));
  return rest.starts_with("=");
}

}  // namespace

std::string set_main_conf_value(const std::string& text, const std::string& name,
                                const std::string& value) {
  std::vector<std::string> lines = str::split_exact(text, '\n');
  bool trailing_newline = !text.empty() && text.back() == '\n';
  if (trailing_newline) lines.pop_back();
  std::string out;
  bool done = false;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (!done && sets(lines[i], name)) {
      out += name + " = " + value + "\n";
      done = true;
      // Continuation lines (starting with white space) belong to the old value.
      while (i + 1 < lines.size() && !lines[i + 1].empty() &&
             (lines[i + 1][0] == ' ' || lines[i + 1][0] == '\t') &&
             !str::trim(lines[i + 1]).starts_with("#"))
        ++i;
      continue;
    }
    out += lines[i];
    if (i + 1 < lines.size() || trailing_newline) out += "\n";
  }
  if (!done) {
    if (!out.empty() && out.back() != '\n') out += "\n";
    out += name + " = " + value + "\n";
  }
  return out;
}

}  // namespace postilion::ctl
