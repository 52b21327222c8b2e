// lib/config/config.cc - reading main.conf, $name expansion, validation, getters.
#include "lib/config/config.h"

#include <netdb.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <set>

#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/config/restrictions.h"
#include "lib/config/value.h"
#include "lib/log/log.h"

namespace postilion::config {
namespace {

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string suggestion(std::string_view name) {
  std::string best;
  size_t best_d = 3;
  for (const auto& p : all_params()) {
    // The distance is at least the difference in length: skip the work (a hostile
    // name may be a megabyte long).
    size_t len = std::strlen(p.name);
    if ((name.size() > len ? name.size() - len : len - name.size()) >= best_d) continue;
    size_t d = edit_distance(name, p.name);
    if (d < best_d) {
      best_d = d;
      best = p.name;
    }
  }
  return best.empty() ? "" : " (did you mean \"" + best + "\"?)";
}

// The per-delivery variables of forward_path and friends: left for the delivery
// agent to expand, so "$home/.forward" survives main.conf expansion as it is.
bool delivery_variable(std::string_view name) {
  return name == "home" || name == "user" || name == "extension" || name == "recipient" ||
         name == "domain" || name == "local";
}

// Parameters taken as written, never expanded at load (a Postfix "raw" parameter):
// local(8) expands mailbox_command's $names per delivery with shell-safe values and
// passes the names it does not know ($EXTENSION, ${HOME:-/}, $$) on to the shell.
// default_rbl_reply's $rbl_code, $client ... are smtpd(8)'s, filled in per reply.
bool raw_parameter(std::string_view name) { return name == "mailbox_command" || name == "default_rbl_reply"; }


}  // namespace

std::string origin_from_file(const std::string& path, const std::string& fallback) {
  auto text = file::read_file(path, 4096);
  if (!text) {
    if (text.error().code() == ENOENT) return fallback;
    throw ConfigError(text.error().str());
  }
  auto words = str::split(*text, " \t\r\n");
  if (words.empty()) return fallback;
  std::string name = str::lower(words.front());
  bool ok = name.size() <= 253 && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.';
  });
  if (!ok) throw ConfigError(path + ": not a domain name: \"" + str::printable(name, 60) + "\"");
  return name;
}

const std::string& host_fqdn() {
  static const std::string name = [] {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0 || !host[0]) return std::string("localhost.localdomain");
    std::string h = host;
    if (h.find('.') == std::string::npos) {
      struct addrinfo hints {};
      hints.ai_flags = AI_CANONNAME;
      struct addrinfo* res = nullptr;
      if (::getaddrinfo(host, nullptr, &hints, &res) == 0 && res) {
        if (res->ai_canonname && std::string_view(res->ai_canonname).find('.') != std::string_view::npos)
          h = res->ai_canonname;
        ::freeaddrinfo(res);
      }
    }
    if (h.find('.') == std::string::npos) h += ".localdomain";
    return str::lower(h);
  }();
  return name;
}

std::string system_fqdn() { return host_fqdn(); }

void Expander::charge(size_t n) {
  if (n > budget_) throw ConfigError("values too long after $name expansion");
  budget_ -= n;
}

std::string Expander::expand(std::string_view text) { return expand_at(text, 0); }

// Expands $name, ${name}, $(name), ${name?text}, ${name:text} and $$ in text.
std::string Expander::expand_at(std::string_view text, int nesting) {
  if (nesting > kMaxNesting) throw ConfigError("${...} nested too deeply");
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    size_t dollar = text.find('$', i);
    if (dollar == std::string_view::npos) dollar = text.size();
    charge(dollar - i);
    out.append(text.substr(i, dollar - i));
    i = dollar;
    if (i >= text.size()) break;
    // text[i] == '$'
    if (i + 1 >= text.size()) {  // a lone '$' at the end stays
      charge(1);
      out += '$';
      ++i;
      continue;
    }
    char n = text[i + 1];
    if (n == '$') {
      charge(1);
      out += '$';
      i += 2;
      continue;
    }
    std::string name;
    std::string_view cond;
    char op = 0;
    if (n == '{' || n == '(') {
      size_t end = str::closing_bracket(text, i + 1);
      if (end == std::string_view::npos)
        throw ConfigError(std::string("missing '") + (n == '{' ? '}' : ')') + "' after \"$" + n + "\"");
      std::string_view inner = text.substr(i + 2, end - i - 2);
      size_t k = 0;
      while (k < inner.size() && str::name_char(inner[k])) ++k;
      name = inner.substr(0, k);
      if (name.empty()) throw ConfigError("empty parameter name after '$'");
      if (k < inner.size()) {
        op = inner[k];
        if (op != '?' && op != ':')
          throw ConfigError("bad character in \"$" + std::string(1, n) + str::printable(inner, 60) + "\"");
        cond = inner.substr(k + 1);
      }
      i = end + 1;
    } else {
      size_t k = i + 1;
      while (k < text.size() && str::name_char(text[k])) ++k;
      if (k == i + 1) {  // '$' followed by punctuation or space: literal
        charge(1);
        out += '$';
        ++i;
        continue;
      }
      name = text.substr(i + 1, k - i - 1);
      i = k;
    }
    if (delivery_variable(name)) {
      if (op) throw ConfigError("\"$" + name + "\" is filled in per delivery and cannot be tested");
      charge(name.size() + 1);
      out += '$';
      out += name;
      continue;
    }
    const std::string& value = lookup(name);
    // ${name?text}: text when name is not empty; ${name:text}: text when it is.
    if (op == '?') {
      if (!value.empty()) out += expand_at(cond, nesting + 1);
    } else if (op == ':') {
      if (value.empty()) out += expand_at(cond, nesting + 1);
      else {
        charge(value.size());
        out += value;
      }
    } else {
      charge(value.size());
      out += value;
    }
  }
  return out;
}

const std::string& Expander::lookup(const std::string& name) {
  if (auto it = done_.find(name); it != done_.end()) return it->second;
  const ParamSpec* spec = find_param(name);
  if (!spec) throw ConfigError("unknown parameter \"$" + str::printable(name, 80) + "\" in a value" + suggestion(name));
  if (std::find(stack_.begin(), stack_.end(), name) != stack_.end()) {
    std::string path;
    for (auto it = std::find(stack_.begin(), stack_.end(), name); it != stack_.end(); ++it) path += "$" + *it + " -> ";
    throw ConfigError("expansion loop: " + path + "$" + name);
  }
  auto it = values_.find(name);
  std::string value;
  if (raw_parameter(name)) return done_[name] = it != values_.end() ? it->second : std::string(spec->default_value);
  stack_.push_back(name);
  if (it != values_.end()) {
    value = expand(it->second);
  } else if (std::string_view(spec->default_value) == kDefaultFqdn) {
    value = host_fqdn();
  } else if (std::string_view(spec->default_value) == kDefaultParentDomain) {
    const std::string& host = lookup("myhostname");
    size_t dot = host.find('.');
    value = dot == std::string::npos ? host : host.substr(dot + 1);
  } else {
    value = expand(spec->default_value);
  }
  if (name == "myorigin" && value.starts_with('/')) value = origin_from_file(value, lookup("myhostname"));
  stack_.pop_back();
  return done_[name] = std::move(value);
}

void Config::rebuild() {
  Expander ex(values_);
  // Built aside and swapped in, so a failed set() leaves the old values in force.
  std::map<std::string, std::string, std::less<>> fresh;
  for (const auto& p : all_params()) {
    std::string v;
    try {
      v = ex.lookup(p.name);
    } catch (const ConfigError& e) {
      throw ConfigError(where(p.name) + p.name + ": " + e.what());
    }
    if (auto why = check_value(p.type, v); !why.empty()) {
      // A restriction list's reason names the word; the whole list would hide it.
      if (p.type == Type::Restrictions) throw ConfigError(where(p.name) + p.name + ": " + why);
      throw ConfigError(where(p.name) + p.name + ": " + why + ", got \"" + str::printable(v, 80) + "\"");
    }
    fresh[p.name] = std::move(v);
  }
  // A restriction whose table is not set would check nothing: refused like an unknown one.
  for (const auto& p : all_params()) {
    if (p.type != Type::Restrictions) continue;
    auto steps = parse_restriction_list(fresh[p.name]);  // checked above
    if (!steps) continue;
    for (const auto& step : *steps) {
      const char* needs = restriction_needs(step.what);
      if (needs && str::trim(fresh[needs]).empty())
        throw ConfigError(where(p.name) + p.name + ": " + restriction_name(step.what) + " needs " + needs);
    }
  }
  // As Postfix: one of the two lists at RCPT must be able to refuse a recipient the
  // server does not relay for, or any client could send anywhere (an open relay).
  {
    auto relay = parse_restriction_list(fresh["smtpd_relay_restrictions"]);
    auto rcpt = parse_restriction_list(fresh["smtpd_recipient_restrictions"]);
    if (relay && rcpt && !stops_open_relay(*relay) && !stops_open_relay(*rcpt)) {
      std::string at = where("smtpd_relay_restrictions");
      if (at.empty()) at = where("smtpd_recipient_restrictions");
      throw ConfigError(at + "smtpd_relay_restrictions, smtpd_recipient_restrictions: specify at least one "
                        "working instance of reject_unauth_destination, defer_unauth_destination, reject or "
                        "defer in one of them (else this server is an open relay)");
    }
  }
  expanded_.swap(fresh);
}

std::string Config::where(std::string_view name) const {
  auto it = lines_.find(name);
  if (it == lines_.end()) return "";
  return it->second + ": ";
}

Config Config::load(const std::string& config_dir) {
  std::string path = file::join(config_dir, "main.conf");
  auto text = file::read_file(path, 16 << 20);
  if (!text) throw ConfigError(text.error().str());
  return parse(*text, path, config_dir);
}

Config Config::parse(std::string_view text, const std::string& filename, const std::string& config_dir) {
  Config cfg;
  cfg.config_dir_ = config_dir;
  auto logical = logical_lines(text, filename, "a parameter");
  for (const auto& l : logical) {
    std::string at = filename + ":" + std::to_string(l.line);
    size_t eq = l.text.find('=');
    if (eq == std::string::npos)
      throw ConfigError(at + ": expected \"name = value\", got \"" + str::printable(l.text, 80) + "\"");
    std::string name(str::trim(std::string_view(l.text).substr(0, eq)));
    std::string value(str::trim(std::string_view(l.text).substr(eq + 1)));
    if (name.empty() || !std::all_of(name.begin(), name.end(), str::name_char))
      throw ConfigError(at + ": bad parameter name \"" + str::printable(name, 80) + "\"");
    if (!find_param(name)) throw ConfigError(at + ": unknown parameter \"" + str::printable(name, 80) + "\"" + suggestion(name));
    cfg.values_[name] = value;
    cfg.lines_[name] = at;
  }
  cfg.rebuild();
  return cfg;
}

void Config::set(std::string_view name, std::string_view value) {
  set_all({{std::string(name), std::string(value)}});
}

void Config::set_all(const std::vector<std::pair<std::string, std::string>>& values) {
  for (const auto& [name, value] : values)
    if (!find_param(name))
      throw ConfigError("unknown parameter \"" + str::printable(name, 80) + "\"" + suggestion(name));
  auto saved = values_;
  auto saved_lines = lines_;
  for (const auto& [name, value] : values) {
    values_[name] = std::string(str::trim(value));
    lines_.erase(name);
  }
  try {
    rebuild();
  } catch (...) {
    values_ = std::move(saved);
    lines_ = std::move(saved_lines);
    throw;
  }
}

const std::string& Config::expanded(std::string_view name) const {
  auto it = expanded_.find(name);
  if (it == expanded_.end()) PANIC("config: no such parameter \"%.*s\"", static_cast<int>(name.size()), name.data());
  return it->second;
}

std::string Config::str(std::string_view name) const { return expanded(name); }

int64_t Config::integer(std::string_view name) const { return *parse_int_value(expanded(name)); }

bool Config::boolean(std::string_view name) const { return *parse_bool_value(expanded(name)); }

int64_t Config::seconds(std::string_view name) const { return *parse_time_value(expanded(name)); }

uint64_t Config::bytes(std::string_view name) const { return *parse_size_value(expanded(name)); }

std::vector<std::string> Config::list(std::string_view name) const { return str::split(expanded(name), " \t\r\n,"); }

std::string Config::raw(std::string_view name) const {
  auto it = values_.find(name);
  if (it != values_.end()) return it->second;
  const ParamSpec* p = find_param(name);
  if (!p) PANIC("config: no such parameter \"%.*s\"", static_cast<int>(name.size()), name.data());
  std::string_view def = p->default_value;
  if (def == kDefaultFqdn || def == kDefaultParentDomain) return expanded(name);
  return p->default_value;
}

bool Config::is_default(std::string_view name) const {
  if (!find_param(name)) PANIC("config: no such parameter \"%.*s\"", static_cast<int>(name.size()), name.data());
  return values_.find(name) == values_.end();
}

}  // namespace postilion::config
