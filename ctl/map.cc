// ctl/map.cc - `postilionctl map build FILE` and `map query FILE KEY` (lib/maps).
#include "ctl/ctl.h"

namespace postilion::ctl {

int cmd_map(const Context&) {
  complain("map: lookup tables are not available in this build yet");
  return kError;
}

}  // namespace postilion::ctl
