// lib/dns/dns.cc - rdata decoders and presentation forms for the resolver.
#include "lib/dns/dns.h"

#include <arpa/inet.h>

#include <cctype>
#include <cstring>

#include "lib/base/strings.h"

namespace postilion::dns {

const char* security_name(Security s) {
  switch (s) {
    case Security::Secure: return "secure";
    case Security::Bogus: return "bogus";
    case Security::Insecure: break;
  }
  return "insecure";
}

std::optional<Security> parse_security(std::string_view s) {
  if (s == "secure") return Security::Secure;
  if (s == "insecure") return Security::Insecure;
  if (s == "bogus") return Security::Bogus;
  return std::nullopt;
}

const char* outcome_name(Outcome o) {
  switch (o) {
    case Outcome::Ok: return "ok";
    case Outcome::NoData: return "nodata";
    case Outcome::NxDomain: return "nxdomain";
    case Outcome::TempFail: break;
  }
  return "temp";
}

std::optional<Outcome> parse_outcome(std::string_view s) {
  if (s == "ok") return Outcome::Ok;
  if (s == "nodata") return Outcome::NoData;
  if (s == "nxdomain") return Outcome::NxDomain;
  if (s == "temp") return Outcome::TempFail;
  return std::nullopt;
}

std::optional<RrType> parse_rrtype(std::string_view s) {
  std::string u = str::upper(s);
  if (u == "A") return RrType::A;
  if (u == "AAAA") return RrType::AAAA;
  if (u == "MX") return RrType::MX;
  if (u == "TXT") return RrType::TXT;
  if (u == "TLSA") return RrType::TLSA;
  if (u == "CNAME") return RrType::CNAME;
  if (u == "PTR") return RrType::PTR;
  return std::nullopt;
}

const char* rrtype_name(RrType t) {
  switch (t) {
    case RrType::A: return "A";
    case RrType::AAAA: return "AAAA";
    case RrType::MX: return "MX";
    case RrType::TXT: return "TXT";
    case RrType::TLSA: return "TLSA";
    case RrType::CNAME: return "CNAME";
    case RrType::PTR: return "PTR";
  }
  return "?";
}

namespace {
bool label_char(unsigned char c) { return std::isalnum(c) || c == '-' || c == '_'; }
}  // namespace

std::optional<std::string> decode_name(std::string_view wire, size_t* pos) {
  std::string out;
  size_t p = *pos;
  for (;;) {
    if (p >= wire.size()) return std::nullopt;
    unsigned len = static_cast<unsigned char>(wire[p++]);
    if (len == 0) break;
    if (len > 63) return std::nullopt;  // compression pointers never appear in rdata here
    if (p + len > wire.size()) return std::nullopt;
    if (!out.empty()) out += '.';
    for (unsigned i = 0; i < len; ++i) {
      unsigned char c = static_cast<unsigned char>(wire[p + i]);
      if (!label_char(c)) return std::nullopt;
      out += static_cast<char>(std::tolower(c));
    }
    p += len;
    if (out.size() > 253) return std::nullopt;
  }
  *pos = p;
  return out;
}

std::optional<MxRecord> decode_mx(std::string_view rdata) {
  if (rdata.size() < 3) return std::nullopt;
  MxRecord r;
  r.preference = (static_cast<unsigned char>(rdata[0]) << 8) | static_cast<unsigned char>(rdata[1]);
  size_t pos = 2;
  auto name = decode_name(rdata, &pos);
  if (!name || pos != rdata.size()) return std::nullopt;
  r.host = std::move(*name);
  return r;
}

std::optional<std::string> decode_a(std::string_view rdata) {
  if (rdata.size() != 4) return std::nullopt;
  char buf[INET_ADDRSTRLEN];
  if (!inet_ntop(AF_INET, rdata.data(), buf, sizeof buf)) return std::nullopt;
  return std::string(buf);
}

std::optional<std::string> decode_aaaa(std::string_view rdata) {
  if (rdata.size() != 16) return std::nullopt;
  char buf[INET6_ADDRSTRLEN];
  if (!inet_ntop(AF_INET6, rdata.data(), buf, sizeof buf)) return std::nullopt;
  return std::string(buf);
}

std::optional<TlsaRecord> decode_tlsa(std::string_view rdata) {
  if (rdata.size() < 4) return std::nullopt;  // at least one byte of association data
  TlsaRecord t;
  t.usage = static_cast<uint8_t>(rdata[0]);
  t.selector = static_cast<uint8_t>(rdata[1]);
  t.mtype = static_cast<uint8_t>(rdata[2]);
  t.data = std::string(rdata.substr(3));
  return t;
}

std::optional<std::string> decode_txt(std::string_view rdata) {
  std::string out;
  size_t p = 0;
  if (rdata.empty()) return std::nullopt;
  while (p < rdata.size()) {
    size_t len = static_cast<unsigned char>(rdata[p++]);
    if (p + len > rdata.size()) return std::nullopt;
    out.append(rdata.substr(p, len));
    p += len;
  }
  return out;
}

std::string hex(std::string_view bin) {
  static const char digits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(bin.size() * 2);
  for (unsigned char c : bin) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::optional<std::string> present(RrType t, std::string_view rdata) {
  switch (t) {
    case RrType::A: return decode_a(rdata);
    case RrType::AAAA: return decode_aaaa(rdata);
    case RrType::MX: {
      auto mx = decode_mx(rdata);
      if (!mx) return std::nullopt;
      return std::to_string(mx->preference) + " " + (mx->host.empty() ? "." : mx->host);
    }
    case RrType::TLSA: {
      auto r = decode_tlsa(rdata);
      if (!r) return std::nullopt;
      return str::format("%u %u %u ", r->usage, r->selector, r->mtype) + hex(r->data);
    }
    case RrType::TXT: return decode_txt(rdata);
    case RrType::CNAME:
    case RrType::PTR: {
      size_t pos = 0;
      auto n = decode_name(rdata, &pos);
      if (!n || pos != rdata.size()) return std::nullopt;
      return n;
    }
  }
  return std::nullopt;
}

std::optional<MxRecord> parse_mx_text(std::string_view s) {
  auto parts = str::split(s, " ");
  if (parts.size() != 2) return std::nullopt;
  auto pref = str::parse_uint(parts[0]);
  if (!pref || *pref > 65535) return std::nullopt;
  MxRecord r;
  r.preference = static_cast<int>(*pref);
  if (parts[1] == ".") return r;
  auto host = normalize_name(parts[1]);
  if (!host) return std::nullopt;
  r.host = *host;
  return r;
}

std::optional<TlsaRecord> parse_tlsa_text(std::string_view s) {
  auto parts = str::split(s, " ");
  if (parts.size() != 4) return std::nullopt;
  uint64_t f[3];
  for (int i = 0; i < 3; ++i) {
    auto v = str::parse_uint(parts[i]);
    if (!v || *v > 255) return std::nullopt;
    f[i] = *v;
  }
  const std::string& h = parts[3];
  if (h.empty() || h.size() % 2) return std::nullopt;
  TlsaRecord t{static_cast<uint8_t>(f[0]), static_cast<uint8_t>(f[1]), static_cast<uint8_t>(f[2]), {}};
  for (size_t i = 0; i < h.size(); i += 2) {
    auto nib = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    int a = nib(h[i]), b = nib(h[i + 1]);
    if (a < 0 || b < 0) return std::nullopt;
    t.data += static_cast<char>((a << 4) | b);
  }
  return t;
}

std::optional<std::string> normalize_name(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty() || name.size() > 253) return std::nullopt;
  std::string out;
  size_t label = 0;
  for (unsigned char c : name) {
    if (c == '.') {
      if (label == 0) return std::nullopt;
      label = 0;
    } else {
      if (!label_char(c) || ++label > 63) return std::nullopt;
    }
    out += static_cast<char>(std::tolower(c));
  }
  if (label == 0) return std::nullopt;
  return out;
}

}  // namespace postilion::dns

namespace postilion::dns {

std::optional<std::string> reverse_name(std::string_view ip) {
  std::string text(ip);
  unsigned char a[16];
  if (inet_pton(AF_INET, text.c_str(), a) == 1)
    return str::format("%u.%u.%u.%u.in-addr.arpa", a[3], a[2], a[1], a[0]);
  if (inet_pton(AF_INET6, text.c_str(), a) != 1) return std::nullopt;
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 15; i >= 0; --i) {
    out += kHex[a[i] & 0x0f];
    out += '.';
    out += kHex[a[i] >> 4];
    out += '.';
  }
  return out + "ip6.arpa";
}

std::optional<std::string> dnsbl_query_name(std::string_view ip, std::string_view domain) {
  auto r = reverse_name(ip);
  if (!r) return std::nullopt;
  for (std::string_view suffix : {".in-addr.arpa", ".ip6.arpa"}) {
    if (r->size() > suffix.size() && r->compare(r->size() - suffix.size(), suffix.size(), suffix) == 0)
      return r->substr(0, r->size() - suffix.size()) + "." + std::string(domain);
  }
  return std::nullopt;
}

bool same_address(std::string_view a, std::string_view b) {
  unsigned char x[16], y[16];
  std::string sa(a), sb(b);
  if (inet_pton(AF_INET, sa.c_str(), x) == 1) return inet_pton(AF_INET, sb.c_str(), y) == 1 && std::memcmp(x, y, 4) == 0;
  if (inet_pton(AF_INET6, sa.c_str(), x) == 1) return inet_pton(AF_INET6, sb.c_str(), y) == 1 && std::memcmp(x, y, 16) == 0;
  return false;
}

}  // namespace postilion::dns
