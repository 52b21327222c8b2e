// lib/ipc/fuzz_anvil.cc - libFuzzer target for anvil(8)'s request handling: an attribute
// body from a peer on private/anvil through the strict request decoder and the counts
// (sessions, and the message, recipient and AUTH rates).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "lib/ipc/message.h"
#include "lib/ipc/anvil_table.h"

using namespace postilion;
using namespace postilion::ipc;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  // The first byte picks the link, so inputs reach connect/disconnect on several.
  uint64_t link = size ? data[0] % 3 : 0;
  auto m = ipc::Message::decode_body(size ? in.substr(1) : in);
  if (!m) return 0;
  auto r = parse_anvil_request(*m);
  if (!r) {
    if (r.error().empty()) __builtin_trap();  // a refusal always says why
    return 0;
  }
  // An accepted request survives encoding again (a service name may itself hold ':',
  // as master.cf's "127.0.0.1:25" does, so the key is rebuilt from the attributes).
  std::string service = m->get_or("service", ""), client = m->get_or("client", "");
  if (r->key != service + " " + client) __builtin_trap();
  if (r->event) {
    if (r->connect) __builtin_trap();  // an event is no session
    auto again = parse_anvil_request(anvil_event_request(*r->event, service, client));
    if (!again || again->key != r->key || again->event != r->event) __builtin_trap();
    // Rates climb by one in a window and start again at 1 after it.
    AnvilTable t(1000, 2);
    for (int i = 0; i < 3; ++i)
      if (t.event(*r->event, r->key, i * 10) != i + 1) __builtin_trap();
    // A user event's window is an hour, a client's anvil_rate_time_unit (here 1 s).
    int rate = t.event(*r->event, r->key, anvil_user_event(*r->event) ? kUserRateUnitMs : 1000);
    auto reply = parse_anvil_event_reply(anvil_event_reply(rate));
    if (rate != 1 || !reply || *reply != rate || t.count(r->key) != 0 || t.keys() != 1) __builtin_trap();
    return 0;
  }
  auto again = parse_anvil_request(anvil_request(r->connect, service, client));
  if (!again || again->key != r->key || again->connect != r->connect || again->event) __builtin_trap();
  // Through a tiny table: counts stay sane and the table stays within its limit.
  AnvilTable t(1000, 2);
  for (int i = 0; i < 3; ++i) {
    auto c = t.connect(link, r->connect ? r->key : r->key + std::to_string(i), i * 700);
    if (c.count < 1 || c.rate < 1 || t.keys() > 2) __builtin_trap();
    auto reply = parse_anvil_reply(anvil_reply(c));
    if (!reply || reply->count != c.count || reply->rate != c.rate) __builtin_trap();
  }
  t.disconnect(link, r->key);
  t.drop_link(link);
  if (t.count(r->key) != 0) __builtin_trap();
  return 0;
}
