// lib/tls/tls.cc - OpenSSL 3 contexts and libevent TLS bufferevents.
#include "lib/tls/tls.h"

#include <event2/bufferevent_ssl.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

namespace postilion::tls {
namespace {

int version_number(const std::string& name) {
  if (name == "TLSv1.3") return TLS1_3_VERSION;
  if (name == "TLSv1.2" || name.empty()) return TLS1_2_VERSION;
  return -1;  // older versions are not offered at all
}

Result<SslCtxPtr> base_ctx(const SSL_METHOD* method, const std::string& min_version) {
  OPENSSL_init_ssl(0, nullptr);
  SslCtxPtr ctx(SSL_CTX_new(method));
  if (!ctx) return Error("SSL_CTX_new: " + last_error());
  int v = version_number(min_version);
  if (v < 0) return Error("unsupported TLS minimum version: " + min_version).set_permanent();
  if (SSL_CTX_set_min_proto_version(ctx.get(), v) != 1)
    return Error("SSL_CTX_set_min_proto_version: " + last_error());
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                     SSL_OP_CIPHER_SERVER_PREFERENCE);
  // libevent writes from its own buffers, which may move between retries.
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE);
  return ctx;
}

}  // namespace

std::string last_error() {
  std::string out;
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown error" : out;
}

Result<Context> Context::server(const ServerOptions& o) {
  if (o.cert_file.empty() || o.key_file.empty())
    return Error("TLS server needs a certificate and a key file").set_permanent();
  auto ctx = base_ctx(TLS_server_method(), o.min_version);
  if (!ctx) return ctx.error();
  SSL_CTX* c = ctx->get();
  if (SSL_CTX_use_certificate_chain_file(c, o.cert_file.c_str()) != 1)
    return Error(o.cert_file + ": cannot load certificate: " + last_error()).set_permanent();
  if (SSL_CTX_use_PrivateKey_file(c, o.key_file.c_str(), SSL_FILETYPE_PEM) != 1)
    return Error(o.key_file + ": cannot load private key: " + last_error()).set_permanent();
  if (SSL_CTX_check_private_key(c) != 1)
    return Error(o.key_file + ": key does not match certificate " + o.cert_file).set_permanent();
  if (!o.ciphers.empty() && SSL_CTX_set_cipher_list(c, o.ciphers.c_str()) != 1)
    return Error("bad TLS cipher list: " + o.ciphers).set_permanent();
  // One process serves many sessions; a cache lets clients resume cheaply.
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_SERVER);
  static const unsigned char kSidCtx[] = "postilion";
  SSL_CTX_set_session_id_context(c, kSidCtx, sizeof kSidCtx - 1);
  Context out;
  out.ctx_ = std::move(ctx.value());
  out.server_ = true;
  return out;
}

Result<Context> Context::client(const ClientOptions& o) {
  auto ctx = base_ctx(TLS_client_method(), o.min_version);
  if (!ctx) return ctx.error();
  SSL_CTX* c = ctx->get();
  if (!o.ca_file.empty() || !o.ca_path.empty()) {
    if (SSL_CTX_load_verify_locations(c, o.ca_file.empty() ? nullptr : o.ca_file.c_str(),
                                      o.ca_path.empty() ? nullptr : o.ca_path.c_str()) != 1)
      return Error("cannot load CA locations: " + last_error()).set_permanent();
  } else {
    SSL_CTX_set_default_verify_paths(c);
  }
  if (!o.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(c, o.cert_file.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(c, (o.key_file.empty() ? o.cert_file : o.key_file).c_str(),
                                    SSL_FILETYPE_PEM) != 1)
      return Error(o.cert_file + ": cannot load client certificate: " + last_error()).set_permanent();
  }
  SSL_CTX_set_verify(c, o.verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
  Context out;
  out.ctx_ = std::move(ctx.value());
  out.server_ = false;
  return out;
}

Result<SslPtr> new_ssl(const Context& ctx, const std::string& sni) {
  if (!ctx.valid()) return Error("TLS context not initialized");
  SslPtr ssl(SSL_new(ctx.get()));
  if (!ssl) return Error("SSL_new: " + last_error());
  if (!ctx.is_server() && !sni.empty()) {
    SSL_set_tlsext_host_name(ssl.get(), sni.c_str());
    SSL_set1_host(ssl.get(), sni.c_str());
  }
  return ssl;
}

Result<BevPtr> socket_bufferevent(event_base* base, int fd, const Context& ctx,
                                  const std::string& sni) {
  auto ssl = new_ssl(ctx, sni);
  if (!ssl) return ssl.error();
  // OpenSSL reads the socket itself: a blocking one would stall the whole loop.
  evutil_make_socket_nonblocking(fd);
  auto state = ctx.is_server() ? BUFFEREVENT_SSL_ACCEPTING : BUFFEREVENT_SSL_CONNECTING;
  bufferevent* bev = bufferevent_openssl_socket_new(base, fd, ssl->get(), state,
                                                    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
  if (!bev) return Error("bufferevent_openssl_socket_new failed");
  ssl->release();  // the bufferevent frees the SSL (BEV_OPT_CLOSE_ON_FREE)
  return BevPtr(bev);
}

Result<BevPtr> filter_bufferevent(event_base* base, BevPtr under, const Context& ctx,
                                  const std::string& sni) {
  auto ssl = new_ssl(ctx, sni);
  if (!ssl) return ssl.error();
  auto state = ctx.is_server() ? BUFFEREVENT_SSL_ACCEPTING : BUFFEREVENT_SSL_CONNECTING;
  bufferevent* bev = bufferevent_openssl_filter_new(base, under.get(), ssl->get(), state,
                                                    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
  if (!bev) return Error("bufferevent_openssl_filter_new failed");
  under.release();  // now owned by the filter
  ssl->release();
  return BevPtr(bev);
}

SSL* bufferevent_ssl(bufferevent* bev) { return bev ? bufferevent_openssl_get_ssl(bev) : nullptr; }

Info info(const SSL* ssl) {
  Info out;
  if (!ssl) return out;
  out.version = SSL_get_version(ssl);
  const SSL_CIPHER* c = SSL_get_current_cipher(ssl);
  if (c) {
    out.cipher = SSL_CIPHER_get_name(c);
    out.bits = SSL_CIPHER_get_bits(c, &out.alg_bits);
  }
  X509* peer = SSL_get0_peer_certificate(ssl);
  if (peer) {
    char cn[256] = "";
    X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn);
    out.peer_cn = cn;
    out.peer_verified = SSL_get_verify_result(ssl) == X509_V_OK;
  }
  return out;
}

std::string Info::log_text() const {
  return version + " with cipher " + cipher + " (" + std::to_string(bits) + "/" +
         std::to_string(alg_bits) + " bits)";
}

std::string Info::received_comment() const { return "(using " + log_text() + ")"; }

}  // namespace postilion::tls
