// lib/tls/tls.h - TLS for every Postilion protocol daemon and client (OpenSSL 3,
// TLS 1.2 or later): SSL_CTX owners built from certificate/key files, TLS bufferevents
// (libevent's bufferevent_openssl) for STARTTLS and wrapper mode, and the session
// details that go into Received: headers and log lines.
// Errors are Result values carrying OpenSSL's error queue as text; nothing throws.
#pragma once

#include <event2/bufferevent.h>
#include <openssl/ssl.h>

#include <memory>
#include <string>

#include "lib/base/result.h"

namespace postilion::tls {

template <class T, void (*Free)(T*)>
struct CFree {
  void operator()(T* p) const { Free(p); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, CFree<SSL_CTX, SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, CFree<SSL, SSL_free>>;
// Owns a bufferevent (freed with bufferevent_free). lib/event's BufferEvent can adopt
// it with release().
using BevPtr = std::unique_ptr<bufferevent, CFree<bufferevent, bufferevent_free>>;

struct ServerOptions {
  std::string cert_file;     // PEM chain, leaf first
  std::string key_file;      // PEM private key (may be the same file as cert_file)
  std::string ciphers;       // TLS 1.2 cipher list; "" = OpenSSL's default
  std::string min_version = "TLSv1.2";  // TLSv1.2 or TLSv1.3
};

struct ClientOptions {
  std::string ca_file;       // "" = the system default trust store
  std::string ca_path;
  std::string cert_file;     // client certificate (optional)
  std::string key_file;
  std::string min_version = "TLSv1.2";
  bool verify = false;       // fail the handshake on an unverified peer
};

// One SSL_CTX, shared by every connection of a process. Move-only.
class Context {
 public:
  Context() = default;
  static Result<Context> server(const ServerOptions& o);
  static Result<Context> client(const ClientOptions& o);
  SSL_CTX* get() const { return ctx_.get(); }
  bool valid() const { return ctx_ != nullptr; }
  bool is_server() const { return server_; }

 private:
  SslCtxPtr ctx_;
  bool server_ = false;
};

// A new SSL object for one connection. For a client, sni names the server (SNI and
// host name check when verifying); ignored for a server.
Result<SslPtr> new_ssl(const Context& ctx, const std::string& sni = "");

// A TLS bufferevent directly on a socket (wrapper mode, port 465/993/995): the
// handshake starts at once. Takes ownership of fd (closed with the bufferevent).
Result<BevPtr> socket_bufferevent(event_base* base, int fd, const Context& ctx,
                                  const std::string& sni = "");
// A TLS filter on top of an established plain bufferevent (STARTTLS). The filter takes
// ownership of `under` (BEV_OPT_CLOSE_ON_FREE): free only the returned one. Input that
// is still buffered in `under` is read as TLS, so the caller must drain it first -
// anything pipelined after STARTTLS is discarded (RFC 3207 section 4.2).
Result<BevPtr> filter_bufferevent(event_base* base, BevPtr under, const Context& ctx,
                                  const std::string& sni = "");

// What a finished handshake agreed on.
struct Info {
  std::string version;   // "TLSv1.3"
  std::string cipher;    // "TLS_AES_256_GCM_SHA384"
  int bits = 0;          // secret bits used
  int alg_bits = 0;
  std::string peer_cn;   // peer certificate subject CN, "" when none
  bool peer_verified = false;
  bool active() const { return !version.empty(); }
  // "(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits))", the Received:
  // header comment in Postfix's shape.
  std::string received_comment() const;
  // "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)", for log lines.
  std::string log_text() const;
};
Info info(const SSL* ssl);
// The SSL of a TLS bufferevent (nullptr for a plain one).
SSL* bufferevent_ssl(bufferevent* bev);

// OpenSSL's error queue as one line (and cleared); "unknown error" when empty.
std::string last_error();

}  // namespace postilion::tls
