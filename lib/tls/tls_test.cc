// lib/tls/tls_test.cc - contexts from files (good, missing, mismatched), and a real
// handshake between a wrapper-mode server and a STARTTLS-style client filter over a
// socketpair on one event base, with the session details it reports.
#include "lib/tls/tls.h"

#include <cppunit/extensions/HelperMacros.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <cstdio>

#include "lib/testing/temp_dir.h"

using namespace postilion;

namespace {

// Writes a self-signed P-256 certificate and key.
bool make_cert(const std::string& cert, const std::string& key) {
  EVP_PKEY* pk = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  X509* x = X509_new();
  X509_set_version(x, X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, pk);
  X509_NAME* n = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("mx.test"),
                             -1, -1, 0);
  X509_set_issuer_name(x, n);
  bool ok = X509_sign(x, pk, EVP_sha256()) > 0;
  FILE* f = std::fopen(cert.c_str(), "w");
  ok = ok && f && PEM_write_X509(f, x);
  if (f) std::fclose(f);
  f = std::fopen(key.c_str(), "w");
  ok = ok && f && PEM_write_PrivateKey(f, pk, nullptr, nullptr, 0, nullptr, nullptr);
  if (f) std::fclose(f);
  X509_free(x);
  EVP_PKEY_free(pk);
  return ok;
}

struct Side {
  bool connected = false;
  bool failed = false;
  std::string got;
};

void on_event(bufferevent*, short what, void* arg) {
  auto* s = static_cast<Side*>(arg);
  if (what & BEV_EVENT_CONNECTED) s->connected = true;
  if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)) s->failed = true;
}

void on_read(bufferevent* bev, void* arg) {
  auto* s = static_cast<Side*>(arg);
  evbuffer* in = bufferevent_get_input(bev);
  size_t n = evbuffer_get_length(in);
  std::string buf(n, '\0');
  evbuffer_remove(in, buf.data(), n);
  s->got += buf;
}

}  // namespace

class TlsTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(TlsTest);
  CPPUNIT_TEST(contexts);
  CPPUNIT_TEST(handshake);
  CPPUNIT_TEST_SUITE_END();

 public:
  void contexts() {
    testing::TempDir dir;
    std::string cert = dir.file("c.pem"), key = dir.file("k.pem");
    CPPUNIT_ASSERT(make_cert(cert, key));
    CPPUNIT_ASSERT(tls::Context::server({cert, key}).ok());
    auto missing = tls::Context::server({dir.file("none.pem"), key});
    CPPUNIT_ASSERT(!missing.ok());
    CPPUNIT_ASSERT(missing.error().str().find("none.pem") != std::string::npos);
    CPPUNIT_ASSERT(!tls::Context::server({"", ""}).ok());
    std::string cert2 = dir.file("c2.pem"), key2 = dir.file("k2.pem");
    CPPUNIT_ASSERT(make_cert(cert2, key2));
    auto mismatch = tls::Context::server({cert, key2});
    CPPUNIT_ASSERT(!mismatch.ok());
    tls::ServerOptions old{cert, key};
    old.min_version = "TLSv1";
    CPPUNIT_ASSERT(!tls::Context::server(old).ok());
    CPPUNIT_ASSERT(tls::Context::client({}).ok());
  }

  void handshake() {
    testing::TempDir dir;
    std::string cert = dir.file("c.pem"), key = dir.file("k.pem");
    CPPUNIT_ASSERT(make_cert(cert, key));
    auto server_ctx = tls::Context::server({cert, key});
    auto client_ctx = tls::Context::client({});
    CPPUNIT_ASSERT(server_ctx.ok() && client_ctx.ok());
    int sv[2];
    CPPUNIT_ASSERT_EQUAL(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    evutil_make_socket_nonblocking(sv[1]);
    event_base* base = event_base_new();
    {
      auto server = tls::socket_bufferevent(base, sv[0], *server_ctx);
      CPPUNIT_ASSERT(server.ok());
      tls::BevPtr plain(bufferevent_socket_new(base, sv[1], BEV_OPT_CLOSE_ON_FREE));
      auto client = tls::filter_bufferevent(base, std::move(plain), *client_ctx, "mx.test");
      CPPUNIT_ASSERT(client.ok());
      Side s, c;
      bufferevent_setcb(server->get(), on_read, nullptr, on_event, &s);
      bufferevent_setcb(client->get(), on_read, nullptr, on_event, &c);
      bufferevent_enable(server->get(), EV_READ | EV_WRITE);
      bufferevent_enable(client->get(), EV_READ | EV_WRITE);
      bufferevent_write(client->get(), "EHLO x\r\n", 8);
      timeval tv{0, 20000};
      for (int i = 0; i < 200 && s.got.empty() && !s.failed && !c.failed; ++i)
        event_base_loopexit(base, &tv), event_base_dispatch(base);
      CPPUNIT_ASSERT(!s.failed && !c.failed);
      CPPUNIT_ASSERT_EQUAL(std::string("EHLO x\r\n"), s.got);
      tls::Info si = tls::info(tls::bufferevent_ssl(server->get()));
      CPPUNIT_ASSERT(si.active());
      CPPUNIT_ASSERT(si.version == "TLSv1.3" || si.version == "TLSv1.2");
      CPPUNIT_ASSERT(!si.cipher.empty() && si.bits >= 128);
      CPPUNIT_ASSERT(si.received_comment().find("(using " + si.version + " with cipher ") == 0);
      tls::Info ci = tls::info(tls::bufferevent_ssl(client->get()));
      CPPUNIT_ASSERT_EQUAL(std::string("mx.test"), ci.peer_cn);
      CPPUNIT_ASSERT(!tls::info(nullptr).active());
    }
    event_base_free(base);
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(TlsTest);
