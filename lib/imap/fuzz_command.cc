// lib/imap/fuzz_command.cc - libFuzzer target: arbitrary bytes as an IMAP client's input,
// through the command reader (in two chunk sizes) and every typed argument parser.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "lib/imap/args.h"
#include "lib/imap/command.h"
#include "lib/imap/fetch.h"
#include "lib/imap/mailbox_name.h"
#include "lib/imap/search.h"

namespace {

using namespace postilion::imap;

void typed(Command& c) {
  const auto& a = c.args;
  if (c.name == "FETCH" && !a.empty()) {
    (void)parse_set_arg(a[0]);
    auto r = parse_fetch(a, 1);
    if (auto* f = std::get_if<FetchRequest>(&r))
      for (const auto& it : f->items) (void)it.response_name();
  } else if (c.name == "STORE" && !a.empty()) {
    (void)parse_store(a, 1);
  } else if (c.name == "SEARCH") {
    (void)parse_search(a, 0);
  } else if (c.name == "APPEND") {
    (void)parse_append(c.args);
  } else if (c.name == "STATUS") {
    (void)parse_status(a);
  } else if (c.name == "LIST" || c.name == "LSUB") {
    auto r = parse_list(a);
    if (auto* l = std::get_if<ListRequest>(&r))
      for (const auto& p : l->patterns) (void)list_match(p, "INBOX/a/b%c");
  } else if (c.name == "SELECT" || c.name == "EXAMINE" || c.name == "CREATE") {
    auto r = parse_select(a);
    if (auto* s = std::get_if<SelectRequest>(&r)) {
      std::string err;
      if (auto n = wire_to_name(s->mailbox, false, true, &err)) {
        auto back = from_maildir(to_maildir(*n));
        if (*n != "INBOX" && (!back || *back != *n)) __builtin_trap();
      }
    }
  } else if (c.name == "AUTHENTICATE") {
    (void)parse_authenticate(a);
  } else if (c.name == "ENABLE") {
    (void)parse_enable(a);
  } else if (c.name == "ID") {
    (void)parse_id(a);
  } else if (c.name == "COPY" || c.name == "MOVE") {
    (void)parse_copy(a);
  } else if (c.name == "LOGIN") {
    (void)parse_login(a);
  }
}

void run(std::string_view in, size_t step) {
  ReaderLimits limits;
  limits.max_line = 2048;
  limits.max_literal = 4096;
  limits.max_append_literal = 8192;
  CommandReader r(limits);
  std::string pending;
  size_t pos = 0;
  while (true) {
    if (pos < in.size()) {
      size_t n = std::min(step, in.size() - pos);
      pending.append(in.substr(pos, n));
      pos += n;
    } else if (pending.empty()) {
      break;
    }
    size_t used = 0;
    auto st = r.feed(pending, &used);
    if (used > pending.size()) __builtin_trap();
    pending.erase(0, used);
    if (st == CommandReader::Status::Error) {
      if (r.error().reply.empty() || r.error().reply.back() != '\n') __builtin_trap();
      if (r.error().fatal) return;
    } else if (st == CommandReader::Status::Command) {
      Command c = r.take_command();
      if (c.tag.empty() || c.name.empty()) __builtin_trap();
      typed(c);
    } else if (st == CommandReader::Status::NeedMore && pos >= in.size()) {
      break;
    }
    if (r.buffered() > (1 << 20)) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  run(in, in.size() + 1);
  run(in, 7);
  return 0;
}
