// qmgr/fuzz_agent_reply.cc - libFuzzer target: arbitrary bytes as a delivery agent's
// reply (lib/ipc/protocols.h), through the parser qmgr trusts with recipient outcomes,
// partly bounced expansions (expanded=...) and logged=yes (lib/queue/delivery_reply.h).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "lib/ipc/message.h"
#include "lib/queue/delivery_reply.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace postilion;
  ipc::Decoder d(ipc::kDefaultMaxFrame);
  d.feed(std::string_view(reinterpret_cast<const char*>(data), size));
  ipc::Message m;
  std::string why;
  while (d.next(&m, &why) == ipc::Decoder::Status::Ready) {
    auto r = queue::parse_delivery_reply(m);
    if (!r.ok) {
      // Refused: says why, and hands qmgr no outcome to act on.
      if (r.error.empty() || !r.rcpts.empty()) __builtin_trap();
      continue;
    }
    for (const auto& rc : r.rcpts) {
      if (rc.result != "sent" && rc.result != "defer" && rc.result != "bounce") __builtin_trap();
      // Bounced parts of an expansion only ever come with a delivered recipient.
      if (!rc.expanded.empty() && rc.result != "sent") __builtin_trap();
    }
  }
  return 0;
}
