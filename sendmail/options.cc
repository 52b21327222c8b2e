// sendmail/options.cc - sendmail(1) command-line parsing.
#include "sendmail/options.h"

#include <cctype>

#include "lib/base/strings.h"
#include "lib/mail/dsn.h"

namespace postilion::sendmail {

ParseResult parse_options(const std::vector<std::string>& argv) {
  ParseResult r;
  Options o;
  std::string prog = argv.empty() ? "sendmail" : argv[0];
  if (auto s = prog.rfind('/'); s != std::string::npos) prog = prog.substr(s + 1);
  if (prog == "mailq") o.mode = Mode::ListQueue;
  else if (prog == "newaliases") o.mode = Mode::NewAliases;

  auto fail = [&](std::string why) {
    r.error = std::move(why);
    return r;
  };
  size_t i = 1;
  for (; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (a.size() < 2 || a[0] != '-') break;
    char f = a[1];
    std::string rest = a.substr(2);
    // Flags that take a value, either joined (-fuser) or as the next word (-f user).
    auto value = [&](std::string* out) -> bool {
      if (!rest.empty()) {
        *out = rest;
        return true;
      }
      if (i + 1 >= argv.size()) return false;
      *out = argv[++i];
      return true;
    };
    std::string v;
    switch (f) {
      case 'b':
        if (rest == "m") o.mode = Mode::Deliver;
        else if (rest == "s") o.mode = Mode::Smtp;
        else if (rest == "p") o.mode = Mode::ListQueue;
        else if (rest == "i") o.mode = Mode::NewAliases;
        else return fail("unsupported mode -b" + str::printable(rest, 20));
        break;
      case 't': o.extract_recipients = true; break;
      case 'i': o.ignore_dots = true; break;
      case 'v': o.verbose = true; break;
      case 'f':
      case 'r':
        if (!value(&v)) return fail(std::string("option -") + f + " needs an address");
        if (v == "<>") v.clear();
        if (v.size() >= 2 && v.front() == '<' && v.back() == '>') v = v.substr(1, v.size() - 2);
        o.sender = v;
        break;
      case 'F':
        if (!value(&o.full_name)) return fail("option -F needs a name");
        break;
      case 'B':
        if (!value(&o.body_type)) return fail("option -B needs a type");
        if (!str::iequals(o.body_type, "7BIT") && !str::iequals(o.body_type, "8BITMIME"))
          return fail("-B: unknown body type " + str::printable(o.body_type, 20));
        break;
      case 'N':
        if (!value(&o.notify)) return fail("option -N needs a value");
        if (!mail::parse_notify(o.notify)) return fail("-N: bad notify value " + str::printable(o.notify, 40));
        break;
      case 'R':
        if (!value(&o.ret)) return fail("option -R needs full or hdrs");
        if (!mail::parse_ret(o.ret)) return fail("-R: expected full or hdrs");
        break;
      case 'V':
        if (!value(&o.envid)) return fail("option -V needs an envelope id");
        if (o.envid.size() > 100) return fail("-V: envelope id too long");
        break;
      case 'C':
        if (!value(&o.config_dir)) return fail("option -C needs a directory");
        break;
      case 'q':
        // -q, -q30m (a daemon interval: only the flush itself is done), -qR/-qS/-qI.
        o.mode = Mode::Flush;
        if (!rest.empty() && !std::isdigit(static_cast<unsigned char>(rest[0])))
          o.warnings.push_back("-q" + rest + ": selective flush is not supported; flushing all");
        break;
      case 'o':
        if (rest == "i") o.ignore_dots = true;
        else if (rest.empty() && i + 1 < argv.size()) o.warnings.push_back("-o " + argv[++i] + " ignored");
        else o.warnings.push_back("-o" + rest + " ignored");
        break;
      case 'h':  // hop count
      case 'L':  // syslog label
      case 'X':  // traffic log
        if (!value(&v)) return fail(std::string("option -") + f + " needs a value");
        o.warnings.push_back(std::string("-") + f + " ignored");
        break;
      case 'n':
      case 'm':
      case 'U':
      case 'G':
        o.warnings.push_back(std::string("-") + f + " ignored");
        break;
      default:
        return fail("unknown option -" + str::printable(std::string(1, f)));
    }
  }
  for (; i < argv.size(); ++i) {
    // Each argument may hold several comma-separated recipients ("a, b").
    for (auto& w : str::split(argv[i], ", \t")) o.recipients.push_back(w);
  }
  if (o.mode == Mode::Deliver && o.recipients.empty() && !o.extract_recipients)
    return fail("no recipient addresses found in message header (use -t or name recipients)");
  r.options = std::move(o);
  return r;
}

}  // namespace postilion::sendmail
