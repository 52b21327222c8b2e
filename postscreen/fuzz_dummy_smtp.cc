// postscreen/fuzz_dummy_smtp.cc - libFuzzer target for the enforce action's SMTP engine:
// any bytes from a client, fed whole and in small pieces, give the same replies; no
// crash, every reply line ends in CRLF, and nothing is answered after the close.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "postscreen/dummy_smtp.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace postilion::postscreen;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  DummySmtp whole("550 5.7.1 Service unavailable; client [192.0.2.7] blocked using bl.example", "mx.example");
  auto a = whole.feed(in);
  DummySmtp pieces("550 5.7.1 Service unavailable; client [192.0.2.7] blocked using bl.example", "mx.example");
  std::string replies;
  size_t logs = 0;
  bool closed = false;
  for (size_t i = 0; i < in.size(); i += 7) {
    auto o = pieces.feed(in.substr(i, 7));
    if (closed && !o.replies.empty()) std::abort();
    replies += o.replies;
    logs += o.logs.size();
    closed = closed || o.close;
  }
  if (replies != a.replies || logs != a.logs.size() || closed != a.close) std::abort();
  if (!a.replies.empty() && !a.replies.ends_with("\r\n")) std::abort();
  // Each reply is bounded: the longest is a refused RCPT with its reason.
  if (a.replies.size() > (in.size() + 1) * 200) std::abort();
  return 0;
}
