// lib/queue/fuzz_delivery_request.cc - libFuzzer target: arbitrary bytes as qmgr's
// delivery request to an agent (lib/ipc/protocols.h), through the parser every agent
// uses. What it accepts names one file in active/ by a valid ID and as many offsets as
// recipients; a malformed offset names no record.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "lib/ipc/message.h"
#include "lib/queue/delivery_request.h"
#include "lib/queue/queue_id.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace postilion;
  ipc::Decoder d(ipc::kDefaultMaxFrame);
  d.feed(std::string_view(reinterpret_cast<const char*>(data), size));
  ipc::Message m;
  std::string why;
  queue::QueueFile f;
  f.recipients.push_back({"a@b", "", 0, queue::RcptStatus::Pending, 7});
  while (d.next(&m, &why) == ipc::Decoder::Status::Ready) {
    auto r = queue::parse_delivery_request(m);
    if (!r) {
      if (r.error().str().empty()) __builtin_trap();
      continue;
    }
    if (!queue::valid_id(r->id) || r->file != "active/" + r->id || r->rcpts.empty()) __builtin_trap();
    for (const auto& rc : r->rcpts) {
      const queue::Recipient* rec = queue::record_for(f, rc);
      if (rec && (!rc.offset || *rc.offset != 7)) __builtin_trap();
      (void)queue::original_recipient(rc, rec);
    }
  }
  return 0;
}
