// lib/maps/map_source.h - parser for the text form of lookup tables (postmap(1) and
// aliases(5) syntax). No I/O: it takes the file's bytes and reports entries, warnings
// and errors, each message as "FILE:LINE: text".
//
// Postmap syntax: `key value`; key = first whitespace-separated word, value = the rest,
// trimmed. Aliases syntax: `name: value, value` (key before the colon). Both: `#`
// comment lines and blank lines are ignored; a line starting with whitespace continues
// the previous logical line (joined with one space); keys are lowercased; a duplicate
// key is a warning and the first entry wins.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace postilion::maps {

enum class Syntax { Postmap, Aliases };

// Longest physical or logical line accepted.
inline constexpr size_t kMaxLineLength = 65536;

struct MapEntry {
  std::string key;  // lowercased
  std::string value;
  size_t line = 0;  // where the logical line starts
};

struct MapSource {
  std::vector<MapEntry> entries;    // in file order, duplicates removed
  std::vector<std::string> warnings;  // duplicates
  std::vector<std::string> errors;    // malformed lines: the table must not be built
};

MapSource parse_map_source(std::string_view text, Syntax syntax, std::string_view file_name);

// One logical line of a table file: where it starts and its text, trimmed, continuation
// lines joined by one space. broken: one of its physical lines was malformed (too long,
// a control character) or it grew past kMaxLineLength; the error is already reported
// and the line must be dropped whole.
struct LogicalLine {
  size_t line = 0;
  std::string text;
  bool broken = false;
};
// The logical lines of a table file (every text table syntax: postmap, aliases,
// regexp, pcre, cidr), blank and `#` comment lines left out (they do not end a logical
// line). Each malformed physical line is reported to error(line, why) as it is met.
std::vector<LogicalLine> logical_lines(std::string_view text,
                                       const std::function<void(size_t line, const std::string& why)>& error);

// ASCII lowercase: how keys are stored and looked up.
std::string fold_key(std::string_view key);

}  // namespace postilion::maps
