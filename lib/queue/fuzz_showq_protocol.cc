// lib/queue/fuzz_showq_protocol.cc - libFuzzer target: arbitrary bytes as what a local
// user may send to showq(8) (frames through the request check) and as what postdrop -p
// reads back (frames through the listing reader).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "lib/ipc/message.h"
#include "lib/queue/showq_protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace postilion;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  ipc::Decoder d(queue::kShowqMaxRequest);
  d.feed(in);
  ipc::Message m;
  std::string why;
  queue::ListingReader reader;
  while (d.next(&m, &why) == ipc::Decoder::Status::Ready) {
    auto req = queue::parse_showq_request(m);
    // Only a lone cmd=list or cmd=flush is a request; everything else says why not.
    if (req) {
      std::string_view cmd = m.get_or("cmd", "") == "list" ? "list" : "flush";
      if (m.attrs().size() != 1 || m.attrs()[0].second != cmd) __builtin_trap();
    } else if (req.error().empty()) {
      __builtin_trap();
    }
    auto step = reader.take(m);
    if (step == queue::ListingReader::Step::Failed && reader.error().empty()) __builtin_trap();
    if (reader.text().size() > queue::kShowqMaxListing) __builtin_trap();
  }
  return 0;
}
