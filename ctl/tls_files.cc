// ctl/tls_files.cc - self-signed certificates and certificate/key checks (OpenSSL 3).
#include "ctl/tls_files.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdio>
#include <memory>

#include "lib/base/file.h"

namespace postilion::ctl {
namespace {

template <class T, void (*Free)(T*)>
struct CFree {
  void operator()(T* p) const { Free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, CFree<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, CFree<X509, X509_free>>;
using BioPtr = std::unique_ptr<BIO, CFree<BIO, BIO_free_all>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, CFree<X509_EXTENSION, X509_EXTENSION_free>>;

std::string ssl_error(const std::string& context) {
  unsigned long e = ERR_get_error();
  char buf[256] = "unknown error";
  if (e) ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return context + ": " + buf;
}

std::string pem_of(auto write) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || !write(bio.get())) return {};
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

bool add_ext(X509* cert, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  return ext && X509_add_ext(cert, ext.get(), -1) == 1;
}

}  // namespace

Status write_selfsigned(const std::string& cert_path, const std::string& key_path,
                        const std::string& hostname) {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) return Error(ssl_error("generating an EC key"));
  X509Ptr cert(X509_new());
  if (!cert) return Error(ssl_error("X509_new"));
  X509_set_version(cert.get(), X509_VERSION_3);
  unsigned char serial[8];
  FILE* r = std::fopen("/dev/urandom", "rb");
  if (!r || std::fread(serial, 1, sizeof serial, r) != sizeof serial) {
    if (r) std::fclose(r);
    return Error::from_errno("/dev/urandom");
  }
  std::fclose(r);
  serial[0] &= 0x7f;  // a positive serial number
  uint64_t s = 0;
  for (unsigned char b : serial) s = (s << 8) | b;
  ASN1_INTEGER_set_uint64(X509_get_serialNumber(cert.get()), s);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 365L * 24 * 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(hostname.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  std::string san = "DNS:" + hostname;
  if (!add_ext(cert.get(), NID_subject_alt_name, san.c_str()) ||
      !add_ext(cert.get(), NID_basic_constraints, "critical,CA:FALSE") ||
      !add_ext(cert.get(), NID_ext_key_usage, "serverAuth"))
    return Error(ssl_error("certificate extensions"));
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0)
    return Error(ssl_error("signing the certificate"));

  std::string key_pem = pem_of([&](BIO* b) {
    return PEM_write_bio_PrivateKey(b, key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1;
  });
  std::string cert_pem = pem_of([&](BIO* b) { return PEM_write_bio_X509(b, cert.get()) == 1; });
  if (key_pem.empty() || cert_pem.empty()) return Error(ssl_error("writing PEM"));
  // The key first: a certificate without its key is of no use.
  if (auto st = file::write_file_atomic(key_path, key_pem, 0600); !st) return st;
  return file::write_file_atomic(cert_path, cert_pem, 0644);
}

Status check_cert_and_key(const std::string& cert_path, const std::string& key_path) {
  auto cert_pem = file::read_file(cert_path, 1 << 20);
  if (!cert_pem) return cert_pem.error();
  auto key_pem = file::read_file(key_path, 1 << 20);
  if (!key_pem) return key_pem.error();
  BioPtr cb(BIO_new_mem_buf(cert_pem->data(), static_cast<int>(cert_pem->size())));
  X509Ptr cert(PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr));
  if (!cert) return Error(ssl_error(cert_path + ": not a PEM certificate")).set_permanent();
  BioPtr kb(BIO_new_mem_buf(key_pem->data(), static_cast<int>(key_pem->size())));
  PkeyPtr key(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr));
  if (!key) return Error(ssl_error(key_path + ": not a PEM private key")).set_permanent();
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return Error(key_path + ": key does not match the certificate " + cert_path).set_permanent();
  }
  if (X509_cmp_current_time(X509_get0_notAfter(cert.get())) <= 0)
    return Error(cert_path + ": certificate has expired").set_permanent();
  if (X509_cmp_current_time(X509_get0_notBefore(cert.get())) >= 0)
    return Error(cert_path + ": certificate is not valid yet").set_permanent();
  return {};
}

}  // namespace postilion::ctl
