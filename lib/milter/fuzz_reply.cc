// lib/milter/fuzz_reply.cc - libFuzzer target: arbitrary bytes as what a filter sends,
// framed whole and in small pieces (both must yield the same packets), each packet
// decoded as a reply and as a negotiation answer; the same bytes as a header section.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lib/milter/headers.h"
#include "lib/milter/protocol.h"

using namespace postilion::milter;

static std::vector<Packet> frame(std::string_view in, size_t step, bool* bad) {
  Framer f(4096);
  std::vector<Packet> out;
  size_t pos = 0;
  *bad = false;
  while (pos < in.size()) {
    size_t len = in.size() - pos < step ? in.size() - pos : step;
    size_t used = 0;
    Packet p;
    auto st = f.feed(in.substr(pos, len), &used, &p);
    if (used > len) __builtin_trap();
    pos += used;
    if (st == Framer::Status::Bad) {
      *bad = true;
      break;
    }
    if (st == Framer::Status::Packet) {
      if (p.data.size() + 1 > 4096) __builtin_trap();
      out.push_back(std::move(p));
    } else if (used != len) {
      __builtin_trap();
    }
  }
  return out;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  bool bad_a = false, bad_b = false;
  auto a = frame(in, in.size() + 1, &bad_a);
  auto b = frame(in, size ? 1 + data[0] % 7 : 1, &bad_b);
  if (bad_a != bad_b || a.size() != b.size()) __builtin_trap();
  Offer offer = offer_for_version(6);
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].code != b[i].code || a[i].data != b[i].data) __builtin_trap();
    auto r = decode_reply(a[i]);
    if (r && r->type == Rep::ReplyCode) {
      auto c = check_reply_code(r->text);
      if (!c || *c < 400 || *c > 599) __builtin_trap();
    }
    if (r && (r->type == Rep::AddHeader || r->type == Rep::ChgHeader || r->type == Rep::InsHeader)) {
      // Whatever a filter writes, the result is still one well-formed header section.
      HeaderList h;
      h.add(r->name, r->value, false);
      h.change(r->name, r->index, r->value, true);
      std::string text = h.text();
      size_t body = 0;
      HeaderList again = HeaderList::parse(text + "\r\n", &body);
      if (body != text.size() + 2 || again.fields().size() != h.fields().size()) __builtin_trap();
    }
    auto n = decode_optneg(a[i], offer);
    if (n && ((n->actions & ~offer.actions) || (n->protocol & ~offer.protocol))) __builtin_trap();
  }
  size_t body = 0;
  HeaderList h = HeaderList::parse(in, &body);
  if (body > in.size()) __builtin_trap();
  if (h.text().size() > body) __builtin_trap();
  return 0;
}
