// lib/dns/wire_test_util.h - DNS wire-format helpers for the unit tests of lib/dns and resolver(8).
#pragma once

#include <string>

namespace postilion::dns::wire_test {

// "mx.b.tst" -> "\2mx\1b\3tst\0" (labels as written; no compression).
inline std::string wire_name(const std::string& dotted) {
  std::string out;
  size_t start = 0;
  while (start < dotted.size()) {
    size_t dot = dotted.find('.', start);
    if (dot == std::string::npos) dot = dotted.size();
    out += static_cast<char>(dot - start);
    out += dotted.substr(start, dot - start);
    start = dot + 1;
  }
  out += '\0';
  return out;
}

// MX record data: 16-bit preference, then the exchange's wire name.
inline std::string mx_rdata(int pref, const std::string& host) {
  return std::string{static_cast<char>(pref >> 8), static_cast<char>(pref & 0xff)} + wire_name(host);
}

}  // namespace postilion::dns::wire_test
