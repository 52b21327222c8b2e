// smtp/conn.h - one outgoing TCP connection of the relay client, optionally under TLS,
// with blocking reads and writes bounded by a deadline each (poll on a non-blocking
// socket). smtp(8) serves one delivery request at a time per process, as Postfix's
// smtp does: concurrency comes from the master running several smtp processes.
// Errors are Result values with text fit for a log line; nothing throws.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "lib/base/result.h"
#include "lib/base/unique_fd.h"
#include "lib/tls/tls.h"

namespace postilion::smtp_client {

class Conn {
 public:
  Conn() = default;
  // Connects to address:port (IPv4 or IPv6 literal), from bind_address when not "".
  static Result<Conn> connect(const std::string& address, uint16_t port, const std::string& bind_address,
                              int timeout_ms);

  Status write(std::string_view data, int timeout_ms);
  // Some bytes into buf; 0 means the peer closed.
  Result<size_t> read(char* buf, size_t len, int timeout_ms);
  // Client TLS handshake on this connection; ssl is prepared by the caller (SNI,
  // DANE records, verification settings).
  Status start_tls(tls::SslPtr ssl, int timeout_ms);
  SSL* ssl() const { return ssl_.get(); }
  bool open() const { return fd_.valid(); }
  void close();

 private:
  Status wait(short events, int64_t deadline_ms, const char* what);
  UniqueFd fd_;
  tls::SslPtr ssl_;
};

int64_t mono_ms();

}  // namespace postilion::smtp_client
