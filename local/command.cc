// local/command.cc - $name expansion for mailbox_command and luser_relay, and the
// sysexits table of command deliveries.
#include "local/command.h"

#include <sys/wait.h>

#include "lib/base/strings.h"
#include "lib/mail/address.h"

namespace postilion::local {
namespace {

using str::name_char;

// "{text}" -> "text"; anything else as it is.
std::string_view unbrace(std::string_view t) {
  if (t.size() >= 2 && t.front() == '{' && t.back() == '}') return t.substr(1, t.size() - 2);
  return t;
}

class Expansion {
 public:
  Expansion(const ExpandVars& vars, const std::string_view* filter) : vars_(vars), filter_(filter) {}

  void run(std::string_view p, int depth, std::string& out) {
    for (size_t i = 0; i < p.size();) {
      if (p[i] != '$' || i + 1 == p.size()) {
        out += p[i++];
        continue;
      }
      char c = p[i + 1];
      if (c == '$') {
        out += "$$";
        i += 2;
      } else if (c == '{' || c == '(') {
        size_t end = str::closing_bracket(p, i + 1);
        if (end == std::string_view::npos) {  // not closed: kept as text
          out.append(p.substr(i));
          return;
        }
        if (!braced(p.substr(i + 2, end - i - 2), depth, out)) out.append(p.substr(i, end + 1 - i));
        i = end + 1;
      } else if (name_char(c)) {
        size_t j = i + 1;
        while (j < p.size() && name_char(p[j])) ++j;
        auto it = vars_.find(std::string(p.substr(i + 1, j - i - 1)));
        if (it == vars_.end()) out.append(p.substr(i, j - i));
        else out += value(it->second);
        i = j;
      } else {
        out += p[i++];
      }
    }
  }

 private:
  // The inside of ${...}: name, name?text, name:text, name?{a}:{b}. False when it is
  // not one of ours (the caller keeps it as written).
  bool braced(std::string_view in, int depth, std::string& out) {
    size_t n = 0;
    while (n < in.size() && name_char(in[n])) ++n;
    auto it = vars_.find(std::string(in.substr(0, n)));
    if (it == vars_.end() || (n < in.size() && in[n] != '?' && in[n] != ':')) return false;
    if (n == in.size()) {
      out += value(it->second);
      return true;
    }
    if (depth >= kMaxDepth) return true;  // bounded: a pattern cannot nest without end
    bool set = !it->second.empty();
    std::string_view rest = in.substr(n + 1);
    if (in[n] == '?') {
      std::string_view yes = rest, no;
      // ${name?{a}:{b}}: the colon after a closed brace separates the two.
      if (!rest.empty() && rest[0] == '{') {
        size_t e = str::closing_bracket(rest, 0);
        if (e != std::string_view::npos && e + 1 < rest.size() && rest[e + 1] == ':') {
          yes = rest.substr(0, e + 1);
          no = rest.substr(e + 2);
        }
      }
      run(unbrace(set ? yes : no), depth + 1, out);
    } else if (!set) {  // ':'
      run(unbrace(rest), depth + 1, out);
    }
    return true;
  }

  std::string value(const std::string& v) const { return filter_ ? filter_value(v, *filter_) : v; }

  static constexpr int kMaxDepth = 10;
  const ExpandVars& vars_;
  const std::string_view* filter_;
};

struct SysExit {
  int code;
  const char* dsn;
  const char* text;
  bool temporary;
};

// Postfix's sys_exits table (global/sys_exits.c), the codes of <sysexits.h>.
constexpr SysExit kSysExits[] = {
    {64, "5.3.0", "command line usage error", false},
    {65, "5.6.0", "data format error", false},
    {66, "5.3.0", "cannot open input", false},
    {67, "5.1.1", "user unknown", false},
    {68, "5.1.2", "host name unknown", false},
    {69, "5.3.0", "service unavailable", false},
    {70, "5.3.0", "internal software error", false},
    {71, "4.3.0", "system resource problem", true},
    {72, "5.3.0", "critical OS file missing", false},
    {73, "5.2.0", "can't create user output file", false},
    {74, "5.3.0", "input/output error", false},
    {75, "4.3.0", "temporary failure", true},
    {76, "5.5.0", "remote error in protocol", false},
    {77, "5.7.0", "permission denied", false},
    {78, "5.3.5", "local configuration error", false},
};

// The length of an enhanced status code ("4.2.2") at the start of s, or 0.
size_t status_code_length(std::string_view s) {
  if (s.size() < 5 || (s[0] != '4' && s[0] != '5') || s[1] != '.') return 0;
  size_t i = 2, digits = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9' && digits < 3) ++i, ++digits;
  if (digits == 0 || i >= s.size() || s[i] != '.') return 0;
  size_t start = ++i;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i - start < 3) ++i;
  if (i == start) return 0;
  if (i < s.size() && s[i] != ' ' && s[i] != '\t') return 0;
  return i;
}

}  // namespace

std::string filter_value(std::string_view value, std::string_view filter) {
  std::string out(value);
  for (char& c : out)
    if (c == '\0' || filter.find(c) == std::string_view::npos) c = '_';
  return out;
}

std::string expand_vars(std::string_view pattern, const ExpandVars& vars, const std::string_view* filter) {
  std::string out;
  Expansion(vars, filter).run(pattern, 0, out);
  return out;
}

ExpandVars recipient_vars(const Settings& s, const User& u, const std::string& recipient,
                          const std::string& sender) {
  auto a = mail::parse_address(recipient);
  std::string local = a ? a->local : recipient;
  auto parts = mail::split_extension(local, s.recipient_delimiter);
  std::string delimiter = parts.delimiter ? std::string(1, parts.delimiter) : s.recipient_delimiter;
  return ExpandVars{
      {"user", u.name},          {"home", u.home},
      {"shell", u.shell},        {"recipient", recipient},
      {"extension", parts.extension},
      {"domain", a ? a->domain : std::string()},
      {"local", local},          {"sender", sender},
      {"recipient_delimiter", delimiter},
  };
}

std::vector<std::pair<const ClientFact*, std::string>> client_facts(const Delivery& d) {
  std::vector<std::pair<const ClientFact*, std::string>> out;
  if (!d.file) return out;
  for (const ClientFact& f : kClientFacts) {
    const std::string* v = d.file->attribute(f.attribute);
    if (!v || v->empty() || (std::string_view(f.attribute) == "auth" && *v == "<>")) continue;
    out.emplace_back(&f, *v);
  }
  return out;
}

ExpandVars command_vars(const Settings& s, const User& u, const std::string& recipient, const Delivery& d) {
  ExpandVars vars = recipient_vars(s, u, recipient, d.sender);
  vars["original_recipient"] = d.original();
  for (const ClientFact& f : kClientFacts)
    if (f.var) vars[f.var] = "";
  for (const auto& [f, value] : client_facts(d))
    if (f->var) vars[f->var] = value;
  return vars;
}

Outcome command_outcome(int wait_status, const std::string& cmd, std::string_view output) {
  std::string said = str::printable(std::string(str::trim(output)), 200);
  std::string shown = str::printable(cmd, 100);
  if (WIFSIGNALED(wait_status))
    return Outcome::defer("4.3.0", str::format("Command died with signal %d: \"%s\"", WTERMSIG(wait_status), shown.c_str()));
  int code = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 75;
  if (code == 0) return Outcome::sent("delivered to command: " + shown);
  // The command's own enhanced status code takes precedence over its exit code.
  if (size_t n = status_code_length(said)) {
    std::string dsn = said.substr(0, n);
    std::string text(str::trim(std::string_view(said).substr(n)));
    if (dsn[0] == '4') return Outcome::defer(dsn, text);
    return Outcome::bounce(dsn, text);
  }
  std::string tail = said.empty() ? "" : ". Command output: " + said;
  for (const auto& e : kSysExits) {
    if (e.code != code) continue;
    if (e.temporary) return Outcome::defer(e.dsn, e.text + tail);
    return Outcome::bounce(e.dsn, e.text + tail);
  }
  return Outcome::bounce("5.3.0", str::format("Command died with status %d: \"%s\"%s", code, shown.c_str(), tail.c_str()));
}

}  // namespace postilion::local
