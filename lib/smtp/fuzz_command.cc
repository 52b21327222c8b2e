// lib/smtp/fuzz_command.cc - libFuzzer target: arbitrary bytes as SMTP input lines,
// through the line reader, the command parser and the MAIL/RCPT/BDAT/AUTH parsers.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "lib/smtp/command.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace postilion::smtp;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  LineReader lines(256);
  while (!in.empty()) {
    size_t used = 0;
    std::string_view line;
    auto st = lines.next(in, &used, &line);
    if (used > in.size()) __builtin_trap();
    in.remove_prefix(used);
    if (st == LineReader::Status::NeedMore) break;
    if (st != LineReader::Status::Line) continue;
    auto cmd = parse_command(line);
    if (!cmd) {
      // Every refusal is a complete reply with an enhanced status code.
      if (cmd.error().code < 500 || cmd.error().status.empty()) __builtin_trap();
      continue;
    }
    (void)is_http_line(line);
    switch (cmd->verb) {
      case Verb::Mail: {
        auto m = parse_mail_from(cmd->arg);
        if (m && !m->path.null() && m->path.address.empty()) __builtin_trap();
        if (m && m->path.utf8 && !m->smtputf8) __builtin_trap();
        break;
      }
      case Verb::Rcpt: {
        auto r = parse_rcpt_to(cmd->arg, true);
        if (r && r->path.null()) __builtin_trap();
        if (r && r->path.local.size() > kMaxLocalPart) __builtin_trap();
        break;
      }
      case Verb::Bdat: (void)parse_bdat(cmd->arg); break;
      case Verb::Auth: {
        auto a = parse_auth(cmd->arg);
        if (a && a->initial) (void)parse_sasl_plain(*a->initial);
        break;
      }
      default: break;
    }
  }
  return 0;
}
