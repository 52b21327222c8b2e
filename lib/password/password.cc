// lib/password/password.cc - crypt(3) hashing and verification (libxcrypt).
#include "lib/password/password.h"

#include <crypt.h>

#include <memory>

namespace postilion::password {
namespace {

// struct crypt_data is large (~32 KiB): on the heap, and wiped after use because it
// held the password.
struct CryptData {
  CryptData() : d(std::make_unique<crypt_data>()) {}
  ~CryptData() { explicit_bzero(d.get(), sizeof(crypt_data)); }
  std::unique_ptr<crypt_data> d;
};

bool usable_hash(const std::string& h) {
  // crypt(3) hashes start with '$' (modular) or are 13-char DES ones; '!' and '*'
  // mark locked accounts in shadow(5).
  return h.size() >= 13 && h[0] != '!' && h[0] != '*';
}

}  // namespace

Result<std::string> hash_password(std::string_view password, std::string_view prefix) {
  if (password.find('\0') != std::string_view::npos)
    return Error("password holds a NUL character", EINVAL).set_permanent();
  std::string pfx(prefix);
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  if (!crypt_gensalt_rn(pfx.c_str(), 0, nullptr, 0, salt, sizeof salt))
    return Error::from_errno("crypt_gensalt " + pfx);
  CryptData cd;
  std::string pw(password);
  const char* h = crypt_r(pw.c_str(), salt, cd.d.get());
  explicit_bzero(pw.data(), pw.size());
  if (!h || h[0] == '*') return Error::from_errno("crypt " + pfx);
  return std::string(h);
}

bool verify_password(std::string_view password, const std::string& hash) {
  if (!usable_hash(hash) || password.find('\0') != std::string_view::npos) return false;
  CryptData cd;
  std::string pw(password);
  const char* h = crypt_r(pw.c_str(), hash.c_str(), cd.d.get());
  explicit_bzero(pw.data(), pw.size());
  if (!h || h[0] == '*') return false;
  std::string_view got(h);
  if (got.size() != hash.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < got.size(); ++i) diff |= static_cast<unsigned char>(got[i] ^ hash[i]);
  return diff == 0;
}

}  // namespace postilion::password
