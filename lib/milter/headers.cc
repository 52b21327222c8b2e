// lib/milter/headers.cc - the header fields milters edit.
#include "lib/milter/headers.h"

#include <strings.h>

namespace postilion::milter {
namespace {

// "Name:" at the start of a line: printable characters other than colon, then a colon
// (blanks before the colon are tolerated, as obsolete syntax allows).
size_t field_name_len(std::string_view line) {
  size_t i = 0;
  while (i < line.size() && line[i] != ':') {
    unsigned char c = static_cast<unsigned char>(line[i]);
    if (c < 0x21 || c > 0x7e) break;
    ++i;
  }
  if (i == 0) return 0;
  size_t name = i;
  while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
  return i < line.size() && line[i] == ':' ? name : 0;
}

}  // namespace

HeaderList HeaderList::parse(std::string_view msg, size_t* body_start, bool complete) {
  HeaderList h;
  *body_start = std::string_view::npos;
  size_t pos = 0;
  while (pos < msg.size()) {
    if (pos >= kMaxHeaderSection) {
      *body_start = pos;
      return h;
    }
    size_t nl = msg.find('\n', pos);
    if (nl == std::string_view::npos && !complete) return h;  // the line is not all here
    size_t end = nl == std::string_view::npos ? msg.size() : nl + 1;
    std::string_view line = msg.substr(pos, end - pos);
    std::string_view bare = line;
    while (!bare.empty() && (bare.back() == '\n' || bare.back() == '\r')) bare.remove_suffix(1);
    if (bare.empty()) {
      *body_start = end;  // the empty line ends the header section
      return h;
    }
    if ((line[0] == ' ' || line[0] == '\t') && !h.fields_.empty()) {
      h.fields_.back().raw.append(line);
    } else if (size_t n = field_name_len(bare); n > 0) {
      h.fields_.push_back(Field{std::string(bare.substr(0, n)), std::string(line)});
    } else {
      *body_start = pos;  // not a header field: the body starts here
      return h;
    }
    pos = end;
  }
  if (complete) *body_start = msg.size();
  return h;
}

std::string HeaderList::value_for_filter(const Field& f, bool lead_space) {
  std::string_view raw = f.raw;
  size_t colon = raw.find(':');
  std::string_view v = colon == std::string_view::npos ? std::string_view() : raw.substr(colon + 1);
  if (!lead_space)
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  std::string out;
  out.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '\r' && i + 1 < v.size() && v[i + 1] == '\n') continue;
    out += v[i];
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

HeaderList::Field HeaderList::make(std::string_view name, std::string_view value, bool lead_space) {
  Field f;
  f.name = std::string(name);
  f.raw = f.name + ":";
  if (!lead_space || value.empty() || (value.front() != ' ' && value.front() != '\t')) f.raw += ' ';
  // Lines split at LF (a CR before it dropped); each later line is a fold, so it must
  // start with a blank. NUL and lone CR would corrupt the message: they become blanks.
  bool line_start = false;
  for (size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (c == '\r' && i + 1 < value.size() && value[i + 1] == '\n') continue;
    if (c == '\n') {
      if (line_start) f.raw += '\t';  // an empty fold would end the header section
      f.raw += "\r\n";
      line_start = true;
      continue;
    }
    if (c == '\r' || c == '\0') c = ' ';
    if (line_start && c != ' ' && c != '\t') f.raw += '\t';
    line_start = false;
    f.raw += c;
  }
  if (line_start) f.raw += '\t';  // a value that ended in LF: no empty line may result
  f.raw += "\r\n";
  return f;
}

void HeaderList::add(std::string_view name, std::string_view value, bool lead_space) {
  fields_.push_back(make(name, value, lead_space));
}

void HeaderList::insert(size_t index, std::string_view name, std::string_view value, bool lead_space) {
  if (index > fields_.size()) index = fields_.size();
  fields_.insert(fields_.begin() + static_cast<std::ptrdiff_t>(index), make(name, value, lead_space));
}

void HeaderList::change(std::string_view name, size_t index, std::string_view value, bool lead_space) {
  if (index == 0) index = 1;
  size_t seen = 0;
  for (size_t i = 0; i < fields_.size(); ++i) {
    const Field& f = fields_[i];
    if (f.name.size() != name.size() || strncasecmp(f.name.data(), name.data(), name.size()) != 0) continue;
    if (++seen != index) continue;
    if (value.empty()) fields_.erase(fields_.begin() + static_cast<std::ptrdiff_t>(i));
    else fields_[i] = make(f.name, value, lead_space);  // the name keeps its spelling
    return;
  }
  if (!value.empty()) add(name, value, lead_space);
}

std::string HeaderList::text() const {
  std::string out;
  for (const auto& f : fields_) out += f.raw;
  return out;
}

}  // namespace postilion::milter
