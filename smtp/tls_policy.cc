// smtp/tls_policy.cc - TLS security levels.
#include "smtp/tls_policy.h"

#include "lib/base/strings.h"

namespace postilion::smtp_client {

std::optional<TlsLevel> parse_tls_level(std::string_view s) {
  std::string l = str::lower(str::trim(s));
  if (l == "none") return TlsLevel::None;
  if (l == "may") return TlsLevel::May;
  if (l == "encrypt") return TlsLevel::Encrypt;
  if (l == "dane" || l == "dane-only") return TlsLevel::Dane;
  if (l == "verify") return TlsLevel::Verify;
  if (l == "secure") return TlsLevel::Secure;
  return std::nullopt;
}

const char* tls_level_name(TlsLevel l) {
  switch (l) {
    case TlsLevel::None: return "none";
    case TlsLevel::May: return "may";
    case TlsLevel::Encrypt: return "encrypt";
    case TlsLevel::Dane: return "dane";
    case TlsLevel::Verify: return "verify";
    case TlsLevel::Secure: return "secure";
  }
  return "?";
}

std::optional<TlsLevel> parse_policy_value(std::string_view v) {
  auto words = str::split(v, " \t");
  if (words.empty()) return std::nullopt;
  for (size_t i = 1; i < words.size(); ++i)
    if (words[i].find('=') == std::string::npos) return std::nullopt;
  return parse_tls_level(words[0]);
}

}  // namespace postilion::smtp_client
