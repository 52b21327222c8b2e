// ctl/spool.h - the spool as postilionctl sees it: create it for `init`, and list what
// is wrong with it for `check` (each problem with its remedy).
#pragma once

#include <string>
#include <vector>

#include "lib/base/result.h"
#include "lib/config/config.h"

namespace postilion::ctl {

struct Problem {
  std::string what;    // "spool/incoming: mode 0777, expected 0700"
  std::string remedy;  // "chmod 0700 /var/spool/postilion/incoming"
};

// Creates queue_directory and its folders with the right owners and modes.
Status create_spool(const config::Config& cfg);
// Ownership and modes of every spool folder.
std::vector<Problem> check_spool(const config::Config& cfg);

}  // namespace postilion::ctl
