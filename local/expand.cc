// local/expand.cc - alias/.forward/:include: target parsing and file checks.
#include "local/expand.h"

#include "lib/base/strings.h"
#include "lib/mail/address.h"
#include "lib/mail/header.h"

namespace postilion::local {
namespace {

bool has_control(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return true;
  return false;
}

// Splits on commas outside double quotes.
std::vector<std::string> split_items(std::string_view line) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (c == '\\' && quoted && i + 1 < line.size()) {
      cur += c;
      cur += line[++i];
      continue;
    }
    if (c == '"') quoted = !quoted;
    if (c == ',' && !quoted) {
      out.emplace_back(str::trim(cur));
      cur.clear();
      continue;
    }
    cur += c;
  }
  out.emplace_back(str::trim(cur));
  return out;
}

}  // namespace

std::vector<Target> parse_targets(std::string_view text, std::vector<std::string>* errors) {
  std::vector<Target> out;
  auto bad = [&](const std::string& why) {
    if (errors) errors->push_back(why);
  };
  for (const auto& raw_line : str::split_exact(text, '\n')) {
    std::string_view line = str::trim(raw_line);
    if (line.empty() || line[0] == '#') continue;
    // An unquoted |command takes the rest of the line, commas included (as sendmail).
    std::vector<std::string> items;
    if (line[0] == '|') items.emplace_back(line);
    else items = split_items(line);
    for (std::string item : items) {
      if (item.empty()) continue;
      if (item.size() >= 2 && item.front() == '"' && item.back() == '"') {
        std::string_view inner(item.data() + 1, item.size() - 2);
        if (!inner.empty() && (inner[0] == '|' || inner[0] == '/')) item = std::string(inner);
      }
      if (has_control(item)) {
        bad("control character in \"" + str::printable(item, 80) + "\"");
        continue;
      }
      if (item[0] == '|') {
        std::string cmd(str::trim(std::string_view(item).substr(1)));
        if (cmd.empty()) bad("empty command");
        else out.push_back({Target::Kind::Command, cmd});
      } else if (item[0] == '/') {
        out.push_back({Target::Kind::File, item});
      } else if (str::istarts_with(item, ":include:")) {
        std::string path(str::trim(std::string_view(item).substr(9)));
        if (path.empty() || path[0] != '/') bad("include path must be absolute: " + str::printable(path, 80));
        else out.push_back({Target::Kind::Include, path});
      } else {
        std::string a = item;
        if (a.front() == '<' && a.back() == '>') a = a.substr(1, a.size() - 2);
        if (a.size() > 1 && a[0] == '\\') a = a.substr(1);  // \user: no further aliasing
        auto parsed = mail::parse_address(a);
        if (!parsed || parsed->local.empty()) bad("bad address \"" + str::printable(item, 80) + "\"");
        else out.push_back({Target::Kind::Address, item[0] == '\\' ? "\\" + parsed->str() : parsed->str()});
      }
    }
  }
  return out;
}

std::optional<std::string> check_owned_file(const struct stat& st, uid_t owner) {
  if (!S_ISREG(st.st_mode)) return std::string("not a regular file");
  if (st.st_uid != owner && st.st_uid != 0)
    return str::format("owned by uid %u, not %u", unsigned(st.st_uid), unsigned(owner));
  if (st.st_mode & (S_IWGRP | S_IWOTH)) return std::string("writable by group or others");
  return std::nullopt;
}

bool has_delivered_to(std::string_view message, std::string_view address) {
  mail::Headers h = mail::parse_headers(message);
  for (const auto& v : h.get_all("Delivered-To"))
    if (str::iequals(v, address)) return true;
  return false;
}

std::string user_name(std::string_view local_part, std::string_view delimiters) {
  return str::lower(mail::split_extension(local_part, delimiters).user);
}

}  // namespace postilion::local
