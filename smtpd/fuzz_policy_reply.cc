// smtpd/fuzz_policy_reply.cc - fuzz target for the policy server reply reader: any bytes,
// whole and fed in pieces of every few sizes. The answer must not depend on how the
// bytes were split, a Done reply has a non-empty action and never reads past its empty
// line, and nothing crashes or grows past kMaxReply.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "smtpd/policy_service.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using postilion::smtpd::PolicyReplyReader;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  PolicyReplyReader whole;
  size_t used = 0;
  auto st = whole.feed(in, &used);
  if (used > in.size()) std::abort();
  if (st == PolicyReplyReader::Status::Done) {
    if (whole.action().empty() || used == 0 || in[used - 1] != '\n') std::abort();
  }
  if (used > PolicyReplyReader::kMaxReply + 1) std::abort();
  for (size_t piece : {1, 2, 7, 64}) {
    PolicyReplyReader r;
    size_t pos = 0;
    auto s = PolicyReplyReader::Status::NeedMore;
    while (pos < in.size() && s == PolicyReplyReader::Status::NeedMore) {
      size_t n = 0;
      s = r.feed(in.substr(pos, piece), &n);
      pos += n;
    }
    if (s != st) std::abort();
    if (s == PolicyReplyReader::Status::Done && (r.action() != whole.action() || pos != used)) std::abort();
  }
  auto p = postilion::smtpd::parse_policy_reply(in);
  if (!p && p.error().empty()) std::abort();
  return 0;
}
