// lib/dns/fuzz_resolver_protocol.cc - libFuzzer target: arbitrary bytes as frames from
// private/resolver, through the decoders its clients use (next hops, plain queries,
// client names); whatever a decoder accepts encodes and decodes to the same thing.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "lib/ipc/message.h"
#include "lib/dns/protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace postilion;
  namespace proto = dns::proto;
  ipc::Decoder d(ipc::kDefaultMaxFrame);
  d.feed(std::string_view(reinterpret_cast<const char*>(data), size));
  ipc::Message m;
  std::string why;
  while (d.next(&m, &why) == ipc::Decoder::Status::Ready) {
    if (auto plan = proto::decode_plan(m)) {
      if (plan->hops.size() > proto::kMaxHops) __builtin_trap();
      if (!proto::decode_plan(proto::encode_plan(*plan))) __builtin_trap();
    } else if (plan.error().empty()) {
      __builtin_trap();  // a refusal always says why
    }
    if (auto q = proto::decode_query_reply(m)) {
      if (q->records.size() > proto::kMaxRecords) __builtin_trap();
      auto again = proto::decode_query_reply(proto::encode_query_reply(*q));
      if (!again || again->records != q->records || again->ttl != q->ttl) __builtin_trap();
    } else if (q.error().empty()) {
      __builtin_trap();
    }
    if (auto c = proto::decode_client_name(m)) {
      auto again = proto::decode_client_name(proto::encode_client_name(*c));
      if (!again || again->status != c->status || again->name != c->name) __builtin_trap();
    } else if (c.error().empty()) {
      __builtin_trap();
    }
  }
  return 0;
}
