// lib/pop3/fuzz_command.cc - libFuzzer target: arbitrary bytes as POP3 client input,
// through the line reader, the command parser, SASL PLAIN and the reply builder.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "lib/base/strings.h"
#include "lib/pop3/command.h"
#include "lib/pop3/reply.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace postilion;
  using namespace postilion::pop3;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  LineReader lines;
  while (!in.empty()) {
    size_t used = 0;
    std::string_view line;
    auto st = lines.next(in, &used, &line);
    if (used > in.size()) __builtin_trap();
    in.remove_prefix(used);
    if (st == LineReader::Status::NeedMore) break;
    if (st != LineReader::Status::Line) continue;
    if (line.size() > kMaxCommandLine) __builtin_trap();
    auto cmd = parse_command(line);
    if (!cmd) {
      std::string e = err(cmd.error());
      // A reply is one line, whatever the input was.
      if (e.find('\n') != e.size() - 1 || e.size() > 512) __builtin_trap();
      continue;
    }
    if (cmd->msg && *cmd->msg == 0) __builtin_trap();
    if (cmd->verb == Verb::Auth && cmd->initial) {
      if (auto d = str::base64_decode(*cmd->initial)) (void)parse_sasl_plain(*d);
    }
  }
  // The message encoder on the same bytes: always ends with the terminator, and never
  // has a line that is a lone dot before it.
  std::string_view raw(reinterpret_cast<const char*>(data), size);
  std::string enc = encode_message(raw, size % 3 == 0 ? std::optional<uint64_t>(size % 7) : std::nullopt);
  if (enc.size() < 3 || enc.compare(enc.size() - 3, 3, ".\r\n") != 0) __builtin_trap();
  if (enc.find("\r\n.\r\n") != enc.size() - 5 && enc != ".\r\n") __builtin_trap();
  if (enc.rfind(".\r\n", 0) == 0 && enc.size() != 3) __builtin_trap();
  return 0;
}
