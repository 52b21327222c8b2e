// smtp/conn.cc - deadline-bounded blocking I/O for the relay client.
#include "smtp/conn.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "lib/base/strings.h"

namespace postilion::smtp_client {

int64_t mono_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

namespace {
bool make_addr(const std::string& address, uint16_t port, sockaddr_storage* ss, socklen_t* len) {
  std::memset(ss, 0, sizeof *ss);
  auto* v4 = reinterpret_cast<sockaddr_in*>(ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(ss);
  if (inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    *len = sizeof *v4;
    return true;
  }
  if (inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    *len = sizeof *v6;
    return true;
  }
  return false;
}
}  // namespace

Status Conn::wait(short events, int64_t deadline_ms, const char* what) {
  for (;;) {
    int64_t left = deadline_ms - mono_ms();
    if (left <= 0) return Error(std::string("timeout while ") + what, ETIMEDOUT);
    pollfd p{fd_.get(), events, 0};
    int r = ::poll(&p, 1, static_cast<int>(left));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return Error::from_errno("poll");
    if (r == 0) return Error(std::string("timeout while ") + what, ETIMEDOUT);
    return {};
  }
}

Result<Conn> Conn::connect(const std::string& address, uint16_t port, const std::string& bind_address,
                           int timeout_ms) {
  sockaddr_storage ss;
  socklen_t len;
  if (!make_addr(address, port, &ss, &len)) return Error("bad address " + str::printable(address, 60));
  Conn c;
  c.fd_.reset(::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!c.fd_) return Error::from_errno("socket");
  if (!bind_address.empty()) {
    sockaddr_storage bs;
    socklen_t blen;
    if (make_addr(bind_address, 0, &bs, &blen) && bs.ss_family == ss.ss_family)
      if (::bind(c.fd_.get(), reinterpret_cast<sockaddr*>(&bs), blen) != 0)
        return Error::from_errno("bind " + bind_address);
  }
  int one = 1;
  setsockopt(c.fd_.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(c.fd_.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    if (errno != EINPROGRESS) return Error(std::strerror(errno), errno);
    if (auto st = c.wait(POLLOUT, mono_ms() + timeout_ms, "connecting"); !st)
      return Error("Connection timed out", ETIMEDOUT);
    int err = 0;
    socklen_t el = sizeof err;
    getsockopt(c.fd_.get(), SOL_SOCKET, SO_ERROR, &err, &el);
    if (err) return Error(std::strerror(err), err);
  }
  return c;
}

Status Conn::write(std::string_view data, int timeout_ms) {
  int64_t deadline = mono_ms() + timeout_ms;
  while (!data.empty()) {
    if (ssl_) {
      ERR_clear_error();
      int n = SSL_write(ssl_.get(), data.data(), static_cast<int>(std::min<size_t>(data.size(), 1 << 20)));
      if (n > 0) {
        data.remove_prefix(static_cast<size_t>(n));
        continue;
      }
      int e = SSL_get_error(ssl_.get(), n);
      if (e == SSL_ERROR_WANT_READ) {
        if (auto st = wait(POLLIN, deadline, "sending"); !st) return st;
      } else if (e == SSL_ERROR_WANT_WRITE) {
        if (auto st = wait(POLLOUT, deadline, "sending"); !st) return st;
      } else {
        return Error("TLS write: " + tls::last_error(), EIO);
      }
      continue;
    }
    ssize_t n = ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (auto st = wait(POLLOUT, deadline, "sending"); !st) return st;
      continue;
    }
    return Error::from_errno("write");
  }
  return {};
}

Result<size_t> Conn::read(char* buf, size_t len, int timeout_ms) {
  int64_t deadline = mono_ms() + timeout_ms;
  for (;;) {
    if (ssl_) {
      ERR_clear_error();
      int n = SSL_read(ssl_.get(), buf, static_cast<int>(std::min<size_t>(len, 1 << 20)));
      if (n > 0) return static_cast<size_t>(n);
      int e = SSL_get_error(ssl_.get(), n);
      if (e == SSL_ERROR_ZERO_RETURN) return size_t(0);
      if (e == SSL_ERROR_WANT_READ) {
        if (auto st = wait(POLLIN, deadline, "receiving"); !st) return st.error();
      } else if (e == SSL_ERROR_WANT_WRITE) {
        if (auto st = wait(POLLOUT, deadline, "receiving"); !st) return st.error();
      } else if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
        return size_t(0);  // the peer closed without close_notify
      } else {
        return Error("TLS read: " + tls::last_error(), EIO);
      }
      continue;
    }
    ssize_t n = ::recv(fd_.get(), buf, len, 0);
    if (n >= 0) return static_cast<size_t>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (auto st = wait(POLLIN, deadline, "receiving"); !st) return st.error();
      continue;
    }
    return Error::from_errno("read");
  }
}

Status Conn::start_tls(tls::SslPtr ssl, int timeout_ms) {
  int64_t deadline = mono_ms() + timeout_ms;
  if (SSL_set_fd(ssl.get(), fd_.get()) != 1) return Error("SSL_set_fd: " + tls::last_error());
  SSL_set_connect_state(ssl.get());
  for (;;) {
    ERR_clear_error();
    int r = SSL_do_handshake(ssl.get());
    if (r == 1) break;
    int e = SSL_get_error(ssl.get(), r);
    if (e == SSL_ERROR_WANT_READ) {
      if (auto st = wait(POLLIN, deadline, "TLS handshake"); !st) return st;
    } else if (e == SSL_ERROR_WANT_WRITE) {
      if (auto st = wait(POLLOUT, deadline, "TLS handshake"); !st) return st;
    } else {
      std::string why = tls::last_error();
      long v = SSL_get_verify_result(ssl.get());
      if (v != X509_V_OK) why = std::string("certificate verification failed: ") + X509_verify_cert_error_string(v);
      return Error("TLS handshake failed: " + why, EPROTO);
    }
  }
  ssl_ = std::move(ssl);
  return {};
}

void Conn::close() {
  if (ssl_) {
    SSL_shutdown(ssl_.get());  // best effort close_notify; never waits
    ssl_.reset();
  }
  fd_.reset();
}

}  // namespace postilion::smtp_client
