// smtp/setup.cc - building smtp(8)'s Agent from main.conf.
#include "smtp/setup.h"

#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/ipc/protocols.h"
#include "lib/log/log.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <cstdlib>

namespace postilion::smtp_client {

Result<std::unique_ptr<Runtime>> Runtime::create(const config::Config& cfg, const std::string& service) {
  std::unique_ptr<Runtime> rt(new Runtime());
  AgentSettings s;
  s.service = service;
  s.queue_directory = cfg.str("queue_directory");
  s.session.helo_name = cfg.str("smtp_helo_name");
  s.session.bind_address = cfg.str("smtp_bind_address");
  s.session.connect_timeout_ms = static_cast<int>(cfg.seconds("smtp_connect_timeout") * 1000);
  s.session.helo_timeout_ms = static_cast<int>(cfg.seconds("smtp_helo_timeout") * 1000);
  s.session.command_timeout_ms = static_cast<int>(cfg.seconds("smtp_command_timeout") * 1000);
  s.session.data_done_timeout_ms = static_cast<int>(cfg.seconds("smtp_data_done_timeout") * 1000);
  s.session.skip_5xx_greeting = cfg.boolean("smtp_skip_5xx_greeting");
  int64_t port = cfg.integer("smtp_destination_port");
  if (port < 1 || port > 65535) return Error("smtp_destination_port: not a port: " + std::to_string(port));
  s.default_port = static_cast<uint16_t>(port);
  int64_t al = cfg.integer("smtp_mx_address_limit"), sl = cfg.integer("smtp_mx_session_limit");
  if (al < 0 || sl < 0) return Error("smtp_mx_address_limit/smtp_mx_session_limit: must not be negative");
  s.mx_address_limit = static_cast<size_t>(al);
  s.mx_session_limit = static_cast<size_t>(sl);
  auto level = parse_tls_level(cfg.str("smtp_tls_security_level"));
  if (!level) return Error("smtp_tls_security_level: bad value " + cfg.str("smtp_tls_security_level"));
  s.tls_level = *level;
  s.connection_reuse = cfg.boolean("smtp_connection_reuse");
  s.connection_cache_ms = static_cast<int>(cfg.seconds("smtp_connection_cache_time_limit") * 1000);

  tls::ClientOptions to;
  to.ca_file = cfg.str("smtp_tls_CAfile");
  if (to.ca_file.empty()) {
    // OpenSSL's defaults, the way SSL_CTX_set_default_verify_paths finds them, but with
    // the CA file parsed on first use (load_trust); the hashed directory is looked up
    // per certificate anyway.
    const char* env = std::getenv(X509_get_default_cert_file_env());
    rt->trust_name_ = env && *env ? env : X509_get_default_cert_file();
    auto pem = file::read_file(rt->trust_name_);
    if (pem) rt->trust_pem_ = std::move(*pem);
    const char* dir_env = std::getenv(X509_get_default_cert_dir_env());
    std::string dir = dir_env && *dir_env ? dir_env : X509_get_default_cert_dir();
    struct stat st;
    if (::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) to.ca_path = dir;
    else if (!pem) rt->trust_loaded_ = true;  // nothing to load: the default paths, as before
  }
  auto ctx = tls::Context::client(to);
  if (!ctx) return Error("smtp TLS context: " + ctx.error().str());
  rt->tls_ = std::move(*ctx);
  // DANE needs it enabled on the context once (OpenSSL's built-in RFC 7671 support).
  if (SSL_CTX_dane_enable(rt->tls_.get()) <= 0) return Error("SSL_CTX_dane_enable: " + tls::last_error());

  Lookup sasl, policy;
  if (cfg.boolean("smtp_sasl_auth_enable") && !cfg.raw("smtp_sasl_password_maps").empty()) {
    auto m = maps::MapList::open(cfg.raw("smtp_sasl_password_maps") == "" ? "" : str::join(cfg.list("smtp_sasl_password_maps"), ", "));
    if (!m) return Error("smtp_sasl_password_maps: " + m.error().str());
    rt->sasl_maps_ = std::move(*m);
    Runtime* self = rt.get();
    sasl = [self](std::string_view k) { return self->sasl_maps_.lookup(k); };
  }
  if (!cfg.list("smtp_tls_policy_maps").empty()) {
    auto m = maps::MapList::open(str::join(cfg.list("smtp_tls_policy_maps"), ", "));
    if (!m) return Error("smtp_tls_policy_maps: " + m.error().str());
    rt->policy_maps_ = std::move(*m);
    Runtime* self = rt.get();
    policy = [self](std::string_view k) { return self->policy_maps_.lookup(k); };
  }
  rt->dns_ = std::make_unique<ResolverDns>(s.queue_directory + "/" + ipc::proto::kResolverSocket,
                                           static_cast<int>(cfg.seconds("resolver_query_timeout") * 3000 + 5000));
  rt->agent_ = std::make_unique<Agent>(std::move(s), *rt->dns_, &rt->tls_, std::move(sasl), std::move(policy));
  if (!rt->trust_loaded_) {
    Runtime* self = rt.get();
    rt->agent_->set_trust_loader([self] { return self->load_trust(); });
  }
  return rt;
}

Status Runtime::load_trust() {
  if (trust_loaded_) return {};
  trust_loaded_ = true;
  if (trust_pem_.empty()) return {};
  BIO* bio = BIO_new_mem_buf(trust_pem_.data(), static_cast<int>(trust_pem_.size()));
  if (!bio) return Error("cannot load " + trust_name_ + ": " + tls::last_error());
  STACK_OF(X509_INFO)* infos = PEM_X509_INFO_read_bio(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  trust_pem_.clear();
  trust_pem_.shrink_to_fit();
  if (!infos) return Error("cannot load " + trust_name_ + ": " + tls::last_error());
  X509_STORE* store = SSL_CTX_get_cert_store(tls_.get());
  int added = 0;
  for (int i = 0; i < sk_X509_INFO_num(infos); ++i) {
    X509_INFO* xi = sk_X509_INFO_value(infos, i);
    if (xi->x509 && X509_STORE_add_cert(store, xi->x509) == 1) ++added;
    if (xi->crl) (void)X509_STORE_add_crl(store, xi->crl);
  }
  sk_X509_INFO_pop_free(infos, X509_INFO_free);
  ERR_clear_error();  // duplicates in the bundle are not an error
  log::info("loaded %d trust anchors from %s", added, trust_name_.c_str());
  return {};
}

}  // namespace postilion::smtp_client
