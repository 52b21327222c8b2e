// lib/mail/fuzz_address.cc - libFuzzer target: arbitrary bytes through the address,
// address-list, header and xtext parsers.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "lib/mail/address.h"
#include "lib/mail/dsn.h"
#include "lib/mail/header.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace postilion;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (auto a = mail::parse_address(in)) {
    // A parsed address formats to text that parses back to the same parts.
    auto back = mail::parse_address(a->str());
    if (!back || back->local != a->local || back->domain != a->domain) __builtin_trap();
  }
  (void)mail::parse_path(in);
  for (const auto& a : mail::parse_address_list(in))
    if (!mail::parse_address(a)) __builtin_trap();
  mail::Headers h = mail::parse_headers(in);
  if (h.body_offset > in.size()) __builtin_trap();
  if (auto x = mail::xtext_decode(in))
    if (mail::xtext_decode(mail::xtext_encode(*x)) != *x) __builtin_trap();
  (void)mail::parse_notify(in);
  return 0;
}
