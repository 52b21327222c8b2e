// local/expand.h - what a local recipient becomes: the targets of an alias entry,
// ~/.forward or :include: file (addresses, |commands, /files, :include:), and the
// safety checks on the files that name them. Pure logic over text and stat data.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postilion::local {

struct Target {
  enum class Kind { Address, Command, File, Include };
  Kind kind = Kind::Address;
  std::string value;  // the address, command line, file path or include path
  bool operator==(const Target&) const = default;
};

// Parses the right-hand side of an alias, or the text of a .forward / :include: file
// (lines; '#' comments; comma-separated items; "|cmd args" and "\"|cmd args\"" whole).
// Items that are not valid (control characters, empty command, relative /file) are
// skipped and described in *errors.
std::vector<Target> parse_targets(std::string_view text, std::vector<std::string>* errors);

// A .forward or :include: file must be a regular file owned by the user (or root),
// not writable by group or others. Returns the reason when it is unsafe.
std::optional<std::string> check_owned_file(const struct stat& st, uid_t owner);

// True when the message's headers already carry "Delivered-To: <address>" (case
// insensitive) - delivering again would loop.
bool has_delivered_to(std::string_view message, std::string_view address);

// The local part as a user name: the part before the recipient delimiter, lowercased.
std::string user_name(std::string_view local_part, std::string_view delimiters);

}  // namespace postilion::local
