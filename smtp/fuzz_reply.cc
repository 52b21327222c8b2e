// smtp/fuzz_reply.cc - libFuzzer target for the relay client's SMTP reply parser and
// EHLO capability parser: server bytes are untrusted input.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "smtp/capabilities.h"
#include "smtp/reply_parser.h"

using namespace postilion;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  smtp_client::ReplyParser p;
  // Fed in two pieces, split at a point taken from the input, to exercise buffering.
  size_t cut = size ? data[0] % (size + 1) : 0;
  p.feed(in.substr(0, cut));
  smtp::Reply r;
  std::string why;
  for (int i = 0; i < 1000; ++i) {
    auto st = p.next(&r, &why);
    if (st == smtp_client::ReplyParser::Status::Ready) {
      if (r.code < 200 || r.code > 559 || r.lines.empty()) __builtin_trap();
      (void)smtp_client::parse_ehlo(r);
      continue;
    }
    if (st == smtp_client::ReplyParser::Status::Error) break;
    if (cut == size) break;
    p.feed(in.substr(cut));
    cut = size;
  }
  return 0;
}
